"""``FrankaSim``: a simulated Franka Panda in MuJoCo, usable without ROS.

The arm follows end-effector commands (deltas, absolute poses, twists) through a Cartesian reference that
moves towards the commanded target at a bounded speed; damped-least-squares IK turns the reference into
joint targets for the Menagerie model's joint position servos (gravity compensated). Targets are clamped
into a workspace box above the table, IK stays inside the joint limits, and bad commands raise
:class:`~vjepa2_core.limits.CommandError` without changing anything.

Conventions: positions in metres in the robot base frame ``panda_link0`` (= MuJoCo world), quaternions
(x, y, z, w), gripper closure in [0, 1] with 0 = open and 1 = closed (DROID), the 7-D state of V-JEPA 2-AC
= xyz + extrinsic-XYZ Euler (scipy ``"xyz"``) + closure. This module never imports rclpy.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from vjepa2_core import conventions
from vjepa2_core.limits import (
    TCP_DOWN,
    CommandError,
    CommandLimits,
    check_closure,
    check_delta,
    check_object_position,
    check_target_position,
    check_tcp_orientation,
    check_twist,
    clamp_to_workspace,
    finite_vector,
    in_workspace,
    orientation_excess,
    unit_quaternion,
)
from vjepa2_sim import scene
from vjepa2_sim.assets import find_panda_dir
from vjepa2_sim.kinematics import (
    DlsIk,
    closure_from_finger_positions,
    rotation_error,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
)

# The end-effector points straight down with the fingers opening along the base y axis.
HOME_TCP_POS = np.array([0.45, 0.0, 0.32])
HOME_TCP_QUAT = TCP_DOWN.as_quat()
_MENAGERIE_HOME_Q = np.array([0.0, 0.0, 0.0, -1.57079, 0.0, 1.57079, -0.7853])
OPTICAL_FROM_MUJOCO_CAMERA = np.diag([1.0, -1.0, -1.0])  # MuJoCo cameras look along -z with y up


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of a rendered camera (square pixels, no distortion, ROS pixel-centre convention)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def k(self) -> np.ndarray:
        """3x3 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def p(self) -> np.ndarray:
        """3x4 projection matrix (monocular: no translation)."""
        return np.hstack([self.k, np.zeros((3, 1))])


@dataclass(frozen=True)
class MotionResult:
    """Outcome of a motion command (for blocking calls: after it settled or timed out).

    ``settled``: the motion is over (arm at rest, gripper stopped). ``reached``: settled within 0.5 mm and
    0.01 rad of the target; settled but not reached means the target was unreachable or blocked by contact.
    """

    settled: bool
    reached: bool
    message: str
    elapsed: float  # [s] simulated time since the command was accepted
    position_error: float  # [m] TCP to target
    rotation_error: float  # [rad] TCP to target
    clamped: bool  # the target was moved into the workspace box
    state: np.ndarray  # 7-D V-JEPA 2-AC state after the motion


@dataclass
class ResetConfig:
    """A given start configuration; fields left as None are sampled (if randomising) or nominal."""

    joint_positions: Sequence[float] | None = None  # [rad] 7 arm joints
    gripper: float = 0.0  # closure, 0 = open
    object_poses: Mapping[str, tuple[Sequence[float], Sequence[float] | None]] = field(default_factory=dict)


@dataclass
class _Twist:
    linear: np.ndarray  # [m/s] base frame
    angular: np.ndarray  # [rad/s] base frame
    until: float  # [s] sim time at which it goes stale


class FrankaSim:
    """A Franka Panda with a table, objects and cameras; see the module docstring for conventions.

    Args:
        seed: seed of the first episode; each :meth:`reset` without a seed uses the next integer.
        image_size: (height, width) of rendered images.
        render: create the offscreen renderer (False for physics-only use).
        asset_dir: cache root holding the Panda model (default: see :mod:`vjepa2_sim.assets`).
        limits: command limits and workspace box.
        randomize: randomise object poses, lighting, exterior camera poses and the start pose on reset.
        render_geometry: "visual" (textured meshes, ~10-40 ms per frame on a CPU) or "collision" (coarse,
            several times faster).
        cartesian_speed: [m/s] speed of the TCP reference towards a target.
        angular_speed: [rad/s] rotation speed of the TCP reference.
        settle_timeout: [s] simulated time a blocking command waits before reporting failure.
    """

    CONTROL_SUBSTEPS = 5  # physics steps per control update (2 ms steps -> 100 Hz)
    SETTLE_POS_TOL = 5e-4  # [m]
    SETTLE_ROT_TOL = 1e-2  # [rad]
    SETTLE_JOINT_VEL = 0.02  # [rad/s]
    SETTLE_FINGER_TOL = 1e-3  # [m]
    SETTLE_TICKS = 3  # control updates at rest, on target, before a motion counts as reached
    MAX_JOINT_SPEED = 2.0  # [rad/s] rate limit of the joint targets (the Panda allows 2.175-2.61)
    STOPPED_SHORT_TICKS = 15  # control updates at rest, off target, before it counts as stopped short

    def __init__(
        self,
        seed: int = 0,
        image_size: tuple[int, int] = (256, 256),
        render: bool = True,
        asset_dir: str | os.PathLike[str] | None = None,
        limits: CommandLimits | None = None,
        randomize: bool = True,
        render_geometry: str = "visual",
        cartesian_speed: float = 0.25,
        angular_speed: float = 1.0,
        settle_timeout: float = 3.0,
    ) -> None:
        height, width = (int(v) for v in image_size)
        if not (16 <= height <= 1024 and 16 <= width <= 1024):
            raise ValueError(f"image_size must be (height, width) with each in [16, 1024], got {image_size}")
        if render_geometry not in ("visual", "collision"):
            raise ValueError(f"render_geometry must be 'visual' or 'collision', got {render_geometry!r}")
        for name, value in (
            ("cartesian_speed", cartesian_speed),
            ("angular_speed", angular_speed),
            ("settle_timeout", settle_timeout),
        ):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        self.limits = limits or CommandLimits()
        self.image_size = (height, width)
        self.randomize = randomize
        self.cartesian_speed = float(cartesian_speed)
        self.angular_speed = float(angular_speed)
        self.settle_timeout = float(settle_timeout)

        self.model = scene.build_model(find_panda_dir(asset_dir), max_image_size=max(1024, height, width))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._arm_q = np.array([m.joint(j).qposadr[0] for j in scene.ARM_JOINTS])
        self._arm_v = np.array([m.joint(j).dofadr[0] for j in scene.ARM_JOINTS])
        self._finger_q = np.array([m.joint(j).qposadr[0] for j in scene.FINGER_JOINTS])
        self._finger_v = np.array([m.joint(j).dofadr[0] for j in scene.FINGER_JOINTS])
        self._arm_act = np.array([m.actuator(f"actuator{i}").id for i in range(1, 8)])
        self._gripper_act = m.actuator("actuator8").id
        self._tcp = m.site(scene.TCP_SITE).id
        self._obj_q = {o.name: m.joint(f"{o.name}_joint").qposadr[0] for o in scene.OBJECTS}
        self._obj_v = {o.name: m.joint(f"{o.name}_joint").dofadr[0] for o in scene.OBJECTS}
        self._cam_ids = {name: m.camera(name).id for name in scene.CAMERAS}
        self._nominal_cam = {n: (m.cam_pos[i].copy(), m.cam_quat[i].copy()) for n, i in self._cam_ids.items()}
        self._light_ids = [m.light(scene.KEY_LIGHT).id, m.light(scene.FILL_LIGHT).id]
        self._nominal_light = [(m.light_dir[i].copy(), m.light_diffuse[i].copy()) for i in self._light_ids]
        self._nominal_ambient = m.vis.headlight.ambient.copy()
        self._backup = mujoco.MjData(m)  # the live state while a goal image is rendered

        self.ik = DlsIk(m, scene.TCP_SITE, q_rest=_MENAGERIE_HOME_Q)
        home = self.ik.solve(HOME_TCP_POS, xyzw_to_wxyz(HOME_TCP_QUAT), _MENAGERIE_HOME_Q, iters=300)
        if not home.converged():
            raise RuntimeError(f"IK could not reach the home pose ({home}); is the Panda model intact?")
        self.home_q = home.q
        self.ik.q_rest = home.q.copy()

        self._render_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._renderer: mujoco.Renderer | None = None
        self._scene_option = mujoco.MjvOption()
        if render_geometry == "collision":
            self._scene_option.geomgroup[2] = 0
            self._scene_option.geomgroup[3] = 1
        if render:
            # The GL context is bound to the thread that made it, so one private thread does all rendering
            # and the API can be called from any (one at a time) thread, e.g. ROS executor threads.
            self._render_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mujoco-render")
            try:
                self._renderer = self._render_pool.submit(mujoco.Renderer, m, height, width).result()
            except mujoco.FatalError as exc:
                self.close()
                raise OSError(
                    f"cannot create an OpenGL context for rendering ({exc}). Set MUJOCO_GL=egl (or osmesa) "
                    "before anything imports mujoco; importing vjepa2_sim first does that."
                ) from exc

        self._next_seed = int(seed)
        self.episode_seed = int(seed)
        self._command_seq = 0
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Free the renderer and its thread (the object stays usable for physics)."""
        if self._render_pool is not None:
            renderer, self._renderer = self._renderer, None
            if renderer is not None:
                self._render_pool.submit(renderer.close).result()
            self._render_pool.shutdown(wait=True)
            self._render_pool = None

    def __enter__(self) -> FrankaSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown there is nothing sensible left to do
            self.close()

    # ------------------------------------------------------------------ reset / objects
    def reset(self, seed: int | None = None, config: ResetConfig | None = None) -> int:
        """Start a new episode and return its seed.

        With ``randomize`` on, the seed fixes the object poses, lighting, exterior camera jitter and start
        pose; ``config`` overrides the robot/object parts it specifies. The same seed and config always
        give the same episode.
        """
        config = config or ResetConfig()
        if seed is None:
            seed = self._next_seed
        self._next_seed = int(seed) + 1
        self.episode_seed = int(seed)
        rng = np.random.default_rng(seed)
        m, d = self.model, self.data

        if config.joint_positions is not None:
            q_arm = finite_vector("joint_positions", config.joint_positions, 7)
            if np.any(q_arm < self.ik.q_min) or np.any(q_arm > self.ik.q_max):
                raise CommandError(
                    f"joint_positions {np.round(q_arm, 3).tolist()} outside the joint limits "
                    f"{np.round(self.ik.q_min, 3).tolist()} .. "
                    f"{np.round(self.ik.q_max, 3).tolist()}"
                )
        closure = check_closure(config.gripper)
        unknown = set(config.object_poses) - set(scene.OBJECT_NAMES)
        if unknown:
            raise CommandError(f"unknown object(s) {sorted(unknown)}; known: {list(scene.OBJECT_NAMES)}")
        given_poses = {name: self._check_object_pose(name, *pose) for name, pose in config.object_poses.items()}

        mujoco.mj_resetData(m, d)
        self._apply_appearance(rng if self.randomize else None)
        if config.joint_positions is None:
            q_arm = self._sample_start_q(rng) if self.randomize else self.home_q
        poses = self._sample_object_poses(rng, fixed=given_poses) if self.randomize else {}
        for obj in scene.OBJECTS:
            pos, quat = (
                given_poses.get(obj.name)
                or poses.get(obj.name)
                or (np.array([*obj.nominal_xy, obj.half_height]), np.array([0.0, 0.0, 0.0, 1.0]))
            )
            adr = self._obj_q[obj.name]
            d.qpos[adr : adr + 7] = np.concatenate([pos, xyzw_to_wxyz(quat)])
        d.qpos[self._arm_q] = q_arm
        d.qpos[self._finger_q] = (1.0 - closure) * scene.FINGER_MAX
        mujoco.mj_forward(m, d)

        pos, quat = self.ee_pose()
        self._q_cmd = q_arm.copy()
        self._target_pos, self._target_rot = pos.copy(), Rotation.from_quat(quat)
        self._ref_pos, self._ref_rot = pos.copy(), Rotation.from_quat(quat)
        self._gripper_cmd = closure
        self._gripper_cmd_time = 0.0
        self._twist: _Twist | None = None
        self._clamped = False
        self._rest_ticks = self.STOPPED_SHORT_TICKS
        self._command_time = 0.0
        self._tick = 0
        d.ctrl[self._arm_act] = q_arm
        d.ctrl[self._gripper_act] = (1.0 - closure) * scene.GRIPPER_CTRL_MAX
        self.step(50)  # let contacts settle (objects rest at their exact height)
        self._command_time = d.time
        return self.episode_seed

    def _apply_appearance(self, rng: np.random.Generator | None) -> None:
        """Nominal lights and exterior cameras, or a seeded jitter of them."""
        m = self.model
        for (direction, diffuse), light in zip(self._nominal_light, self._light_ids):
            if rng is None:
                m.light_dir[light], m.light_diffuse[light] = direction, diffuse
            else:
                tilted = Rotation.from_rotvec(rng.uniform(-0.25, 0.25, 3)).apply(direction)
                m.light_dir[light] = tilted / np.linalg.norm(tilted)
                m.light_diffuse[light] = np.clip(diffuse * rng.uniform(0.7, 1.25), 0.0, 1.0)
        m.vis.headlight.ambient = self._nominal_ambient * (1.0 if rng is None else rng.uniform(0.75, 1.25))
        for name, (pos, quat) in self._nominal_cam.items():
            cam = self._cam_ids[name]
            if rng is None or name == scene.WRIST:  # the wrist camera is bolted to the hand
                m.cam_pos[cam], m.cam_quat[cam] = pos, quat
                continue
            m.cam_pos[cam] = pos + rng.uniform(-0.02, 0.02, 3)
            jitter = Rotation.from_rotvec(rng.uniform(-np.radians(2.0), np.radians(2.0), 3))
            m.cam_quat[cam] = xyzw_to_wxyz((jitter * Rotation.from_quat(wxyz_to_xyzw(quat))).as_quat())

    def _sample_start_q(self, rng: np.random.Generator) -> np.ndarray:
        """Joints for a start TCP pose jittered around the home pose (±4 cm, ±0.3 rad yaw)."""
        pos = HOME_TCP_POS + rng.uniform([-0.04, -0.04, -0.04], [0.04, 0.04, 0.04])
        rot = Rotation.from_euler("z", rng.uniform(-0.3, 0.3)) * Rotation.from_quat(HOME_TCP_QUAT)
        return self.ik.solve(pos, xyzw_to_wxyz(rot.as_quat()), self.home_q, iters=200).q

    def _sample_object_poses(
        self, rng: np.random.Generator, fixed: Mapping[str, tuple[np.ndarray, np.ndarray]]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Random non-overlapping poses on the table in front of the robot (given poses are kept)."""
        placed = [
            (pose[0][:2], next(o for o in scene.OBJECTS if o.name == n).footprint_radius) for n, pose in fixed.items()
        ]
        poses: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for obj in scene.OBJECTS:
            if obj.name in fixed:
                continue
            for _ in range(200):
                xy = rng.uniform([0.40, -0.25], [0.70, 0.25])
                if all(np.linalg.norm(xy - other) > obj.footprint_radius + r + 0.02 for other, r in placed):
                    break
            placed.append((xy, obj.footprint_radius))
            quat = Rotation.from_euler("z", rng.uniform(-np.pi, np.pi)).as_quat()
            poses[obj.name] = (np.array([xy[0], xy[1], obj.half_height]), quat)
        return poses

    def _check_object_pose(
        self, name: str, pos: Sequence[float], quat_xyzw: Sequence[float] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._obj_q:
            raise CommandError(f"unknown object {name!r}; known: {list(scene.OBJECT_NAMES)}")
        p = check_object_position(f"{name} position", pos)
        q = np.array([0.0, 0.0, 0.0, 1.0]) if quat_xyzw is None else unit_quaternion(f"{name} orientation", quat_xyzw)
        return p, q

    def place_object(self, name: str, pos: Sequence[float], quat_xyzw: Sequence[float] | None = None) -> None:
        """Teleport an object (at rest) to a pose in the base frame; it falls if placed in the air."""
        p, q = self._check_object_pose(name, pos, quat_xyzw)
        adr, vadr = self._obj_q[name], self._obj_v[name]
        self.data.qpos[adr : adr + 7] = np.concatenate([p, xyzw_to_wxyz(q)])
        self.data.qvel[vadr : vadr + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Position and (x, y, z, w) quaternion of an object in the base frame."""
        if name not in self._obj_q:
            raise CommandError(f"unknown object {name!r}; known: {list(scene.OBJECT_NAMES)}")
        adr = self._obj_q[name]
        return self.data.qpos[adr : adr + 3].copy(), wxyz_to_xyzw(self.data.qpos[adr + 3 : adr + 7])

    # ------------------------------------------------------------------ state
    @property
    def time(self) -> float:
        """Simulated time [s] since the last reset."""
        return float(self.data.time)

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Measured TCP (``panda_hand_tcp``) position [m] and (x, y, z, w) quaternion in ``panda_link0``."""
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self._tcp])
        return self.data.site_xpos[self._tcp].copy(), wxyz_to_xyzw(quat)

    def gripper_closure(self) -> float:
        """Measured closure in [0, 1] (0 = open, 1 = closed)."""
        return closure_from_finger_positions(self.data.qpos[self._finger_q])

    def state7(self) -> np.ndarray:
        """7-D V-JEPA 2-AC state: xyz [m], extrinsic-XYZ Euler [rad], gripper closure."""
        pos, quat = self.ee_pose()
        return conventions.state_from_pose(pos, quat, self.gripper_closure())

    def joint_positions(self) -> np.ndarray:
        """9 joint positions: 7 arm joints [rad], then the two fingers [m]."""
        return np.concatenate([self.data.qpos[self._arm_q], self.data.qpos[self._finger_q]])

    def joint_velocities(self) -> np.ndarray:
        """9 joint velocities, same order as :meth:`joint_positions`."""
        return np.concatenate([self.data.qvel[self._arm_v], self.data.qvel[self._finger_v]])

    def joint_efforts(self) -> np.ndarray:
        """9 actuator forces/torques on the joints [N·m, N], same order as :meth:`joint_positions`."""
        force = self.data.qfrc_actuator
        return np.concatenate([force[self._arm_v], force[self._finger_v]])

    def target_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The commanded TCP target: position and (x, y, z, w) quaternion."""
        return self._target_pos.copy(), self._target_rot.as_quat()

    @property
    def command_seq(self) -> int:
        """Number of motion commands received since construction (accepted or rejected)."""
        return self._command_seq

    # ------------------------------------------------------------------ commands
    def apply_delta(
        self,
        dxyz: Sequence[float],
        drot_xyz: Sequence[float] = (0.0, 0.0, 0.0),
        gripper: float | None = None,
        blocking: bool = True,
    ) -> MotionResult:
        """Move the TCP by a delta in the base frame.

        The new target is ``p + dxyz`` and ``R(drot_xyz) · R`` (the rotation delta is an extrinsic-XYZ Euler
        vector, left-multiplied: the V-JEPA 2-AC action convention), starting from the current target while
        a motion is in progress, else from the measured pose. ``gripper`` is an absolute closure target.
        """
        self._command_seq += 1
        d, r = check_delta(dxyz, drot_xyz, self.limits)
        closure = None if gripper is None else check_closure(gripper)
        return self._delta(d, r, closure, blocking)

    def apply_action(self, action: Sequence[float], blocking: bool = True) -> MotionResult:
        """Execute a 7-D V-JEPA 2-AC action: Δxyz, Δ extrinsic-XYZ Euler, Δ gripper closure.

        The gripper target is the measured closure plus the delta, clipped to [0, 1]; a zero delta keeps
        the commanded closure (a grasp or an opening holds, whatever the fingers measure).
        """
        self._command_seq += 1
        a = finite_vector("action", action, 7)
        d, r = check_delta(a[:3], a[3:6], self.limits)
        if abs(a[6]) > 1.0:
            raise CommandError(f"gripper delta must be in [-1, 1], got {a[6]}")
        # A zero gripper delta keeps the commanded closure (re-basing on the measured one lets the gripper drift).
        closure = None if a[6] == 0.0 else float(conventions.apply_action(self.state7(), a)[6])
        return self._delta(d, r, closure, blocking)

    def set_pose_target(
        self, pos: Sequence[float], quat_xyzw: Sequence[float] | None = None, blocking: bool = False
    ) -> MotionResult:
        """Absolute TCP target in the base frame (orientation kept if ``quat_xyzw`` is None).

        The position is clamped into the workspace box (rejected if more than
        :data:`~vjepa2_core.limits.MAX_TARGET_OUTSIDE` outside it); the orientation must tilt the TCP at most
        ``limits.max_tcp_tilt`` from pointing down.
        """
        self._command_seq += 1
        p = check_target_position("target position", pos, self.limits)
        if quat_xyzw is None:
            rot = self._target_rot
        else:
            quat = unit_quaternion("target orientation", quat_xyzw)
            check_tcp_orientation("target orientation", quat, self.limits)
            rot = Rotation.from_quat(quat)
        self._set_target(p, rot, None)
        return self._finish(blocking)

    def set_twist(
        self,
        linear: Sequence[float],
        angular: Sequence[float] = (0.0, 0.0, 0.0),
        frame: str = "base",
        duration: float = 0.1,
    ) -> None:
        """Move at a TCP twist (m/s, rad/s) for ``duration`` s of sim time, like MoveIt Servo.

        ``frame`` is "base" (``panda_link0``) or "ee" (``panda_hand_tcp``). The motion stops when the
        twist goes stale; a newer twist replaces it. The TCP rotates about itself.
        """
        self._command_seq += 1
        v, w = check_twist(linear, angular, self.limits)
        if frame not in ("base", "ee"):
            raise CommandError(f"twist frame must be 'base' or 'ee', got {frame!r}")
        if not (np.isfinite(duration) and 0.0 < duration <= 10.0):
            raise CommandError(f"twist duration must be in (0, 10] s, got {duration}")
        if frame == "ee":
            rot = Rotation.from_quat(self.ee_pose()[1])
            v, w = rot.apply(v), rot.apply(w)
        self._twist = _Twist(v, w, self.data.time + duration)
        self._start_motion()

    def set_gripper(self, closure: float, blocking: bool = False) -> MotionResult:
        """Gripper target closure in [0, 1] (0 = open 0.08 m, 1 = closed); blocked fingers stop on contact."""
        self._command_seq += 1
        self._gripper_cmd = check_closure(closure)
        self._gripper_cmd_time = self.data.time
        self._start_motion()
        return self._finish(blocking)

    def stop(self) -> None:
        """Hold the current measured pose (drops any twist and pending target)."""
        self._command_seq += 1
        self._twist = None
        pos, quat = self.ee_pose()
        self._target_pos, self._target_rot = pos, Rotation.from_quat(quat)
        self._ref_pos, self._ref_rot = pos.copy(), Rotation.from_quat(quat)
        self._start_motion()

    def _delta(self, d: np.ndarray, r: np.ndarray, closure: float | None, blocking: bool) -> MotionResult:
        base_pos, base_quat = self.ee_pose() if self.is_settled() else (self._target_pos, self._target_rot.as_quat())
        base = conventions.state_from_pose(base_pos, base_quat, 0.0)
        target = conventions.apply_action(base, np.concatenate([d, r, [0.0]]))
        rot = Rotation.from_euler(conventions.EULER_SEQ, target[3:6])
        excess = orientation_excess(rot.as_quat(), self.limits)
        if excess > 0 and excess > orientation_excess(base_quat, self.limits):  # turning back is fine
            check_tcp_orientation("the orientation after this rotation delta", rot.as_quat(), self.limits)
        self._set_target(target[:3], rot, closure)
        return self._finish(blocking)

    def _set_target(self, pos: np.ndarray, rot: Rotation, closure: float | None) -> None:
        self._target_pos, self._clamped = clamp_to_workspace(pos, self.limits)
        self._target_rot = rot
        self._twist = None
        if closure is not None:
            self._gripper_cmd = closure
            self._gripper_cmd_time = self.data.time
        self._start_motion()

    def _start_motion(self) -> None:
        self._rest_ticks = 0
        self._command_time = self.data.time

    def _finish(self, blocking: bool) -> MotionResult:
        return self.wait_until_settled() if blocking else self.motion_result()

    def wait_until_settled(self, timeout: float | None = None) -> MotionResult:
        """Step the physics until the current motion is over or ``timeout`` (default ``settle_timeout``)
        seconds of simulated time have passed; return the outcome."""
        deadline = self.data.time + (self.settle_timeout if timeout is None else timeout)
        while not self.is_settled() and self.data.time < deadline:
            self.step(self.CONTROL_SUBSTEPS)
        return self.motion_result()

    # ------------------------------------------------------------------ control loop
    def step(self, n: int = 1) -> None:
        """Advance the physics by ``n`` steps of 2 ms, updating the controller every 10 ms."""
        m, d = self.model, self.data
        remaining = int(n)
        while remaining > 0:
            to_tick = self.CONTROL_SUBSTEPS - self._tick % self.CONTROL_SUBSTEPS
            if to_tick == self.CONTROL_SUBSTEPS:
                self._control_update()
            chunk = min(to_tick, remaining)
            mujoco.mj_step(m, d, nstep=chunk)
            self._tick += chunk
            remaining -= chunk

    def _control_update(self) -> None:
        dt = self.CONTROL_SUBSTEPS * self.model.opt.timestep
        if self._twist is not None:
            if self.data.time >= self._twist.until:
                self._twist = None
            else:
                self._target_pos, clamped = clamp_to_workspace(self._target_pos + self._twist.linear * dt, self.limits)
                self._clamped = self._clamped or clamped
                turned = Rotation.from_rotvec(self._twist.angular * dt) * self._target_rot
                excess = orientation_excess(turned.as_quat(), self.limits)
                if excess <= 0 or excess <= orientation_excess(self._target_rot.as_quat(), self.limits):
                    self._target_rot = turned  # else: hold the orientation at the edge of the allowed range
        step = self._target_pos - self._ref_pos
        dist, max_step = float(np.linalg.norm(step)), self.cartesian_speed * dt
        if dist <= max_step:
            self._ref_pos = self._target_pos.copy()
        else:
            self._ref_pos = self._ref_pos + step * (max_step / dist)
        turn = (self._target_rot * self._ref_rot.inv()).as_rotvec()
        angle, max_turn = float(np.linalg.norm(turn)), self.angular_speed * dt
        self._ref_rot = (
            self._target_rot if angle <= max_turn else (Rotation.from_rotvec(turn * (max_turn / angle)) * self._ref_rot)
        )
        sol = self.ik.solve(self._ref_pos, xyzw_to_wxyz(self._ref_rot.as_quat()), self._q_cmd, iters=5)
        max_dq = self.MAX_JOINT_SPEED * dt
        self._q_cmd = self._q_cmd + np.clip(sol.q - self._q_cmd, -max_dq, max_dq)
        self.data.ctrl[self._arm_act] = self._q_cmd
        self.data.ctrl[self._gripper_act] = (1.0 - self._gripper_cmd) * scene.GRIPPER_CTRL_MAX
        self._rest_ticks = self._rest_ticks + 1 if self._at_rest() else 0

    def _errors(self) -> tuple[float, float]:
        pos, quat = self.ee_pose()
        rot_err = rotation_error(xyzw_to_wxyz(self._target_rot.as_quat()), xyzw_to_wxyz(quat))
        return float(np.linalg.norm(self._target_pos - pos)), float(np.linalg.norm(rot_err))

    def _at_rest(self) -> bool:
        """Nothing left to command (no twist, reference on target) and arm and fingers stopped."""
        if self._twist is not None or not np.array_equal(self._ref_pos, self._target_pos):
            return False
        if np.max(np.abs(self.data.qvel[self._arm_v])) > self.SETTLE_JOINT_VEL:
            return False
        fingers = self.data.qpos[self._finger_q]
        finger_target = (1.0 - self._gripper_cmd) * scene.FINGER_MAX
        at_target = np.all(np.abs(fingers - finger_target) < self.SETTLE_FINGER_TOL)
        stalled = (
            np.max(np.abs(self.data.qvel[self._finger_v])) < 0.01 and self.data.time - self._gripper_cmd_time > 0.2
        )  # blocked, e.g. by a grasped object
        return bool(at_target or stalled)

    def _on_target(self) -> bool:
        pos_err, rot_err = self._errors()
        return pos_err <= self.SETTLE_POS_TOL and rot_err <= self.SETTLE_ROT_TOL

    def is_settled(self) -> bool:
        """True once the last command's motion is over: on target, or at rest short of it."""
        if self._rest_ticks >= self.STOPPED_SHORT_TICKS:
            return True
        return self._rest_ticks >= self.SETTLE_TICKS and self._on_target()

    def motion_result(self) -> MotionResult:
        """The current motion state as a :class:`MotionResult`."""
        pos_err, rot_err = self._errors()
        elapsed = self.data.time - self._command_time
        settled = self.is_settled()
        reached = settled and self._on_target()
        errors = f"position error {pos_err * 1e3:.1f} mm, rotation error {np.degrees(rot_err):.1f} deg"
        if reached:
            message = "reached"
        elif settled:
            message = f"stopped short of the target ({errors}): unreachable or blocked by contact"
        elif elapsed >= self.settle_timeout:
            message = f"still moving after {elapsed:.2f} s ({errors})"
        elif self._twist is not None:
            message = "moving (twist)"
        else:
            message = "moving"
        if self._clamped:
            message += "; target clamped to the workspace box"
        return MotionResult(
            settled=settled,
            reached=reached,
            message=message,
            elapsed=elapsed,
            position_error=pos_err,
            rotation_error=rot_err,
            clamped=self._clamped,
            state=self.state7(),
        )

    # ------------------------------------------------------------------ rendering
    def _check_camera(self, camera: str) -> int:
        if camera not in self._cam_ids:
            raise ValueError(f"unknown camera {camera!r}; cameras: {list(scene.CAMERAS)}")
        return self._cam_ids[camera]

    def _render_call(self, camera: str, segmentation: bool) -> np.ndarray:
        renderer = self._renderer
        if renderer is None or self._render_pool is None:
            raise RuntimeError(
                "this FrankaSim was created with render=False (or closed); create it with render=True to render images"
            )

        def job() -> np.ndarray:
            renderer.update_scene(self.data, camera=camera, scene_option=self._scene_option)
            if not segmentation:
                return renderer.render()
            renderer.enable_segmentation_rendering()
            try:
                return renderer.render()
            finally:
                renderer.disable_segmentation_rendering()

        return self._render_pool.submit(job).result()

    def render(self, camera: str = scene.EXTERIOR) -> np.ndarray:
        """RGB image (height, width, 3) uint8 of the current state."""
        self._check_camera(camera)
        return self._render_call(camera, segmentation=False)

    def render_body_ids(self, camera: str = scene.EXTERIOR) -> np.ndarray:
        """(height, width) int array: id of the body seen in each pixel, -1 for background."""
        self._check_camera(camera)
        seg = self._render_call(camera, segmentation=True)
        ids = np.full(seg.shape[:2], -1, dtype=np.int64)
        geom = seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM
        ids[geom] = self.model.geom_bodyid[seg[..., 0][geom]]
        return ids

    def render_goal(
        self,
        ee_pos: Sequence[float],
        ee_quat: Sequence[float] | None = None,
        gripper: float | None = None,
        camera: str | Sequence[str] = scene.EXTERIOR,
    ) -> np.ndarray:
        """Image of the scene with the TCP at a goal pose; the live state is unchanged afterwards.

        The arm is placed kinematically (IK, no physics) and objects stay where they are. Several cameras give
        their images side by side (one IK solve for all). Raises :class:`CommandError` if the pose is outside
        the workspace or not reachable.
        """
        cameras = [camera] if isinstance(camera, str) else list(camera)
        for name in cameras:
            self._check_camera(name)
        pos = finite_vector("goal position", ee_pos, 3)
        if not in_workspace(pos, self.limits):
            raise CommandError(
                f"goal position {np.round(pos, 3).tolist()} is outside the workspace box "
                f"{self.limits.workspace_min} .. {self.limits.workspace_max}"
            )
        if ee_quat is None:
            quat = self.ee_pose()[1]
        else:
            quat = unit_quaternion("goal orientation", ee_quat)
            check_tcp_orientation("goal orientation", quat, self.limits)
        closure = self.gripper_closure() if gripper is None else check_closure(gripper)
        sol = self.ik.solve(pos, xyzw_to_wxyz(quat), self.data.qpos[self._arm_q], iters=300)
        if not sol.converged():
            raise CommandError(
                f"goal pose not reachable: IK error {sol.position_error * 1e3:.1f} mm, "
                f"{np.degrees(sol.rotation_error):.1f} deg"
            )
        m, d = self.model, self.data
        mujoco.mj_copyData(self._backup, m, d)  # everything, derived quantities included
        try:
            d.qpos[self._arm_q] = sol.q
            d.qpos[self._finger_q] = (1.0 - closure) * scene.FINGER_MAX
            mujoco.mj_forward(m, d)
            return np.concatenate([self._render_call(name, segmentation=False) for name in cameras], axis=1)
        finally:
            mujoco.mj_copyData(d, m, self._backup)

    def camera_info(self, camera: str = scene.EXTERIOR) -> CameraIntrinsics:
        """Intrinsics from the camera's vertical field of view (MuJoCo renders square pixels)."""
        cam = self._check_camera(camera)
        height, width = self.image_size
        focal = 0.5 * height / np.tan(np.radians(self.model.cam_fovy[cam]) / 2.0)
        return CameraIntrinsics(
            width=width, height=height, fx=focal, fy=focal, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0
        )

    def camera_pose(self, camera: str = scene.EXTERIOR) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the camera's optical frame (z forward, x right, y down) in the base frame."""
        cam = self._check_camera(camera)
        rot = self.data.cam_xmat[cam].reshape(3, 3) @ OPTICAL_FROM_MUJOCO_CAMERA
        return self.data.cam_xpos[cam].copy(), Rotation.from_matrix(rot).as_quat()
