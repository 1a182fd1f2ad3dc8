"""The sim node over loopback DDS: a real node process, a real rclpy test node (vjepa2_common fixtures)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ament_index_python.packages import get_package_share_directory
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64, Float64MultiArray
from std_srvs.srv import SetBool

from vjepa2_common.image import image_to_rgb
from vjepa2_common.testing import ProcessLauncher, RosHarness
from vjepa2_msgs.srv import ExecuteAction, PlaceObject, RenderGoal

NODE = "franka_sim"
PARAMS = {
    "image_width": 64,
    "image_height": 64,
    "camera_rate": 10.0,
    "state_rate": 50.0,
    "cameras": ["exterior"],
    "seed": 3,
}
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
BEST_EFFORT = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
START_TIMEOUT = 60.0  # node start-up: rclpy + MuJoCo model compile + GL context; ~3 s when the box is idle


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def position(msg: PoseStamped) -> np.ndarray:
    return np.array([msg.pose.position.x, msg.pose.position.y, msg.pose.position.z])


class SimClient:
    """Subscriptions to the sim node's outputs and helpers to command it and wait for the outcome."""

    def __init__(self, ros: RosHarness) -> None:
        self.ros = ros
        self.status = ros.collect(DiagnosticStatus, f"/{NODE}/motion_status", LATCHED)
        self.poses = ros.collect(PoseStamped, "/franka_robot_state_broadcaster/current_pose", BEST_EFFORT)
        self.images = ros.collect(Image, "/exterior/image_raw", qos_profile_sensor_data)
        self.delta = ros.publisher(Float64MultiArray, f"/{NODE}/delta_cmd", subscribers=1)

    def seq(self) -> int:
        return int(values(self.status.wait_for(1)[-1])["seq"])

    def next_pose(self) -> np.ndarray:
        """Position from a pose message published after this call."""
        return position(self.poses.wait_for(len(self.poses.messages) + 2)[-1])

    def next_image(self) -> np.ndarray:
        return image_to_rgb(self.images.wait_for(len(self.images.messages) + 2)[-1])

    def wait_outcome(self, after_seq: int, timeout: float = 30.0) -> DiagnosticStatus:
        """First status about a later command that is final: settled, or rejected."""

        def final(msg: DiagnosticStatus) -> bool:
            v = values(msg)
            return int(v["seq"]) > after_seq and (v["settled"] == "True" or msg.level == DiagnosticStatus.ERROR)

        return self.status.wait_for(1, timeout, predicate=final)[0]


@pytest.fixture
def sim_node(launcher: ProcessLauncher):
    """The node with the installed config/sim.yaml, overridden by PARAMS (small images)."""
    config = Path(get_package_share_directory("vjepa2_sim"), "config", "sim.yaml")
    proc = launcher.node("vjepa2_sim", "sim_node", name=NODE, params_file=config, params=PARAMS)
    proc.wait_for_output("simulated Franka ready", START_TIMEOUT)
    return proc


def test_delta_over_dds_moves_and_changes_image(sim_node, ros: RosHarness) -> None:
    client = SimClient(ros)
    joints = ros.collect(JointState, "/joint_states")
    info = ros.collect(CameraInfo, "/exterior/camera_info", qos_profile_sensor_data)
    start, seq = client.next_pose(), client.seq()
    before = client.next_image()

    client.delta.publish(Float64MultiArray(data=[0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    outcome = client.wait_outcome(seq)
    assert values(outcome)["reached"] == "True", values(outcome)
    moved = client.next_pose() - start
    assert abs(moved[0] - 0.05) < 0.005 and np.all(np.abs(moved[1:]) < 0.005), moved
    after = client.next_image()
    assert np.mean(np.abs(after.astype(int) - before.astype(int)).max(axis=-1) > 20) > 0.005

    state = [float(v) for v in values(outcome)["state"].split(",")]
    assert len(state) == 7 and abs(state[0] - (start[0] + 0.05)) < 0.005
    names = joints.wait_for(1)[-1].name
    assert names == [f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1", "panda_finger_joint2"]
    cam = info.wait_for(1)[-1]
    focal = 0.5 * 64 / math.tan(math.radians(60.0) / 2)  # exterior camera: fovy 60 deg
    assert cam.header.frame_id == "exterior_camera_optical_frame"
    assert cam.k[0] == pytest.approx(focal) and cam.k[4] == pytest.approx(focal) and cam.k[2] == 31.5

    # gripper closure command -> fingers close (franka_gripper/joint_states: width = sum of the fingers)
    gripper = ros.collect(JointState, "/franka_gripper/joint_states")
    closure = ros.publisher(Float64, f"/{NODE}/gripper/closure_cmd", subscribers=1)
    seq = client.seq()
    closure.publish(Float64(data=1.0))
    assert values(client.wait_outcome(seq))["settled"] == "True"
    assert sum(gripper.wait_for(len(gripper.messages) + 2)[-1].position) < 0.005

    # goal image for a pose (service): rendered without moving the live arm
    request = RenderGoal.Request(gripper=-1.0)
    request.pose.header.frame_id = "panda_link0"
    request.pose.pose.position.x, request.pose.pose.position.y, request.pose.pose.position.z = 0.55, -0.1, 0.2
    request.pose.pose.orientation.x, request.pose.pose.orientation.w = 1.0, 0.0  # pointing down, turned about z
    here = client.next_pose()
    reply = ros.call(RenderGoal, f"/{NODE}/render_goal", request)
    assert reply.success, reply.message
    assert (reply.image.height, reply.image.width, reply.image.encoding) == (64, 64, "rgb8")
    assert reply.image.header.frame_id == "exterior_camera_optical_frame"
    assert np.allclose(client.next_pose(), here, atol=1e-3)
    request.pose.pose.position.x = 3.0
    reply = ros.call(RenderGoal, f"/{NODE}/render_goal", request)
    assert not reply.success and "outside the workspace" in reply.message

    # place an object (service)
    place = PlaceObject.Request(name="cube")
    place.pose.header.frame_id = "panda_link0"
    place.pose.pose.position.x, place.pose.pose.position.y, place.pose.pose.position.z = 0.6, 0.15, 0.02
    place.pose.pose.orientation.w = 1.0
    assert ros.call(PlaceObject, f"/{NODE}/place_object", place).success
    place.name = "unicorn"
    reply = ros.call(PlaceObject, f"/{NODE}/place_object", place)
    assert not reply.success and "unknown object 'unicorn'" in reply.message

    # reset service: a new seeded episode, the arm back near home
    response = ros.call(SetBool, f"/{NODE}/reset", SetBool.Request(data=True))
    assert response.success and "episode seed 4" in response.message


def test_bad_commands_rejected_without_motion(sim_node, ros: RosHarness) -> None:
    client = SimClient(ros)
    twist = ros.publisher(TwistStamped, "/servo_node/delta_twist_cmds", subscribers=1)
    pose = ros.publisher(PoseStamped, "/servo_node/pose_target_cmds", subscribers=1)
    start = client.next_pose()

    def bad_twist(frame: str, vx: float) -> TwistStamped:
        msg = TwistStamped()
        msg.header.frame_id = frame
        msg.twist.linear.x = vx
        return msg

    def bad_pose(frame: str, qw: float) -> PoseStamped:
        msg = PoseStamped()
        msg.header.frame_id = frame
        msg.pose.position.x, msg.pose.position.z = 0.5, 0.3
        msg.pose.orientation.w = qw
        return msg

    cases = [
        (lambda: client.delta.publish(Float64MultiArray(data=[math.nan, 0, 0, 0, 0, 0, 0])), "NaN"),
        (lambda: client.delta.publish(Float64MultiArray(data=[0.5, 0, 0, 0, 0, 0, 0])), "max_delta_translation"),
        (lambda: client.delta.publish(Float64MultiArray(data=[0.01, 0.0])), "7 values"),
        (lambda: twist.publish(bad_twist("world", 0.05)), "frame_id is 'world'"),
        (lambda: twist.publish(bad_twist("panda_link0", math.inf)), "NaN or inf"),
        (lambda: twist.publish(bad_twist("panda_link0", 3.0)), "max_linear_speed"),
        (lambda: pose.publish(bad_pose("", 1.0)), "frame_id is ''"),
        (lambda: pose.publish(bad_pose("panda_link0", 0.0)), "unit quaternion"),
    ]
    for send, reason in cases:
        seq = client.seq()
        send()
        outcome = client.wait_outcome(seq)
        assert outcome.level == DiagnosticStatus.ERROR and reason in outcome.message, outcome.message
        sim_node.wait_for_output(reason, 10.0)  # the warning in the node's log names the problem
    assert np.allclose(client.next_pose(), start, atol=1e-3)  # nothing moved

    # a good command after all that still works, and the node exits cleanly on SIGINT
    seq = client.seq()
    twist.publish(bad_twist("panda_link0", 0.1))
    assert values(client.wait_outcome(seq))["settled"] == "True"
    assert client.next_pose()[0] > start[0] + 0.005
    assert sim_node.stop() == 0


def test_bad_configuration_exits_with_one_clear_line(launcher: ProcessLauncher, tmp_path: Path) -> None:
    proc = launcher.node("vjepa2_sim", "sim_node", name=NODE, params={"cameras": ["top"]})
    assert proc.proc.wait(START_TIMEOUT) == 2
    assert "parameter 'cameras'" in proc.output() and "Traceback" not in proc.output()
    missing = launcher.node("vjepa2_sim", "sim_node", name=NODE, params={"asset_dir": str(tmp_path)})
    assert missing.proc.wait(START_TIMEOUT) == 2
    assert "vjepa2-sim-assets" in missing.output() and "Traceback" not in missing.output()


def test_execute_action_blocks_until_settled(sim_node, ros: RosHarness) -> None:
    client = SimClient(ros)
    start = client.next_pose()
    response = ros.call(
        ExecuteAction, f"/{NODE}/execute_action", ExecuteAction.Request(action=[0.0, 0.04, -0.03, 0.0, 0.0, 0.0, 0.0])
    )
    assert response.success and response.settled, response.message
    assert np.allclose(np.array(response.state[:3]) - start, [0.0, 0.04, -0.03], atol=0.005)
    assert response.position_error_m < 0.002 and response.elapsed_s > 0
    # the service returned after the motion: the arm is already there
    assert np.allclose(client.next_pose(), np.array(response.state[:3]), atol=2e-3)

    bad = ros.call(
        ExecuteAction, f"/{NODE}/execute_action", ExecuteAction.Request(action=[math.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    )
    assert not bad.success and "NaN" in bad.message and "no motion" in bad.message
    assert np.allclose(np.array(bad.state[:3]), np.array(response.state[:3]), atol=2e-3)
