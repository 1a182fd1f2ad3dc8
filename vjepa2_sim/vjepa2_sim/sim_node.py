"""ROS 2 node ``sim_node``: :class:`~vjepa2_sim.sim.FrankaSim` behind the real robot's topics.

Commands come in as MoveIt Servo does it (``servo_node/delta_twist_cmds``, ``servo_node/pose_target_cmds``),
as V-JEPA 2-AC 7-D actions (the blocking ``~/execute_action`` service, or ``~/delta_cmd`` +
``~/motion_status``) and as gripper closure/width; state goes out as franka_ros2 publishes it
(``joint_states``, ``franka_robot_state_broadcaster/current_pose``, ``franka_gripper/joint_states``) plus
camera images. See README.md for the full interface. Physics, rendering and state publishing run on a
thread of their own, so no number of blocking service calls can starve them; commands and services run
in one callback group and share the simulator under a lock; ``~/execute_action`` (one at a time, a
concurrent one is rejected at once) waits for the motion on another group, so ``~/stop`` and ``~/reset``
still get through and end the wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64, Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from vjepa2_common import names
from vjepa2_common.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher, LatencyStats, RateMeter
from vjepa2_common.image import rgb_to_image
from vjepa2_common.messages import NS_PER_S, ns_to_stamp
from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, param
from vjepa2_common.qos import QOS_CHOICES, qos_from_name
from vjepa2_core.limits import CommandError, CommandLimits, check_timeout, check_width, finite_vector, unit_quaternion
from vjepa2_msgs.srv import ExecuteAction, PlaceObject, RenderGoal
from vjepa2_sim.kinematics import width_to_closure
from vjepa2_sim.scene import CAMERAS, OBJECT_NAMES
from vjepa2_sim.sim import FrankaSim, MotionResult
from vjepa2_sim.views import VIRTUAL_CAMERAS, render_tiled, tiled_views

WARN_THROTTLE_S = 1.0
EXECUTOR_THREADS = 4  # ~/execute_action holds one while it waits; the others serve ~/stop, ~/reset and topics
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# franka_robot_state_broadcaster publishes its convenience topics best effort, depth 1.
BEST_EFFORT_1 = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)


_LIMITS = CommandLimits()  # the command limit defaults are written once, in vjepa2_core.limits
#: what ``cameras`` and ``~/render_goal`` accept: the scene's cameras and the tiled views of vjepa2_sim.views
CAMERA_NAMES = (*CAMERAS, *VIRTUAL_CAMERAS)


@dataclass
class SimParams:
    """Parameters of ``sim_node`` (all read at start-up)."""

    arm_id: str = param("panda", "Prefix of frame and joint names (panda_link0, panda_joint1, ...)", read_only=True)
    seed: int = param(
        0, "Seed of the first episode; each reset uses the next integer", min=0, max=2**31 - 1, read_only=True
    )
    randomize: bool = param(
        True,
        "Randomise object poses, lighting, exterior camera jitter and the start pose on reset (~/reset overrides it)",
        read_only=True,
    )
    image_width: int = param(
        256, "Rendered image width [px] (of each view of a tiled camera)", min=16, max=1024, read_only=True
    )
    image_height: int = param(256, "Rendered image height [px]", min=16, max=1024, read_only=True)
    cameras: list[str] = param(
        ["exterior"],
        f"Cameras to publish, any of {list(CAMERA_NAMES)}; topics <camera>/image_raw and <camera>/camera_info "
        f"({', '.join(f'{k}: {list(v)} side by side' for k, v in VIRTUAL_CAMERAS.items())})",
        read_only=True,
    )
    camera_rate: float = param(10.0, "Image publishing rate [Hz of sim time]", min=0.1, max=60.0, read_only=True)
    state_rate: float = param(
        50.0, "Joint state / pose publishing rate [Hz of sim time]", min=1.0, max=500.0, read_only=True
    )
    physics_period: float = param(0.01, "Wall-clock period of the physics loop [s]", min=0.002, max=0.1, read_only=True)
    real_time_factor: float = param(1.0, "Target sim seconds per wall second", min=0.05, max=20.0, read_only=True)
    publish_clock: bool = param(
        False, "Publish /clock (sim time, monotonic across resets) and stamp messages with it", read_only=True
    )
    image_qos: str = param("sensor_data", "QoS of image and camera_info topics", choices=QOS_CHOICES, read_only=True)
    render_geometry: str = param(
        "visual", "'visual' meshes or the faster 'collision' geometry", choices=("visual", "collision"), read_only=True
    )
    goal_camera: str = param("exterior", "Default camera of ~/render_goal", choices=CAMERA_NAMES, read_only=True)
    max_delta_translation: float = param(
        _LIMITS.max_delta_translation,
        "Largest accepted delta translation [m] (norm)",
        min=0.001,
        max=1.0,
        read_only=True,
    )
    max_delta_rotation: float = param(
        _LIMITS.max_delta_rotation, "Largest accepted delta rotation [rad]", min=0.001, max=3.2, read_only=True
    )
    max_linear_speed: float = param(
        _LIMITS.max_linear_speed, "Largest accepted twist speed [m/s]", min=0.001, max=2.0, read_only=True
    )
    max_angular_speed: float = param(
        _LIMITS.max_angular_speed, "Largest accepted twist rate [rad/s]", min=0.001, max=5.0, read_only=True
    )
    workspace_min: list[float] = param(
        list(_LIMITS.workspace_min),
        "TCP workspace box, lower corner in the base frame [m]; targets are clamped into it",
        read_only=True,
    )
    workspace_max: list[float] = param(
        list(_LIMITS.workspace_max), "TCP workspace box, upper corner [m]", read_only=True
    )
    twist_timeout: float = param(
        0.1,
        "A twist drives the arm for this long [s of sim time] unless renewed (MoveIt Servo incoming_command_timeout)",
        min=0.01,
        max=5.0,
        read_only=True,
    )
    cartesian_speed: float = param(
        0.25, "TCP speed towards delta/pose targets [m/s]", min=0.01, max=1.0, read_only=True
    )
    angular_speed: float = param(1.0, "TCP rotation speed towards targets [rad/s]", min=0.01, max=3.0, read_only=True)
    settle_timeout: float = param(
        3.0,
        "A motion still running after this long [s of sim time] is reported as not settled",
        min=0.1,
        max=60.0,
        read_only=True,
    )
    asset_dir: str = param(
        "", "Cache root of the Panda model ('' = $VJEPA2_ASSET_DIR or ~/.cache/vjepa2/assets)", read_only=True
    )


def optical_frame(camera: str) -> str:
    """frame_id of a camera's images: its optical frame; a tiled camera's is that of its first (left) view."""
    return f"{tiled_views(camera)[0]}_camera_optical_frame"


def pose_msg_arrays(msg: PoseStamped) -> tuple[np.ndarray, np.ndarray]:
    """Position and (x, y, z, w) quaternion of a PoseStamped, validated (CommandError if not finite/unit)."""
    p, q = msg.pose.position, msg.pose.orientation
    return (finite_vector("position", [p.x, p.y, p.z], 3), unit_quaternion("orientation", [q.x, q.y, q.z, q.w]))


class SimNode(Node):
    """The simulated Franka Panda; see the module docstring and README.md."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(names.SIM_NODE, **kwargs)
        self.settings = p = declare_parameters(self, SimParams)
        unknown = [c for c in p.cameras if c not in CAMERA_NAMES]
        if unknown or not p.cameras:
            raise ValueError(f"parameter 'cameras' is {p.cameras}; give one or more of {list(CAMERA_NAMES)}")
        limits = CommandLimits(
            max_delta_translation=p.max_delta_translation,
            max_delta_rotation=p.max_delta_rotation,
            max_linear_speed=p.max_linear_speed,
            max_angular_speed=p.max_angular_speed,
            workspace_min=tuple(p.workspace_min),
            workspace_max=tuple(p.workspace_max),
        )
        self.sim = FrankaSim(
            seed=p.seed,
            image_size=(p.image_height, p.image_width),
            asset_dir=p.asset_dir or None,
            limits=limits,
            randomize=p.randomize,
            render_geometry=p.render_geometry,
            cartesian_speed=p.cartesian_speed,
            angular_speed=p.angular_speed,
            settle_timeout=p.settle_timeout,
        )
        self._lock = threading.Lock()
        arm = p.arm_id
        self.base_frame, self.ee_frame = f"{arm}_link0", f"{arm}_hand_tcp"
        self._joint_names = [f"{arm}_joint{i}" for i in range(1, 8)] + [f"{arm}_finger_joint1", f"{arm}_finger_joint2"]
        self._clock_offset = 0.0  # sim seconds of earlier episodes, so that /clock never goes back
        self._accepted = self._rejected = 0
        self._seq = 0  # motion commands received (accepted or rejected); reported in ~/motion_status
        self._last_status: tuple[bool, int] | None = None
        self._last_warning: dict[str, float] = {}
        self._sim_budget = 0.0
        self._last_tick = time.monotonic()
        self._rtf_window: list[tuple[float, float]] = []
        self._camera_meters = {c: RateMeter() for c in p.cameras}
        self._render_latency = LatencyStats()
        self._next_state_t = self._next_camera_t = 0.0
        # (command seq, motion result) after the latest physics step, for ~/execute_action to wait on.
        self._motion_cv = threading.Condition()
        self._motion: tuple[int, MotionResult] = (self.sim.command_seq, self.sim.motion_result())
        # (count, why) of the interruptions (~/reset, ~/stop) that end a waiting ~/execute_action; under _motion_cv.
        self._interrupt: tuple[int, str] = (0, "")
        self._execute_lock = threading.Lock()  # one ~/execute_action at a time
        self._physics_stop = threading.Event()

        commands = MutuallyExclusiveCallbackGroup()
        image_qos = qos_from_name(p.image_qos, depth=2)
        self._joint_pub = self.create_publisher(JointState, names.relative(names.JOINT_STATES_TOPIC), 10)
        self._pose_pub = self.create_publisher(PoseStamped, names.relative(names.CURRENT_POSE_TOPIC), BEST_EFFORT_1)
        self._gripper_pub = self.create_publisher(JointState, names.relative(names.GRIPPER_JOINT_STATES_TOPIC), 10)
        self._object_pubs = {n: self.create_publisher(PoseStamped, f"~/objects/{n}/pose", 10) for n in OBJECT_NAMES}
        self._image_pubs = {c: self.create_publisher(Image, f"{c}/image_raw", image_qos) for c in p.cameras}
        self._info_pubs = {c: self.create_publisher(CameraInfo, f"{c}/camera_info", image_qos) for c in p.cameras}
        self._status_pub = self.create_publisher(DiagnosticStatus, "~/motion_status", LATCHED)
        self._clock_pub = self.create_publisher(Clock, "/clock", 10) if p.publish_clock else None

        self.create_subscription(
            TwistStamped, names.relative(names.SERVO_TWIST_TOPIC), self._on_twist, 10, callback_group=commands
        )
        self.create_subscription(
            PoseStamped, names.relative(names.SERVO_POSE_TOPIC), self._on_pose_target, 10, callback_group=commands
        )
        self.create_subscription(Float64MultiArray, "~/delta_cmd", self._on_delta, 10, callback_group=commands)
        self.create_subscription(Float64, "~/gripper/closure_cmd", self._on_closure, 10, callback_group=commands)
        self.create_subscription(Float64, "~/gripper/width_cmd", self._on_width, 10, callback_group=commands)
        self.create_service(RenderGoal, "~/render_goal", self._on_render_goal, callback_group=commands)
        self.create_service(PlaceObject, "~/place_object", self._on_place_object, callback_group=commands)
        self.create_service(
            ExecuteAction, "~/execute_action", self._on_execute_action, callback_group=ReentrantCallbackGroup()
        )
        self.create_service(SetBool, "~/reset", self._on_reset, callback_group=commands)
        self.create_service(Trigger, "~/stop", self._on_stop, callback_group=commands)

        self._diagnostics = DiagnosticsPublisher(self, hardware_id="mujoco_franka_panda")
        self._diagnostics.add("simulation", self._diagnostic_status)
        self._publish_status(self.sim.motion_result(), "ready")
        self._physics_thread = threading.Thread(target=self._physics_loop, name="sim-physics", daemon=True)
        self._physics_thread.start()
        self.get_logger().info(
            f"simulated Franka ready: episode seed {self.sim.episode_seed}, cameras {p.cameras} at "
            f"{p.image_width}x{p.image_height}, {p.camera_rate} Hz"
        )

    # ------------------------------------------------------------------ helpers
    def _stamp(self) -> Time:
        if self.settings.publish_clock:
            return ns_to_stamp(round((self._clock_offset + self.sim.time) * NS_PER_S))
        return self.get_clock().now().to_msg()

    def _warn_throttled(self, text: str) -> None:
        """Log ``text`` unless the same text was logged less than WARN_THROTTLE_S ago."""
        now = time.monotonic()
        if now - self._last_warning.get(text, -np.inf) >= WARN_THROTTLE_S:
            self._last_warning[text] = now
            self.get_logger().warning(text)

    def _reject(self, what: str, reason: str) -> None:
        """A clear warning (each distinct one at most once a second) and an ERROR status; nothing moved."""
        self._rejected += 1
        self._warn_throttled(f"rejected {what}: {reason}; no motion")
        self._publish_status(self.sim.motion_result(), f"rejected {what}: {reason}", level=ERROR)

    def _command(self, what: str, action: Callable[[], MotionResult | None]) -> None:
        """Run a validated command on the simulator, or reject it without side effects."""
        with self._lock:
            self._seq += 1
            try:
                result = action()
            except CommandError as exc:
                self._reject(what, str(exc))
                return
            self._accepted += 1
            self._publish_status(result or self.sim.motion_result(), f"accepted {what}")

    def _check_frame(self, what: str, frame_id: str, allowed: tuple[str, ...]) -> None:
        if frame_id not in allowed:
            raise CommandError(f"{what} header.frame_id is '{frame_id}'; use " + " or ".join(allowed))

    def _publish_status(self, result: MotionResult, event: str, level: bytes | None = None) -> None:
        if level is None:
            level = OK if (result.reached or not result.settled) else WARN
        values = {
            "seq": self._seq,
            "settled": result.settled,
            "reached": result.reached,
            "motion": result.message,
            "position_error_m": f"{result.position_error:.5f}",
            "rotation_error_rad": f"{result.rotation_error:.5f}",
            "elapsed_s": f"{result.elapsed:.3f}",
            "state": ",".join(f"{v:.6f}" for v in result.state),
            "episode_seed": self.sim.episode_seed,
        }
        self._status_pub.publish(
            DiagnosticStatus(
                level=level,
                name=f"{self.get_name()}: motion",
                message=event,
                hardware_id="mujoco_franka_panda",
                values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
            )
        )
        self._last_status = (result.settled, self._seq)

    # ------------------------------------------------------------------ command callbacks
    def _on_twist(self, msg: TwistStamped) -> None:
        def run() -> None:
            self._check_frame("twist", msg.header.frame_id, (self.base_frame, self.ee_frame))
            lin, ang = msg.twist.linear, msg.twist.angular
            frame = "base" if msg.header.frame_id == self.base_frame else "ee"
            self.sim.set_twist(
                [lin.x, lin.y, lin.z], [ang.x, ang.y, ang.z], frame=frame, duration=self.settings.twist_timeout
            )

        self._command("twist", run)

    def _on_pose_target(self, msg: PoseStamped) -> None:
        def run() -> MotionResult:
            self._check_frame("pose target", msg.header.frame_id, (self.base_frame,))
            pos, quat = pose_msg_arrays(msg)
            return self.sim.set_pose_target(pos, quat, blocking=False)

        self._command("pose target", run)

    def _on_delta(self, msg: Float64MultiArray) -> None:
        def run() -> MotionResult:
            action = finite_vector("delta_cmd (dx dy dz drx dry drz dgripper)", msg.data, 7)
            return self.sim.apply_action(action, blocking=False)

        self._command("delta", run)

    def _on_closure(self, msg: Float64) -> None:
        self._command("gripper closure", lambda: self.sim.set_gripper(msg.data, blocking=False))

    def _on_width(self, msg: Float64) -> None:
        self._command(
            "gripper width", lambda: self.sim.set_gripper(width_to_closure(check_width(msg.data)), blocking=False)
        )

    def _on_render_goal(self, request: RenderGoal.Request, response: RenderGoal.Response) -> RenderGoal.Response:
        camera = request.camera or self.settings.goal_camera
        with self._lock:
            try:
                self._check_frame("goal pose", request.pose.header.frame_id, (self.base_frame,))
                if camera not in CAMERA_NAMES:
                    raise CommandError(f"unknown camera '{camera}'; use one of {list(CAMERA_NAMES)}")
                pos, quat = pose_msg_arrays(request.pose)
                gripper = None if request.gripper < 0 else request.gripper
                rgb = self.sim.render_goal(pos, quat, gripper=gripper, camera=tiled_views(camera))
            except CommandError as exc:
                self._rejected += 1
                self._warn_throttled(f"rejected goal pose: {exc}; no goal image")
                response.success, response.message = False, f"rejected goal pose: {exc}"
                return response
        response.image = rgb_to_image(rgb, self._stamp(), optical_frame(camera))
        response.success, response.message = True, f"rendered {camera} at the goal pose"
        return response

    def _on_place_object(self, request: PlaceObject.Request, response: PlaceObject.Response) -> PlaceObject.Response:
        with self._lock:
            try:
                if request.name not in OBJECT_NAMES:
                    raise CommandError(f"unknown object '{request.name}'; use one of {list(OBJECT_NAMES)}")
                self._check_frame(f"{request.name} pose", request.pose.header.frame_id, (self.base_frame,))
                self.sim.place_object(request.name, *pose_msg_arrays(request.pose))
            except CommandError as exc:
                self._rejected += 1
                self._warn_throttled(f"rejected object pose: {exc}")
                response.success, response.message = False, f"rejected: {exc}"
                return response
        response.success, response.message = True, f"placed {request.name}"
        return response

    def _on_execute_action(
        self, request: ExecuteAction.Request, response: ExecuteAction.Response
    ) -> ExecuteAction.Response:
        """Start the action, then wait (on the physics thread's notifications) until the motion is over.

        One call at a time: a call while another waits is rejected at once. A ``~/reset`` or ``~/stop`` ends
        the wait (success false, saying which); on timeout the motion is stopped before the reply.
        """
        if not self._execute_lock.acquire(blocking=False):
            with self._lock:
                self._seq += 1
                self._reject("action", "another ~/execute_action is still running (one at a time)")
                response.state = [float(v) for v in self.sim.state7()]
            response.message = (
                "rejected action: another ~/execute_action is still running (one at a time); wait for its reply "
                "or call ~/stop; no motion"
            )
            return response
        try:
            return self._execute_action(request, response)
        finally:
            self._execute_lock.release()

    def _execute_action(
        self, request: ExecuteAction.Request, response: ExecuteAction.Response
    ) -> ExecuteAction.Response:
        with self._lock:
            self._seq += 1
            try:
                timeout = check_timeout(request.timeout_s)
                self.sim.apply_action(
                    finite_vector("action (dx dy dz drx dry drz dgripper)", request.action, 7), blocking=False
                )
            except CommandError as exc:
                self._reject("action", str(exc))
                response.message = f"rejected action: {exc}; no motion"
                response.state = [float(v) for v in self.sim.state7()]
                return response
            self._accepted += 1
            seq = self.sim.command_seq
            self._publish_status(self.sim.motion_result(), "accepted action")
            with self._motion_cv:
                interrupts = self._interrupt[0]
        if timeout is None:
            timeout = self.settings.settle_timeout / self.settings.real_time_factor + 2.0
        with self._motion_cv:
            # Snapshots older than this command (seq lower) do not count; a newer command preempts it.
            over = self._motion_cv.wait_for(
                lambda: (
                    self._interrupt[0] != interrupts
                    or self._motion[0] > seq
                    or (self._motion[0] == seq and self._motion[1].settled)
                ),
                timeout,
            )
            latest_seq, result = self._motion
            interrupted, why = self._interrupt[0] != interrupts, self._interrupt[1]
        timed_out = not over
        if timed_out:
            with self._lock:
                latest_seq = self.sim.command_seq  # a newer command may have come in since the wait ended
                if latest_seq == seq:  # still this motion: stop it before replying
                    self.sim.stop()
                    self._publish_status(self.sim.motion_result(), "stopped: ~/execute_action timed out")
                result = self.sim.motion_result()
        response.settled = bool(result.settled)
        response.success = bool(not interrupted and not timed_out and latest_seq == seq and result.reached)
        response.state = [float(v) for v in result.state]
        response.position_error_m = float(result.position_error)
        response.elapsed_s = float(result.elapsed)
        if interrupted:
            response.message = why
        elif latest_seq != seq:
            response.message = "preempted by a newer command"
        elif timed_out:
            response.message = f"timed out: not settled within {timeout:.3g} s; stopped, holding the current pose"
        else:
            response.message = result.message
        return response

    def _interrupt_waiting_action(self, why: str) -> None:
        """End a waiting ~/execute_action with ``why`` as its answer."""
        with self._motion_cv:
            self._interrupt = (self._interrupt[0] + 1, why)
            self._motion_cv.notify_all()

    def _on_reset(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            self._clock_offset += self.sim.time
            self.sim.randomize = bool(request.data)
            seed = self.sim.reset()
            self._next_state_t = self._next_camera_t = 0.0
            self._publish_status(self.sim.motion_result(), "reset")
            self._interrupt_waiting_action("aborted by reset")
        response.success = True
        response.message = f"episode seed {seed} ({'randomised' if request.data else 'nominal layout'})"
        return response

    def _on_stop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            self.sim.stop()
            self._publish_status(self.sim.motion_result(), "stop")
            self._interrupt_waiting_action("stopped by ~/stop")
        response.success, response.message = True, "holding the current pose"
        return response

    # ------------------------------------------------------------------ simulation loop
    def _physics_loop(self) -> None:
        """Step and publish every ``physics_period`` s until :meth:`destroy_node` or the context's shutdown."""
        period = self.settings.physics_period
        while not self._physics_stop.wait(period) and self.context.ok():
            try:
                self._step_and_publish()
            except Exception as exc:  # a bug must not silently stop the physics
                if not self.context.ok():
                    return  # shutting down (SIGINT/SIGTERM): the context went away while publishing
                self.get_logger().error(f"simulation step failed: {exc!r}", throttle_duration_sec=WARN_THROTTLE_S)

    def _step_and_publish(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        # Keep sim time on the wall clock (times real_time_factor); never catch up more than 0.1 s at once.
        self._sim_budget = min(self._sim_budget + elapsed * self.settings.real_time_factor, 0.1)
        dt = self.sim.model.opt.timestep
        steps = int(self._sim_budget / dt)
        with self._lock:
            if steps:
                self.sim.step(steps)
                self._sim_budget -= steps * dt
            t = self.sim.time
            result = self.sim.motion_result()
            with self._motion_cv:
                self._motion = (self.sim.command_seq, result)
                self._motion_cv.notify_all()
            if self._last_status != (result.settled, self._seq):
                self._publish_status(result, "settled" if result.settled else "moving")
            if self._clock_pub is not None:
                self._clock_pub.publish(Clock(clock=self._stamp()))
            if t >= self._next_state_t:
                self._next_state_t = max(self._next_state_t + 1.0 / self.settings.state_rate, t)
                self._publish_state()
            if t >= self._next_camera_t:
                self._next_camera_t = max(self._next_camera_t + 1.0 / self.settings.camera_rate, t)
                self._publish_images()
        self._rtf_window.append((now, t + self._clock_offset))
        while now - self._rtf_window[0][0] > 3.0:
            self._rtf_window.pop(0)

    def _publish_state(self) -> None:
        stamp = self._stamp()
        joints = JointState(
            name=self._joint_names,
            position=self.sim.joint_positions().tolist(),
            velocity=self.sim.joint_velocities().tolist(),
            effort=self.sim.joint_efforts().tolist(),
        )
        joints.header.stamp = stamp
        self._joint_pub.publish(joints)
        gripper = JointState(
            name=self._joint_names[7:],
            position=joints.position[7:],
            velocity=joints.velocity[7:],
            effort=joints.effort[7:],
        )
        gripper.header.stamp = stamp
        self._gripper_pub.publish(gripper)
        self._pose_pub.publish(self._pose_msg(*self.sim.ee_pose(), stamp))
        for name, pub in self._object_pubs.items():
            pub.publish(self._pose_msg(*self.sim.object_pose(name), stamp))

    def _pose_msg(self, pos: np.ndarray, quat: np.ndarray, stamp: Time) -> PoseStamped:
        msg = PoseStamped()
        msg.header.stamp, msg.header.frame_id = stamp, self.base_frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in quat)
        return msg

    def _publish_images(self) -> None:
        stamp = self._stamp()
        for camera, pub in self._image_pubs.items():
            start = time.perf_counter()
            rgb = render_tiled(self.sim, tiled_views(camera))
            self._render_latency.add(time.perf_counter() - start)
            frame = optical_frame(camera)
            pub.publish(rgb_to_image(rgb, stamp, frame))
            self._info_pubs[camera].publish(self._camera_info_msg(camera, stamp, frame))
            self._camera_meters[camera].tick()

    def _camera_info_msg(self, camera: str, stamp: Time, frame: str) -> CameraInfo:
        views = tiled_views(camera)
        info = self.sim.camera_info(views[0])  # a tiled camera: the first view's intrinsics (its tile, x < width)
        msg = CameraInfo(
            height=info.height,
            width=info.width * len(views),
            distortion_model="plumb_bob",
            d=[0.0] * 5,
            k=info.k.flatten().tolist(),
            r=np.eye(3).flatten().tolist(),
            p=info.p.flatten().tolist(),
        )
        msg.header.stamp, msg.header.frame_id = stamp, frame
        return msg

    def _diagnostic_status(self) -> tuple[bytes, str, dict[str, object]]:
        rtf = 0.0
        if len(self._rtf_window) >= 2:
            (w0, s0), (w1, s1) = self._rtf_window[0], self._rtf_window[-1]
            rtf = (s1 - s0) / (w1 - w0) if w1 > w0 else 0.0
        target = self.settings.real_time_factor
        level, message = (OK, "running") if rtf >= 0.8 * target else (WARN, "slower than the target real-time factor")
        values: dict[str, object] = {
            "real_time_factor": f"{rtf:.2f}",
            "target_real_time_factor": target,
            "sim_time_s": f"{self.sim.time:.2f}",
            "episode_seed": self.sim.episode_seed,
            "render_ms_p50": f"{self._render_latency.percentile(50) * 1e3:.1f}",
            "commands_accepted": self._accepted,
            "commands_rejected": self._rejected,
        }
        values.update({f"{c}_fps": f"{m.rate():.1f}" for c, m in self._camera_meters.items()})
        return level, message, values

    def destroy_node(self) -> None:
        self._physics_stop.set()
        self._physics_thread.join()
        try:
            self.sim.close()
        except KeyboardInterrupt:  # the SIGINT that ended spin() can be delivered here; finish closing
            self.sim.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console script ``sim_node``."""
    return run_node(SimNode, args, num_threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    raise SystemExit(main())
