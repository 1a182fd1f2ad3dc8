"""ROS 2 node ``sim_node``: :class:`~vjepa2_sim.sim.FrankaSim` behind the real robot's topics.

Commands come in as MoveIt Servo does it (``servo_node/delta_twist_cmds``, ``servo_node/pose_target_cmds``),
as V-JEPA 2-AC 7-D actions (the blocking ``~/execute_action`` service, or ``~/delta_cmd`` +
``~/motion_status``) and as gripper closure/width; state goes out as franka_ros2 publishes it
(``joint_states``, ``franka_robot_state_broadcaster/current_pose``, ``franka_gripper/joint_states``) plus
camera images. See README.md for the full interface. Physics, rendering and state publishing run in one
timer on its own callback group; commands and services run in another and share the simulator under a
lock; ``~/execute_action`` waits for the motion on a third group, so ``~/stop`` still gets through.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
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

from vjepa2_common.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher, LatencyStats, RateMeter
from vjepa2_common.image import rgb_to_image
from vjepa2_common.node import run_node
from vjepa2_common.params import declare
from vjepa2_common.qos import QOS_CHOICES, qos_from_name
from vjepa2_core.limits import CommandError, CommandLimits, check_width, finite_vector, unit_quaternion
from vjepa2_msgs.srv import ExecuteAction, PlaceObject, RenderGoal
from vjepa2_sim.kinematics import width_to_closure
from vjepa2_sim.scene import CAMERAS, OBJECT_NAMES
from vjepa2_sim.sim import FrankaSim, MotionResult

WARN_THROTTLE_S = 1.0
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# franka_robot_state_broadcaster publishes its convenience topics best effort, depth 1.
BEST_EFFORT_1 = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)


def _to_time(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=sec, nanosec=round((seconds - sec) * 1e9) % 1_000_000_000)


def pose_msg_arrays(msg: PoseStamped) -> tuple[np.ndarray, np.ndarray]:
    """Position and (x, y, z, w) quaternion of a PoseStamped, validated (CommandError if not finite/unit)."""
    p, q = msg.pose.position, msg.pose.orientation
    return (finite_vector("position", [p.x, p.y, p.z], 3), unit_quaternion("orientation", [q.x, q.y, q.z, q.w]))


class SimNode(Node):
    """The simulated Franka Panda; see the module docstring and README.md."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("franka_sim", **kwargs)
        p: dict[str, Any] = {}
        limit_defaults = CommandLimits()  # the command limit defaults are written once, in vjepa2_core.limits
        p["arm_id"] = declare(
            self, "arm_id", "panda", "Prefix of frame and joint names (panda_link0, panda_joint1, ...)", read_only=True
        )
        p["seed"] = declare(
            self,
            "seed",
            0,
            "Seed of the first episode; each reset uses the next integer",
            min_value=0,
            max_value=2**31 - 1,
            read_only=True,
        )
        p["randomize"] = declare(
            self,
            "randomize",
            True,
            "Randomise object poses, lighting, exterior camera jitter and the start pose on reset",
        )
        p["image_width"] = declare(
            self, "image_width", 256, "Rendered image width [px]", min_value=16, max_value=1024, read_only=True
        )
        p["image_height"] = declare(
            self, "image_height", 256, "Rendered image height [px]", min_value=16, max_value=1024, read_only=True
        )
        p["cameras"] = declare(
            self,
            "cameras",
            ["exterior"],
            f"Cameras to publish, any of {list(CAMERAS)}; topics <camera>/image_raw and <camera>/camera_info",
            read_only=True,
        )
        p["camera_rate"] = declare(
            self,
            "camera_rate",
            10.0,
            "Image publishing rate [Hz of sim time]",
            min_value=0.1,
            max_value=60.0,
            read_only=True,
        )
        p["state_rate"] = declare(
            self,
            "state_rate",
            50.0,
            "Joint state / pose publishing rate [Hz of sim time]",
            min_value=1.0,
            max_value=500.0,
            read_only=True,
        )
        p["physics_period"] = declare(
            self,
            "physics_period",
            0.01,
            "Wall-clock period of the stepping timer [s]",
            min_value=0.002,
            max_value=0.1,
            read_only=True,
        )
        p["real_time_factor"] = declare(
            self,
            "real_time_factor",
            1.0,
            "Target sim seconds per wall second",
            min_value=0.05,
            max_value=20.0,
            read_only=True,
        )
        p["publish_clock"] = declare(
            self,
            "publish_clock",
            False,
            "Publish /clock (sim time, monotonic across resets) and stamp messages with it",
            read_only=True,
        )
        p["image_qos"] = declare(
            self, "image_qos", "sensor_data", "QoS of image and camera_info topics", choices=QOS_CHOICES, read_only=True
        )
        p["render_geometry"] = declare(
            self,
            "render_geometry",
            "visual",
            "'visual' meshes or the faster 'collision' geometry",
            choices=("visual", "collision"),
            read_only=True,
        )
        p["goal_camera"] = declare(
            self, "goal_camera", "exterior", "Camera of ~/goal_image", choices=CAMERAS, read_only=True
        )
        p["max_delta_translation"] = declare(
            self,
            "max_delta_translation",
            limit_defaults.max_delta_translation,
            "Largest accepted delta translation [m] (norm)",
            min_value=0.001,
            max_value=1.0,
            read_only=True,
        )
        p["max_delta_rotation"] = declare(
            self,
            "max_delta_rotation",
            limit_defaults.max_delta_rotation,
            "Largest accepted delta rotation [rad]",
            min_value=0.001,
            max_value=3.2,
            read_only=True,
        )
        p["max_linear_speed"] = declare(
            self,
            "max_linear_speed",
            limit_defaults.max_linear_speed,
            "Largest accepted twist speed [m/s]",
            min_value=0.001,
            max_value=2.0,
            read_only=True,
        )
        p["max_angular_speed"] = declare(
            self,
            "max_angular_speed",
            limit_defaults.max_angular_speed,
            "Largest accepted twist rate [rad/s]",
            min_value=0.001,
            max_value=5.0,
            read_only=True,
        )
        p["workspace_min"] = declare(
            self,
            "workspace_min",
            list(limit_defaults.workspace_min),
            "TCP workspace box, lower corner in the base frame [m]; targets are clamped into it",
            read_only=True,
        )
        p["workspace_max"] = declare(
            self,
            "workspace_max",
            list(limit_defaults.workspace_max),
            "TCP workspace box, upper corner [m]",
            read_only=True,
        )
        p["twist_timeout"] = declare(
            self,
            "twist_timeout",
            0.1,
            "A twist drives the arm for this long "
            "[s of sim time] unless renewed (MoveIt Servo incoming_command_timeout)",
            min_value=0.01,
            max_value=5.0,
            read_only=True,
        )
        p["cartesian_speed"] = declare(
            self,
            "cartesian_speed",
            0.25,
            "TCP speed towards delta/pose targets [m/s]",
            min_value=0.01,
            max_value=1.0,
            read_only=True,
        )
        p["angular_speed"] = declare(
            self,
            "angular_speed",
            1.0,
            "TCP rotation speed towards targets [rad/s]",
            min_value=0.01,
            max_value=3.0,
            read_only=True,
        )
        p["settle_timeout"] = declare(
            self,
            "settle_timeout",
            3.0,
            "A motion still running after this long [s of sim time] is reported as not settled",
            min_value=0.1,
            max_value=60.0,
            read_only=True,
        )
        p["asset_dir"] = declare(
            self,
            "asset_dir",
            "",
            "Cache root of the Panda model ('' = $VJEPA2_ASSET_DIR or ~/.cache/vjepa2/assets)",
            read_only=True,
        )
        unknown = [c for c in p["cameras"] if c not in CAMERAS]
        if unknown or not p["cameras"]:
            raise ValueError(f"parameter 'cameras' is {p['cameras']}; give one or more of {list(CAMERAS)}")
        self._params = p
        limits = CommandLimits(
            max_delta_translation=p["max_delta_translation"],
            max_delta_rotation=p["max_delta_rotation"],
            max_linear_speed=p["max_linear_speed"],
            max_angular_speed=p["max_angular_speed"],
            workspace_min=tuple(p["workspace_min"]),
            workspace_max=tuple(p["workspace_max"]),
        )
        self.sim = FrankaSim(
            seed=p["seed"],
            image_size=(p["image_height"], p["image_width"]),
            asset_dir=p["asset_dir"] or None,
            limits=limits,
            randomize=p["randomize"],
            render_geometry=p["render_geometry"],
            cartesian_speed=p["cartesian_speed"],
            angular_speed=p["angular_speed"],
            settle_timeout=p["settle_timeout"],
        )
        self._lock = threading.Lock()
        arm = p["arm_id"]
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
        self._camera_meters = {c: RateMeter() for c in p["cameras"]}
        self._render_latency = LatencyStats()
        self._next_state_t = self._next_camera_t = 0.0
        # (command seq, motion result) after the latest physics step, for ~/execute_action to wait on.
        self._motion_cv = threading.Condition()
        self._motion: tuple[int, MotionResult] = (self.sim.command_seq, self.sim.motion_result())

        physics = MutuallyExclusiveCallbackGroup()
        commands = MutuallyExclusiveCallbackGroup()
        image_qos = qos_from_name(p["image_qos"], depth=2)
        self._joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self._pose_pub = self.create_publisher(
            PoseStamped, "franka_robot_state_broadcaster/current_pose", BEST_EFFORT_1
        )
        self._gripper_pub = self.create_publisher(JointState, "franka_gripper/joint_states", 10)
        self._object_pubs = {n: self.create_publisher(PoseStamped, f"~/objects/{n}/pose", 10) for n in OBJECT_NAMES}
        self._image_pubs = {c: self.create_publisher(Image, f"{c}/image_raw", image_qos) for c in p["cameras"]}
        self._info_pubs = {c: self.create_publisher(CameraInfo, f"{c}/camera_info", image_qos) for c in p["cameras"]}
        self._status_pub = self.create_publisher(DiagnosticStatus, "~/motion_status", LATCHED)
        self._clock_pub = self.create_publisher(Clock, "/clock", 10) if p["publish_clock"] else None

        self.create_subscription(
            TwistStamped, "servo_node/delta_twist_cmds", self._on_twist, 10, callback_group=commands
        )
        self.create_subscription(
            PoseStamped, "servo_node/pose_target_cmds", self._on_pose_target, 10, callback_group=commands
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
        self.create_timer(p["physics_period"], self._tick, callback_group=physics)
        self._publish_status(self.sim.motion_result(), "ready")
        self.get_logger().info(
            f"simulated Franka ready: episode seed {self.sim.episode_seed}, cameras {p['cameras']} at "
            f"{p['image_width']}x{p['image_height']}, {p['camera_rate']} Hz"
        )

    # ------------------------------------------------------------------ helpers
    def _stamp(self) -> Time:
        if self._params["publish_clock"]:
            return _to_time(self._clock_offset + self.sim.time)
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
                [lin.x, lin.y, lin.z], [ang.x, ang.y, ang.z], frame=frame, duration=self._params["twist_timeout"]
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
        camera = request.camera or self._params["goal_camera"]
        with self._lock:
            try:
                self._check_frame("goal pose", request.pose.header.frame_id, (self.base_frame,))
                if camera not in CAMERAS:
                    raise CommandError(f"unknown camera '{camera}'; use one of {list(CAMERAS)}")
                pos, quat = pose_msg_arrays(request.pose)
                gripper = None if request.gripper < 0 else request.gripper
                rgb = self.sim.render_goal(pos, quat, gripper=gripper, camera=camera)
            except CommandError as exc:
                self._rejected += 1
                self._warn_throttled(f"rejected goal pose: {exc}; no goal image")
                response.success, response.message = False, f"rejected goal pose: {exc}"
                return response
        response.image = rgb_to_image(rgb, self._stamp(), f"{camera}_camera_optical_frame")
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
        """Start the action, then wait (on the physics timer's notifications) until the motion is over."""
        with self._lock:
            self._seq += 1
            try:
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
        timeout = (
            request.timeout_s
            if request.timeout_s > 0
            else (self._params["settle_timeout"] / self._params["real_time_factor"] + 2.0)
        )
        with self._motion_cv:
            # Snapshots older than this command (seq lower) do not count; a newer command preempts it.
            over = self._motion_cv.wait_for(
                lambda: self._motion[0] > seq or (self._motion[0] == seq and self._motion[1].settled), timeout
            )
            latest_seq, result = self._motion
        response.settled = bool(result.settled)
        response.success = bool(over and latest_seq == seq and result.reached)
        response.state = [float(v) for v in result.state]
        response.position_error_m = float(result.position_error)
        response.elapsed_s = float(result.elapsed)
        if latest_seq != seq:
            response.message = "preempted by a newer command"
        elif not over:
            response.message = f"not settled within {timeout:.1f} s"
        else:
            response.message = result.message
        return response

    def _on_reset(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            self._clock_offset += self.sim.time
            self.sim.randomize = bool(request.data)
            seed = self.sim.reset()
            self._next_state_t = self._next_camera_t = 0.0
            self._publish_status(self.sim.motion_result(), "reset")
        response.success = True
        response.message = f"episode seed {seed} ({'randomised' if request.data else 'nominal layout'})"
        return response

    def _on_stop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            self.sim.stop()
            self._publish_status(self.sim.motion_result(), "stop")
        response.success, response.message = True, "holding the current pose"
        return response

    # ------------------------------------------------------------------ simulation loop
    def _tick(self) -> None:
        try:
            self._step_and_publish()
        except Exception:
            if self.context.ok():
                raise
            # shutting down (SIGINT/SIGTERM): the context went away while this callback was publishing

    def _step_and_publish(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        # Keep sim time on the wall clock (times real_time_factor); never catch up more than 0.1 s at once.
        self._sim_budget = min(self._sim_budget + elapsed * self._params["real_time_factor"], 0.1)
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
                self._next_state_t = max(self._next_state_t + 1.0 / self._params["state_rate"], t)
                self._publish_state()
            if t >= self._next_camera_t:
                self._next_camera_t = max(self._next_camera_t + 1.0 / self._params["camera_rate"], t)
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
            rgb = self.sim.render(camera)
            self._render_latency.add(time.perf_counter() - start)
            frame = f"{camera}_camera_optical_frame"
            pub.publish(rgb_to_image(rgb, stamp, frame))
            self._info_pubs[camera].publish(self._camera_info_msg(camera, stamp, frame))
            self._camera_meters[camera].tick()

    def _camera_info_msg(self, camera: str, stamp: Time, frame: str) -> CameraInfo:
        info = self.sim.camera_info(camera)
        msg = CameraInfo(
            height=info.height,
            width=info.width,
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
        target = self._params["real_time_factor"]
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
        try:
            self.sim.close()
        except KeyboardInterrupt:  # the SIGINT that ended spin() can be delivered here; finish closing
            self.sim.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console script ``sim_node``."""
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
