"""ROS 2 lifecycle node ``franky_bridge``: a real Franka (through franky) behind vjepa2_sim's interface.

Same services and topics as ``sim_node`` where they overlap (``~/execute_action``, ``~/stop``,
``servo_node/delta_twist_cmds``, ``~/gripper/width_cmd``, ``~/gripper/closure_cmd``, the franka_ros2 state
topics), so the planner can target either; plus ``~/recover`` for robot errors. Connects on activate. State
is read and published on a thread of its own, which also notices a lost connection and reconnects with
back-off; ``~/execute_action`` waits in its own (reentrant) group, so ``~/stop`` and the twist stream
still get through. See README.md.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from vjepa2_common import names
from vjepa2_common.diagnostics import ERROR, OK, WARN, RateMeter
from vjepa2_common.lifecycle import ManagedNode
from vjepa2_common.limits_params import LimitsParams
from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, namespace, param, read_parameters
from vjepa2_core.limits import CommandError, check_closure, check_timeout
from vjepa2_franka.bridge import (
    REALTIME_POLICIES,
    BridgeConfig,
    FrankyBridge,
    RobotConnectionLost,
    RobotError,
    width_from_closure,
)
from vjepa2_msgs.srv import ExecuteAction

NODE_NAME = names.FRANKY_NODE
EXECUTOR_THREADS = 4  # ~/execute_action holds one while it waits; the others serve ~/stop, twists and state
BEST_EFFORT_1 = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
_WARN_THROTTLE_S = 1.0
# how long franky holds a twist without a renewal: the robot-side backstop behind the twist_timeout watchdog
_TWIST_HOLD_S = 0.5
_HALTED_SPEED = 1e-4  # [m/s] commanded TCP speed at which a halt has braked


@dataclass
class BridgeParams:
    """Parameters of ``franky_bridge`` (``autostart`` and ``diagnostics_period_s`` come from ManagedNode)."""

    robot_ip: str = param("172.16.0.2", "Franka control (FCI) address; 127.0.0.1 for franky-sim", configure=True)
    arm_id: str = param("panda", "Prefix of frame and joint names (panda_link0, panda_joint1, ...)", configure=True)
    dynamics_factor: float = param(
        0.1, "franky relative dynamics factor (scales velocity, acceleration, jerk)", min=0.01, max=1.0, configure=True
    )
    halt_dynamics_factor: float = param(
        0.5,
        "Dynamics factor of the halt after a stale twist (brakes harder than it sped up)",
        min=0.01,
        max=1.0,
        configure=True,
    )
    realtime_policy: str = param(
        "enforce",
        "enforce: refuse to run without a real-time kernel; ignore: run anyway (franky-sim, tests)",
        choices=REALTIME_POLICIES,
        configure=True,
    )
    state_rate: float = param(200.0, "Joint state / pose publishing rate [Hz]", min=1.0, max=1000.0, configure=True)
    twist_timeout: float = param(
        0.1, "A twist is dropped (arm halted) this long after it arrives unless renewed [s]", min=0.01, max=5.0
    )
    settle_timeout: float = param(
        10.0, "~/execute_action default timeout (timeout_s = 0) [s]", min=0.1, max=60.0, configure=True
    )
    position_tolerance: float = param(
        0.002, "An action that settles within this of its target succeeds [m]", min=1e-4, max=0.05, configure=True
    )
    gripper_speed: float = param(0.05, "Gripper speed [m/s]", min=0.001, max=0.2, configure=True)
    reconnect_min_s: float = param(0.5, "First reconnection back-off [s]; doubles per failure", min=0.05, max=60.0)
    reconnect_max_s: float = param(5.0, "Longest reconnection back-off [s]", min=0.1, max=300.0)
    limits: LimitsParams = namespace(LimitsParams)


class FrankyBridgeNode(ManagedNode):
    """Lifecycle node ``franky_bridge``; see the module docstring and README.md."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.settings = declare_parameters(self, BridgeParams, frozen_state=self.configured_state)
        self.bridge: FrankyBridge | None = None
        self._worker: threading.Thread | None = None
        self._stop_worker = threading.Event()
        self._execute_lock = threading.Lock()
        self._twist_deadline: float | None = None  # monotonic time the current twist goes stale
        self._connection = ("not connected", ERROR)
        self._rate = RateMeter()
        self._counts = {"accepted": 0, "rejected": 0, "reconnects": 0, "stale_twist_halts": 0}
        commands = MutuallyExclusiveCallbackGroup()
        self._joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self._pose_pub = self.create_publisher(
            PoseStamped, "franka_robot_state_broadcaster/current_pose", BEST_EFFORT_1
        )
        self._gripper_pub = self.create_publisher(JointState, "franka_gripper/joint_states", 10)
        self.create_subscription(
            TwistStamped, "servo_node/delta_twist_cmds", self._on_twist, 10, callback_group=commands
        )
        self.create_subscription(Float64, "~/gripper/width_cmd", self._on_width, 10, callback_group=commands)
        self.create_subscription(Float64, "~/gripper/closure_cmd", self._on_closure, 10, callback_group=commands)
        self.create_service(
            ExecuteAction, "~/execute_action", self._on_execute_action, callback_group=ReentrantCallbackGroup()
        )
        self.create_service(Trigger, "~/stop", self._on_stop, callback_group=commands)
        self.create_service(Trigger, "~/recover", self._on_recover, callback_group=commands)
        self.diagnostics.add("robot", self._status)

    # ------------------------------------------------------------------ lifecycle
    def do_configure(self) -> None:
        s = self.settings = read_parameters(self, BridgeParams)
        limits = s.limits.limits()
        self.bridge = FrankyBridge(
            BridgeConfig(
                hostname=s.robot_ip,
                dynamics_factor=s.dynamics_factor,
                halt_dynamics_factor=s.halt_dynamics_factor,
                realtime_policy=s.realtime_policy,
                limits=limits,
                position_tolerance=s.position_tolerance,
                gripper_speed=s.gripper_speed,
            )
        )
        arm = s.arm_id
        self.base_frame = f"{arm}_link0"
        self._joint_names = [f"{arm}_joint{i}" for i in range(1, 8)]
        self._finger_names = [f"{arm}_finger_joint1", f"{arm}_finger_joint2"]

    def do_activate(self) -> None:
        assert self.bridge is not None
        self.bridge.connect()  # a robot that is not there fails the activation, with the reason
        self._connection = ("connected", OK)
        self.get_logger().info(f"connected to the Franka at {self.settings.robot_ip}")
        self._stop_worker.clear()
        self._worker = threading.Thread(target=self._state_loop, name="franky-state", daemon=True)
        self._worker.start()

    def do_deactivate(self) -> None:
        self._stop_worker.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self.bridge is not None:
            try:
                self.bridge.stop()
            except RobotConnectionLost:
                pass
            self.bridge.disconnect()
        self._connection = ("not connected", ERROR)

    def do_cleanup(self) -> None:
        self.bridge = None

    # ------------------------------------------------------------------ state thread
    def _state_loop(self) -> None:
        """Publish state at ``state_rate``, halt stale twists, and reconnect with back-off after a loss."""
        period = 1.0 / self.settings.state_rate
        backoff = self.settings.reconnect_min_s
        next_tick = time.monotonic()
        loss_reported = halting = False
        while not self._stop_worker.is_set() and self.context.ok():
            bridge = self.bridge
            if bridge is None:
                return
            if not bridge.connected:
                if not loss_reported:
                    loss_reported = True
                    self._twist_deadline = None
                    self._connection = (f"{bridge.lost_reason}; stopped commanding; reconnecting", ERROR)
                    self.get_logger().error(f"{bridge.lost_reason}; stopped commanding; reconnecting with back-off")
                try:
                    bridge.connect()
                except RobotConnectionLost as exc:
                    lost = f"{bridge.lost_reason}; stopped commanding; " if bridge.lost_reason else ""
                    self._connection = (f"{lost}reconnecting: {exc}; next try in {backoff:.1f} s", ERROR)
                    self._stop_worker.wait(backoff)
                    backoff = min(2 * backoff, self.settings.reconnect_max_s)
                    continue
                backoff, loss_reported = self.settings.reconnect_min_s, False
                self._counts["reconnects"] += 1
                self._connection = ("connected (reconnected)", OK)
                self.get_logger().info(f"reconnected to the Franka at {self.settings.robot_ip}")
                next_tick = time.monotonic()
            try:
                deadline = self._twist_deadline
                if deadline is not None and time.monotonic() >= deadline:
                    self._twist_deadline = None
                    try:
                        bridge.halt()
                        halting = True
                        self._counts["stale_twist_halts"] += 1
                        self.get_logger().info(
                            f"twist stream stale (none for {self.settings.twist_timeout} s): halting"
                        )
                    except RobotError as exc:
                        self.get_logger().error(str(exc), throttle_duration_sec=_WARN_THROTTLE_S)
                snapshot = bridge.snapshot()
                if halting and self._twist_deadline is None and snapshot.commanded_tcp_speed < _HALTED_SPEED:
                    halting = False
                    bridge.stop()  # braked: end the motion so that the arm holds its joints
                self._publish(snapshot)
            except RobotConnectionLost as exc:
                self._connection = (f"{exc}; stopped commanding; reconnecting", ERROR)
                continue  # logged once, above
            except Exception as exc:  # a bug must not silently stop the state stream
                if not self.context.ok():
                    return
                self.get_logger().error(f"state update failed: {exc!r}", throttle_duration_sec=_WARN_THROTTLE_S)
            next_tick += period
            self._stop_worker.wait(max(0.0, next_tick - time.monotonic()))
            next_tick = max(next_tick, time.monotonic() - period)  # never try to catch up more than one tick

    def _publish(self, snap: Any) -> None:
        stamp = self.get_clock().now().to_msg()
        joints = JointState(
            name=self._joint_names + self._finger_names,
            position=[*snap.joint_positions.tolist(), snap.gripper_width / 2, snap.gripper_width / 2],
            velocity=[*snap.joint_velocities.tolist(), 0.0, 0.0],
            effort=[*snap.joint_efforts.tolist(), 0.0, 0.0],
        )
        joints.header.stamp = stamp
        self._joint_pub.publish(joints)
        gripper = JointState(
            name=self._finger_names, position=joints.position[7:], velocity=[0.0, 0.0], effort=[0.0, 0.0]
        )
        gripper.header.stamp = stamp
        self._gripper_pub.publish(gripper)
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, self.base_frame
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in snap.position)
        o = pose.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in snap.quat_xyzw)
        self._pose_pub.publish(pose)
        self._rate.tick()

    # ------------------------------------------------------------------ commands
    def _refuse(self, what: str, exc: Exception) -> str:
        self._counts["rejected"] += 1
        message = f"rejected {what}: {exc}"
        self.get_logger().warning(message, throttle_duration_sec=_WARN_THROTTLE_S)
        return message

    def _active_bridge(self) -> FrankyBridge:
        if self.state_label != "active" or self.bridge is None:
            raise CommandError(f"the node is {self.state_label}; activate it first (vjepa2-lifecycle)")
        return self.bridge

    def _on_twist(self, msg: TwistStamped) -> None:
        try:
            bridge = self._active_bridge()
            frame = msg.header.frame_id
            if frame not in ("", self.base_frame, f"{self.settings.arm_id}_hand_tcp"):
                raise CommandError(
                    f"frame_id '{frame}' unknown; use {self.base_frame} or {self.settings.arm_id}_hand_tcp"
                )
            lin, ang = msg.twist.linear, msg.twist.angular
            timeout = self.settings.twist_timeout
            reasons = bridge.send_twist(
                [lin.x, lin.y, lin.z],
                [ang.x, ang.y, ang.z],
                max(_TWIST_HOLD_S, timeout),
                ee_frame=frame.endswith("_hand_tcp"),
            )
            self._twist_deadline = time.monotonic() + timeout
            self._counts["accepted"] += 1
            if reasons:
                self.get_logger().warning(
                    f"twist changed: {'; '.join(reasons)}", throttle_duration_sec=_WARN_THROTTLE_S
                )
        except (CommandError, RobotError, RobotConnectionLost) as exc:
            self._refuse("twist", exc)

    def _on_width(self, msg: Float64) -> None:
        try:
            self._active_bridge().move_gripper(msg.data)
            self._counts["accepted"] += 1
        except (CommandError, RobotError, RobotConnectionLost) as exc:
            self._refuse("gripper width", exc)

    def _on_closure(self, msg: Float64) -> None:
        try:
            self._active_bridge().move_gripper(width_from_closure(check_closure(msg.data)))
            self._counts["accepted"] += 1
        except (CommandError, RobotError, RobotConnectionLost) as exc:
            self._refuse("gripper closure", exc)

    def _on_execute_action(
        self, request: ExecuteAction.Request, response: ExecuteAction.Response
    ) -> ExecuteAction.Response:
        """Move by the 7-D action and reply when it settled, failed or timed out (one call at a time)."""
        if not self._execute_lock.acquire(blocking=False):
            response.message = self._refuse("action", "another ~/execute_action is still running (one at a time)")
            return response
        try:
            bridge = self._active_bridge()
            timeout = check_timeout(request.timeout_s) or self.settings.settle_timeout
            self._twist_deadline = None
            result = bridge.execute_action(np.asarray(request.action, dtype=float), timeout)
        except (CommandError, RobotError) as exc:
            response.message = self._refuse("action", exc) + "; no motion"
            return response
        except RobotConnectionLost as exc:
            response.message = f"failed: {exc}; stopped commanding, reconnecting (see /diagnostics)"
            return response  # the state thread logs the loss once
        finally:
            self._execute_lock.release()
        self._counts["accepted"] += 1
        response.success, response.settled, response.message = result.success, result.settled, result.message
        response.state = [float(v) for v in result.state]
        response.position_error_m = float(result.position_error)
        response.elapsed_s = float(result.elapsed)
        if not result.success:
            self.get_logger().warning(f"action: {result.message}", throttle_duration_sec=_WARN_THROTTLE_S)
        return response

    def _on_stop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            self._twist_deadline = None
            self._active_bridge().stop()
        except (CommandError, RobotConnectionLost) as exc:
            response.success, response.message = False, f"cannot stop: {exc}"
            return response
        response.success, response.message = True, "stopped, holding the current pose"
        return response

    def _on_recover(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            cleared = self._active_bridge().recover()
        except (CommandError, RobotError, RobotConnectionLost) as exc:
            response.success, response.message = False, f"recovery failed: {exc}"
            return response
        self.get_logger().info(f"recovered from: {cleared}")
        response.success, response.message = True, f"recovered from: {cleared}"
        return response

    def _status(self) -> tuple[int, str, dict[str, object]]:
        message, level = self._connection
        if level == OK and self.bridge is not None and self.bridge.robot_error:
            message, level = f"robot error: {self.bridge.robot_error}; call ~/recover", WARN
        values = {"robot_ip": self.settings.robot_ip, "state_rate_hz": f"{self._rate.rate():.1f}", **self._counts}
        return level, message, values

    def destroy_node(self) -> None:
        self._stop_worker.set()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console script ``franky_bridge``."""
    return run_node(FrankyBridgeNode, args, num_threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    raise SystemExit(main())
