"""ROS-free bridge to a Franka through franky: 7-D actions, twists, gripper and state, every command checked.

Actions follow the V-JEPA 2-AC convention (:mod:`vjepa2_core.conventions`) and are clipped by the shared
safety module (:mod:`vjepa2_core.limits`) before they become franky motions. A lost connection
(:class:`RobotConnectionLost`) stops all commanding until :meth:`FrankyBridge.connect` succeeds again; a
robot error (a reflex, a rejected motion) is kept in :attr:`FrankyBridge.robot_error` and every motion
command is refused until :meth:`FrankyBridge.recover`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from vjepa2_core.conventions import apply_action, state_from_pose
from vjepa2_core.limits import (
    GRIPPER_MAX_WIDTH,
    CommandLimits,
    check_delta,
    check_twist,
    check_width,
    clamp_to_workspace,
    clip_action,
    finite_vector,
)

REALTIME_POLICIES = ("enforce", "ignore")
_POLL_S = 0.002  # how often a blocking action looks at the motion
_STOP_JOIN_S = 5.0  # longest wait for a motion preempted by our own robot.stop() to end
# franky restarts its velocity profile on every preempting motion (a 20 ms stream of one twist covers ~half the
# distance), so an unchanged twist is re-sent only when half of its hold time is over
_TWIST_SAME = 1e-4  # [m/s, rad/s] twists closer than this are the same command


class RobotConnectionLost(RuntimeError):
    """The robot (or simulator) stopped answering; nothing is commanded until it is reconnected."""


class RobotError(RuntimeError):
    """The robot refused or aborted a motion (reflex, limit violation); call recover() before moving on."""


@dataclass(frozen=True)
class BridgeConfig:
    """How to reach and drive the robot."""

    hostname: str = "172.16.0.2"
    dynamics_factor: float = 0.1  # franky relative dynamics factor of every motion (velocity, acceleration, jerk)
    halt_dynamics_factor: float = 0.5  # the same for halting a stale twist stream (braking harder than it sped up)
    realtime_policy: str = "enforce"  # 'ignore' only without a real-time kernel (tests, franky-sim)
    limits: CommandLimits = field(default_factory=CommandLimits)
    position_tolerance: float = 0.002  # [m] an action within this of its target is a success
    gripper_speed: float = 0.05  # [m/s]
    gripper_timeout: float = 5.0  # [s] a gripper motion still running after this long fails the action


@dataclass
class RobotSnapshot:
    """One reading of the robot: arm joints, TCP pose in the base frame, gripper opening."""

    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    joint_efforts: np.ndarray
    position: np.ndarray
    quat_xyzw: np.ndarray
    gripper_width: float
    commanded_tcp_speed: float = 0.0  # [m/s] of the running motion's profile (0 once a halt has braked)

    @property
    def closure(self) -> float:
        """Gripper closure in [0, 1] (0 = open, 1 = closed)."""
        return float(np.clip(1.0 - self.gripper_width / GRIPPER_MAX_WIDTH, 0.0, 1.0))

    def state7(self) -> np.ndarray:
        return state_from_pose(self.position, self.quat_xyzw, self.closure)


@dataclass
class ActionResult:
    """What :meth:`FrankyBridge.execute_action` reports (the fields of ExecuteAction's response)."""

    success: bool
    settled: bool
    message: str
    state: np.ndarray
    position_error: float
    elapsed: float


def width_from_closure(closure: float) -> float:
    return float(np.clip(1.0 - closure, 0.0, 1.0) * GRIPPER_MAX_WIDTH)


class FrankyBridge:
    """A Franka arm and hand through franky. Thread-safe: state reads and commands may come from any thread."""

    def __init__(self, config: BridgeConfig) -> None:
        if config.realtime_policy not in REALTIME_POLICIES:
            raise ValueError(f"realtime_policy must be one of {REALTIME_POLICIES}, got {config.realtime_policy!r}")
        self.config = config
        self.robot_error = ""
        self.lost_reason = ""  # why the connection was lost, until a reconnect succeeds
        self._robot = None
        self._gripper = None
        self._lock = threading.RLock()  # commands and (re)connection
        self._interrupt = 0  # bumped by stop(): ends a waiting execute_action
        self._own_stop = False  # robot.stop() was called: franky raises that preemption at the next move
        self._last_twist: tuple[np.ndarray, float] | None = None  # (linear+angular, monotonic send time)

    # ------------------------------------------------------------------ connection
    @property
    def connected(self) -> bool:
        return self._robot is not None

    def connect(self) -> None:
        """Connect to the arm and the hand; raises RobotConnectionLost with the reason if either fails."""
        import franky

        with self._lock:
            self.disconnect()
            policy = (
                franky.RealtimeConfig.Ignore
                if self.config.realtime_policy == "ignore"
                else franky.RealtimeConfig.Enforce
            )
            try:
                # the global factor stays 1: each motion carries its own (a halt may brake harder than it moved)
                robot = franky.Robot(self.config.hostname, realtime_config=policy)
                gripper = franky.Gripper(self.config.hostname)
            except franky.RealtimeException as exc:
                raise RobotConnectionLost(
                    f"{exc}; on a machine without a real-time kernel set realtime_policy to 'ignore' (not on a real "
                    "robot: control jitter triggers reflexes)"
                ) from exc
            except Exception as exc:
                raise RobotConnectionLost(f"cannot connect to the Franka at {self.config.hostname}: {exc}") from exc
            self._robot, self._gripper = robot, gripper
            self.robot_error = self.lost_reason = ""

    def disconnect(self) -> None:
        with self._lock:
            self._robot = self._gripper = None  # franky closes the connections when the objects go

    def _lost(self, exc: Exception) -> RobotConnectionLost:
        self.disconnect()
        self.lost_reason = f"connection to the Franka at {self.config.hostname} lost: {exc}"
        return RobotConnectionLost(self.lost_reason)

    def _require(self):
        robot = self._robot
        if robot is None:
            raise RobotConnectionLost(f"not connected to the Franka at {self.config.hostname} (reconnecting)")
        return robot

    def _require_no_error(self) -> None:
        if self.robot_error:
            raise RobotError(f"robot error: {self.robot_error}; call ~/recover once the cause is cleared")

    # ------------------------------------------------------------------ state
    def snapshot(self) -> RobotSnapshot:
        """Read the arm and the hand; RobotConnectionLost if the robot does not answer."""
        import franky

        robot, gripper = self._require(), self._gripper
        try:
            state = robot.state
            pose = state.O_T_EE
            width = float(gripper.width)
        except (franky.NetworkException, franky.ProtocolException) as exc:
            raise self._lost(exc) from exc
        return RobotSnapshot(
            joint_positions=np.asarray(state.q, dtype=float),
            joint_velocities=np.asarray(state.dq, dtype=float),
            joint_efforts=np.asarray(state.tau_J, dtype=float),
            position=np.asarray(pose.translation, dtype=float),
            quat_xyzw=np.asarray(pose.quaternion, dtype=float),
            gripper_width=width,
            commanded_tcp_speed=float(np.linalg.norm(np.asarray(state.O_dP_EE_d.linear, dtype=float))),
        )

    # ------------------------------------------------------------------ commands
    def execute_action(self, action7: np.ndarray, timeout: float) -> ActionResult:
        """Move by one 7-D delta (clipped into the limits) and wait until the arm and hand settle or ``timeout``."""
        import franky

        action = finite_vector("action (dx dy dz drx dry drz dgripper)", action7, 7)
        check_delta(action[:3], action[3:6], self.config.limits)
        with self._lock:
            robot = self._require()
            self._require_no_error()
            start = self.snapshot()
            clipped, reasons = clip_action(action, start.state7(), self.config.limits)
            target = apply_action(start.state7(), clipped)
            quat = (Rotation.from_euler("xyz", clipped[3:6]) * Rotation.from_quat(start.quat_xyzw)).as_quat()
            interrupt = self._interrupt
            self._last_twist = None
            began = time.monotonic()
            self._start(
                robot,
                franky.CartesianMotion(
                    franky.Affine(target[:3], quat),
                    franky.ReferenceType.Absolute,
                    relative_dynamics_factor=self.config.dynamics_factor,
                ),
            )
            try:
                grip = None
                if abs(clipped[6]) > 1e-6:
                    grip = self._gripper.move_async(width_from_closure(target[6]), self.config.gripper_speed)
            except (franky.NetworkException, franky.ProtocolException) as exc:
                raise self._lost(exc) from exc
        note = f" ({'; '.join(reasons)})" if reasons else ""
        deadline = began + timeout
        done = False
        try:
            while time.monotonic() < deadline and self._interrupt == interrupt:
                if robot.poll_motion() and (grip is None or grip.wait(0)):
                    done = True
                    break
                time.sleep(_POLL_S)
            if not done and self._interrupt == interrupt:
                robot.stop()
                self._own_stop = True
                self._consume_own_stop(robot)  # "holding the pose": the braking is over when this returns
        except franky.ControlException as exc:
            if self._interrupt != interrupt:
                done = False  # stopped by stop(): the preemption is ours
            else:
                self.robot_error = str(exc)
                return self._result(False, True, f"robot error: {exc}; call ~/recover{note}", target, began)
        except (franky.NetworkException, franky.ProtocolException) as exc:
            raise self._lost(exc) from exc
        if self._interrupt != interrupt:
            return self._result(False, True, "stopped by ~/stop", target, began)
        if not done:
            return self._result(
                False,
                False,
                f"timed out: not settled within {timeout:.3g} s; stopped, holding the pose{note}",
                target,
                began,
            )
        result = self._result(True, True, "", target, began)
        if result.position_error > self.config.position_tolerance:
            result.success = False
            result.message = f"settled {result.position_error * 1e3:.1f} mm from the target{note}"
        else:
            result.message = f"reached{note}"
        return result

    def _result(self, success: bool, settled: bool, message: str, target: np.ndarray, began: float) -> ActionResult:
        try:
            now = self.snapshot()
            state, error = now.state7(), float(np.linalg.norm(now.position - target[:3]))
        except RobotConnectionLost:
            state, error = np.full(7, np.nan), float("nan")
        return ActionResult(success, settled, message, state, error, time.monotonic() - began)

    def send_twist(self, linear: np.ndarray, angular: np.ndarray, hold_s: float, ee_frame: bool = False) -> list[str]:
        """Drive the TCP at this twist for ``hold_s`` (renewed by the next call); return why it was changed.

        Components that would carry the TCP out of the workspace box within ``hold_s`` are zeroed.
        """
        import franky

        lin, ang = check_twist(linear, angular, self.config.limits)
        with self._lock:
            robot = self._require()
            self._require_no_error()
            try:
                pose = robot.current_pose.end_effector_pose
            except (franky.NetworkException, franky.ProtocolException) as exc:
                raise self._lost(exc) from exc
            if ee_frame:
                rot = Rotation.from_quat(np.asarray(pose.quaternion, dtype=float))
                lin, ang = rot.apply(lin), rot.apply(ang)
            position = np.asarray(pose.translation, dtype=float)
            reasons = []
            _, leaves = clamp_to_workspace(position + lin * hold_s, self.config.limits)
            if leaves:
                lo, hi = np.asarray(self.config.limits.workspace_min), np.asarray(self.config.limits.workspace_max)
                outward = ((position + lin * hold_s < lo) & (lin < 0)) | ((position + lin * hold_s > hi) & (lin > 0))
                lin = np.where(outward, 0.0, lin)
                reasons.append("linear velocity towards the workspace boundary zeroed")
            command, now = np.concatenate([lin, ang]), time.monotonic()
            if self._last_twist is not None:
                sent, at = self._last_twist
                if np.max(np.abs(command - sent)) < _TWIST_SAME and now - at < hold_s / 2:
                    return reasons  # the running motion already drives this twist
            motion = franky.CartesianVelocityMotion(
                franky.RobotVelocity(franky.Twist(lin, ang)),
                duration=franky.Duration(max(1, round(hold_s * 1e3))),
                relative_dynamics_factor=self.config.dynamics_factor,
            )
            self._start(robot, motion)
            self._last_twist = (command, now)
        return reasons

    def _consume_own_stop(self, robot: object) -> None:
        """franky raises the preemption of a motion by ``robot.stop()`` (a ControlException, "Move command
        preempted") at the next ``poll_motion``/``join_motion``/``move``: take it here, where it is known to be ours,
        so that it is not mistaken for a robot error by the next command."""
        import franky

        if not self._own_stop:
            return
        self._own_stop = False
        try:
            robot.join_motion(_STOP_JOIN_S)
        except franky.ControlException:
            pass
        except (franky.NetworkException, franky.ProtocolException) as exc:
            raise self._lost(exc) from exc

    def _start(self, robot: object, motion: object) -> None:
        """Start ``motion`` asynchronously; a refusal becomes a RobotError, a dead link RobotConnectionLost."""
        import franky

        self._consume_own_stop(robot)
        try:
            robot.move(motion, asynchronous=True)
        except franky.ControlException as exc:
            self.robot_error = str(exc)
            raise RobotError(f"robot error: {exc}; call ~/recover") from exc
        except (franky.NetworkException, franky.ProtocolException) as exc:
            raise self._lost(exc) from exc

    def move_gripper(self, width: float, wait_s: float = 0.0) -> bool:
        """Open the hand to ``width`` [m]; with ``wait_s`` > 0 wait that long for it and return whether it finished."""
        import franky

        width = check_width(width)
        with self._lock:
            self._require()
            try:
                future = self._gripper.move_async(width, self.config.gripper_speed)
            except (franky.NetworkException, franky.ProtocolException) as exc:
                raise self._lost(exc) from exc
        return bool(future.wait(wait_s)) if wait_s > 0 else False

    def halt(self) -> None:
        """Brake a twist motion to zero velocity at ``halt_dynamics_factor`` (the stale-command halt).

        A zero twist leaves the arm's null space free: call :meth:`stop` once the braking is over to hold the joints.
        """
        import franky

        with self._lock:
            robot = self._require()
            self._last_twist = None
            motion = franky.CartesianVelocityMotion(
                franky.RobotVelocity(franky.Twist([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])),
                duration=franky.Duration(1),
                relative_dynamics_factor=self.config.halt_dynamics_factor,
            )
            self._start(robot, motion)

    def stop(self) -> None:
        """Stop the arm (decelerating) and end a waiting execute_action."""
        import franky

        self._interrupt += 1
        self._last_twist = None
        robot = self._robot
        if robot is None:
            return
        try:
            robot.stop()
            self._own_stop = True
        except (franky.NetworkException, franky.ProtocolException) as exc:
            raise self._lost(exc) from exc

    def recover(self) -> str:
        """Clear robot errors (franky recover_from_errors); returns what was cleared."""
        import franky

        with self._lock:
            robot = self._require()
            try:
                robot.recover_from_errors()
            except (franky.NetworkException, franky.ProtocolException) as exc:
                raise self._lost(exc) from exc
            except franky.CommandException as exc:
                raise RobotError(f"recovery failed: {exc}; check the robot (Desk, emergency stop)") from exc
            cleared, self.robot_error = self.robot_error or "no error", ""
        return cleared
