"""ROS-free tests of FrankaSim: real MuJoCo physics and real offscreen rendering."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vjepa2_core.limits import CommandError
from vjepa2_sim.scene import OBJECT_NAMES
from vjepa2_sim.sim import FrankaSim, ResetConfig

SIZE = (128, 128)


@pytest.fixture(scope="module")
def sim() -> Iterator[FrankaSim]:
    with FrankaSim(seed=0, image_size=SIZE) as s:
        yield s


def _image_change(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels whose colour changed noticeably."""
    return float(np.mean(np.abs(a.astype(int) - b.astype(int)).max(axis=-1) > 20))


def test_delta_moves_end_effector_and_image(sim: FrankaSim) -> None:
    sim.reset(seed=1)
    before_img = sim.render()
    before = sim.ee_pose()[0]
    result = sim.apply_delta([0.05, 0.0, 0.0])
    moved = sim.ee_pose()[0] - before
    assert result.settled, result.message
    assert abs(moved[0] - 0.05) < 0.005 and np.all(np.abs(moved[1:]) < 0.005), moved
    assert _image_change(before_img, sim.render()) > 0.005
    # the 7-D state reports the same move, in the V-JEPA 2-AC layout
    assert np.allclose(result.state[:3], sim.ee_pose()[0])
    assert np.allclose(result.state[3:6], Rotation.from_quat(sim.ee_pose()[1]).as_euler("xyz"))
    assert 0.0 <= result.state[6] < 0.05  # open gripper


def test_action7_rotation_and_gripper(sim: FrankaSim) -> None:
    sim.reset(seed=2)
    rot0 = Rotation.from_quat(sim.ee_pose()[1])
    result = sim.apply_action([0.0, 0.02, -0.03, 0.0, 0.0, 0.3, 1.0])
    assert result.settled, result.message
    achieved = Rotation.from_quat(sim.ee_pose()[1]) * rot0.inv()  # left-multiplied delta, base frame
    assert np.allclose(achieved.as_euler("xyz"), [0.0, 0.0, 0.3], atol=0.01)
    assert sim.gripper_closure() > 0.95


def test_twist_like_servo(sim: FrankaSim) -> None:
    sim.reset(seed=3)
    start = sim.ee_pose()[0]
    sim.set_twist([0.0, 0.1, 0.0], frame="base", duration=0.3)  # 0.1 m/s for 0.3 s, then stale
    result = sim.wait_until_settled()
    assert result.settled, result.message
    assert np.allclose(sim.ee_pose()[0] - start, [0.0, 0.03, 0.0], atol=0.004)
    # in the TCP frame +z points down towards the table
    start = sim.ee_pose()[0]
    sim.set_twist([0.0, 0.0, 0.1], frame="ee", duration=0.2)
    sim.wait_until_settled()
    assert np.allclose(sim.ee_pose()[0] - start, [0.0, 0.0, -0.02], atol=0.004)


def test_goal_image_deterministic_and_state_restored(sim: FrankaSim) -> None:
    goal = np.array([0.55, -0.1, 0.2])
    sim.reset(seed=7)
    sim.apply_delta([0.0, 0.0, 0.02])
    reference = sim.joint_positions()  # continuation without rendering a goal
    sim.reset(seed=7)
    qpos, qvel, t = sim.data.qpos.copy(), sim.data.qvel.copy(), sim.time
    current = sim.render()
    goal_img = sim.render_goal(goal)
    assert np.array_equal(sim.data.qpos, qpos) and np.array_equal(sim.data.qvel, qvel) and sim.time == t
    assert np.array_equal(sim.render(), current)
    sim.apply_delta([0.0, 0.0, 0.02])
    assert np.array_equal(sim.joint_positions(), reference)  # the goal render left no trace
    sim.reset(seed=7)
    assert np.array_equal(sim.render_goal(goal), goal_img)  # deterministic for a seed
    assert _image_change(current, goal_img) > 0.005
    # the goal image is what the camera sees once the robot really gets there
    sim.set_pose_target(goal, blocking=True)
    assert _image_change(sim.render(), goal_img) < 0.01


def test_goal_rejects_bad_poses(sim: FrankaSim) -> None:
    sim.reset(seed=0)
    with pytest.raises(CommandError, match="workspace"):
        sim.render_goal([0.5, 0.0, -0.1])
    with pytest.raises(CommandError, match="NaN"):
        sim.render_goal([0.5, np.nan, 0.2])
    with pytest.raises(CommandError, match="unit quaternion"):
        sim.render_goal([0.5, 0.0, 0.2], ee_quat=[0, 0, 0, 0])


def _robot_table_contacts(sim: FrankaSim) -> int:
    table = sim.model.geom("table").id
    robot = {sim.model.body(b).id for b in ("link5", "link6", "link7", "hand", "left_finger", "right_finger")}
    pairs = [(c.geom1, c.geom2) for c in sim.data.contact[: sim.data.ncon]]
    return sum(
        1 for g1, g2 in pairs if table in (g1, g2) and {sim.model.geom_bodyid[g1], sim.model.geom_bodyid[g2]} & robot
    )


def test_joint_limits_workspace_and_table(sim: FrankaSim) -> None:
    sim.reset(seed=4)
    for i, name in enumerate(OBJECT_NAMES):  # out of the way, on the far end of the table
        sim.place_object(name, [0.9, -0.4 + 0.4 * i, 0.06])
    ranges = np.array([sim.model.joint(f"joint{i}").range for i in range(1, 8)])
    lo, hi = np.array(sim.limits.workspace_min), np.array(sim.limits.workspace_max)
    for axis, sign in [(2, -1), (0, 1), (1, 1), (0, -1), (1, -1), (2, 1)]:
        delta = np.zeros(3)
        delta[axis] = 0.1 * sign
        for _ in range(7):  # 0.7 m: beyond the workspace box
            result = sim.apply_delta(delta)
            assert result.settled, result.message
            q = sim.joint_positions()[:7]
            assert np.all(q >= ranges[:, 0]) and np.all(q <= ranges[:, 1]), q
            pos = sim.ee_pose()[0]
            assert np.all(pos >= lo - 0.002) and np.all(pos <= hi + 0.002), pos
            assert _robot_table_contacts(sim) == 0
        assert result.clamped and "clamped" in result.message
        assert result.reached, result.message  # every face of the box is reachable
        limit = lo[axis] if sign < 0 else hi[axis]
        assert abs(sim.ee_pose()[0][axis] - limit) < 0.002


def test_unreachable_target_reports_stopped_short(sim: FrankaSim) -> None:
    sim.reset(seed=4)
    result = sim.set_pose_target([0.7, 0.3, 0.55], blocking=True)  # a corner out of the arm's reach
    assert result.settled and not result.reached
    assert "stopped short" in result.message
    assert result.elapsed < sim.settle_timeout


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: s.apply_delta([np.nan, 0, 0]), "NaN"),
        (lambda s: s.apply_delta([0, np.inf, 0]), "NaN or inf"),
        (lambda s: s.apply_delta([0.5, 0, 0]), "max_delta_translation"),
        (lambda s: s.apply_delta([0, 0, 0], [0, 0, 2.0]), "max_delta_rotation"),
        (lambda s: s.apply_delta([0.01, 0]), "3 values"),
        (lambda s: s.apply_delta([0.01, 0, 0], gripper=1.5), "closure"),
        (lambda s: s.apply_action([0, 0, 0, 0, 0, 0, 3.0]), "gripper delta"),
        (lambda s: s.set_twist([5.0, 0, 0]), "max_linear_speed"),
        (lambda s: s.set_twist([0.1, 0, 0], frame="camera"), "frame"),
        (lambda s: s.set_pose_target([0.5, 0, 0.3], [0, 0, 0, 2]), "unit quaternion"),
        (lambda s: s.set_gripper(-0.1), "closure"),
        (lambda s: s.place_object("teapot", [0.5, 0, 0.1]), "unknown object"),
    ],
)
def test_bad_commands_rejected_without_motion(sim: FrankaSim, call, match: str) -> None:
    sim.reset(seed=5)
    qpos, target, seq = sim.data.qpos.copy(), sim.target_pose(), sim.command_seq
    with pytest.raises(CommandError, match=match):
        call(sim)
    sim.step(100)
    assert np.allclose(sim.data.qpos, qpos, atol=1e-4)
    assert np.array_equal(sim.target_pose()[0], target[0])
    assert sim.command_seq == seq + (0 if "object" in match else 1)


def test_pick_up_cube(sim: FrankaSim) -> None:
    sim.reset(seed=0)
    sim.place_object("cube", [0.5, 0.05, 0.025])
    sim.step(50)
    cube = sim.object_pose("cube")[0]
    above = cube + np.array([0.0, 0.0, 0.1])
    assert sim.set_pose_target(above, blocking=True).settled
    assert sim.apply_delta([0.0, 0.0, -0.1]).settled
    grasp = sim.set_gripper(1.0, blocking=True)
    assert grasp.settled, grasp.message
    assert 0.3 < sim.gripper_closure() < 0.5  # stopped by the 5 cm cube (0.08 m open -> 0.05 m)
    sim.apply_delta([0.0, 0.0, 0.1])
    assert sim.object_pose("cube")[0][2] > cube[2] + 0.08


def test_reset_seeded_and_configured(sim: FrankaSim) -> None:
    sim.reset(seed=11)
    poses = {n: sim.object_pose(n)[0] for n in OBJECT_NAMES}
    image = sim.render()
    sim.reset(seed=12)
    assert not np.allclose(sim.object_pose("cube")[0], poses["cube"])
    sim.reset(seed=11)
    assert all(np.array_equal(sim.object_pose(n)[0], poses[n]) for n in OBJECT_NAMES)
    assert np.array_equal(sim.render(), image)
    q = sim.home_q + np.array([0.2, 0.1, 0.0, 0.1, 0.0, 0.0, 0.3])
    sim.reset(
        seed=11, config=ResetConfig(joint_positions=q, gripper=1.0, object_poses={"cup": ([0.6, 0.2, 0.045], None)})
    )
    assert np.allclose(sim.joint_positions()[:7], q, atol=2e-3)
    assert np.allclose(sim.object_pose("cup")[0], [0.6, 0.2, 0.045], atol=2e-3)
    assert sim.gripper_closure() > 0.95
    with pytest.raises(CommandError, match="joint limits"):
        sim.reset(config=ResetConfig(joint_positions=[0, 0, 0, 0, 0, 0, 0]))  # joint4 must be < -0.07


def test_camera_intrinsics_match_rendering(sim: FrankaSim) -> None:
    """Project the cube centre with CameraInfo + camera pose; it must land on the cube's pixels."""
    sim.reset(seed=0)
    sim.place_object("cube", [0.55, 0.1, 0.025])
    sim.step(10)
    cube_id = sim.model.body("cube").id
    for camera in ("exterior", "exterior_2"):
        info = sim.camera_info(camera)
        assert (info.width, info.height) == (SIZE[1], SIZE[0])
        cam_pos, cam_quat = sim.camera_pose(camera)
        point = Rotation.from_quat(cam_quat).inv().apply(sim.object_pose("cube")[0] - cam_pos)
        assert point[2] > 0  # in front of the optical frame (z forward)
        u, v, _ = info.k @ (point / point[2])
        rows, cols = np.nonzero(sim.render_body_ids(camera) == cube_id)
        centroid = (cols.mean(), rows.mean())
        assert abs(centroid[0] - u) < 1.5 and abs(centroid[1] - v) < 1.5, (camera, (u, v), centroid)


def test_render_errors(sim: FrankaSim) -> None:
    with pytest.raises(ValueError, match="unknown camera"):
        sim.render("top")
    physics_only = FrankaSim(seed=0, render=False)
    with pytest.raises(RuntimeError, match="render=False"):
        physics_only.render()
