"""Closed-loop twist streaming for MoveIt Servo, free of ROS: one step's target, reached by a P controller.

MoveIt Servo halts when no command arrives for ``incoming_command_timeout`` (0.1 s in the Panda config), so
while a step executes the streamer sends a twist every ``1 / rate_hz`` seconds on its own thread, each
computed from the newest measured pose and passed through the safety layer. It ends the step with zero
twists when the target is reached, the step times out, the goal is stopped or the safety layer blocks
motion (e-stop, stale inputs): then it keeps sending zeros for ``zero_hold_s`` so that the last command
the robot saw is a stop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .safety import SafetyLayer

#: ``publish(linear [3] m/s, angular [3] rad/s)``: send one TwistStamped (fresh stamp) in the base frame
PublishTwist = Callable[[np.ndarray, np.ndarray], None]
#: the newest measured TCP pose: (position [3], quaternion xyzw [4]) or None
PoseSource = Callable[[], "tuple[np.ndarray, np.ndarray] | None"]


@dataclass(frozen=True)
class ServoGains:
    rate_hz: float = 100.0
    linear_gain: float = 4.0  # [1/s]
    angular_gain: float = 3.0  # [1/s]
    position_tolerance: float = 0.004  # [m]
    rotation_tolerance: float = 0.03  # [rad]
    zero_hold_s: float = 0.1  # zeros sent after the step ends


@dataclass
class ServoOutcome:
    reached: bool
    reason: str  # "reached", "timed out ...", or why it was stopped
    commands: int  # twists sent (zeros included)
    max_gap_s: float  # longest interval between two consecutive commands


def pose_error(
    target_pos: np.ndarray, target_quat: np.ndarray, pos: np.ndarray, quat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(position error [m], rotation error as a rotation vector [rad]) from the current pose to the target."""
    rot = Rotation.from_quat(target_quat) * Rotation.from_quat(quat).inv()
    return target_pos - pos, rot.as_rotvec()


class TwistStreamer:
    """Runs one step at a time: :meth:`run` blocks its caller until the step is over."""

    def __init__(
        self, publish: PublishTwist, pose: PoseSource, safety: SafetyLayer, now_ns: Callable[[], int], gains: ServoGains
    ) -> None:
        self._publish = publish
        self._pose = pose
        self._safety = safety
        self._now_ns = now_ns
        self.gains = gains
        self._halt = threading.Event()
        self._halt_reason = ""

    def halt(self, reason: str) -> None:
        """Make a running step end with zeros at its next tick (any thread)."""
        self._halt_reason = reason
        self._halt.set()

    def run(
        self,
        target_pos: np.ndarray,
        target_quat: np.ndarray,
        timeout_s: float,
        should_stop: Callable[[], str | None],
    ) -> ServoOutcome:
        """Stream twists towards the target until reached, timed out, stopped (``should_stop`` gives a reason)."""
        g = self.gains
        period = 1.0 / g.rate_hz
        self._halt.clear()
        started = time.monotonic()
        next_tick = started
        last_sent: float | None = None
        max_gap = 0.0
        commands = 0
        outcome: tuple[bool, str] | None = None
        zero = np.zeros(3)

        def send(linear: np.ndarray, angular: np.ndarray) -> None:
            nonlocal last_sent, max_gap, commands
            now = time.monotonic()
            if last_sent is not None:
                max_gap = max(max_gap, now - last_sent)
            self._publish(linear, angular)
            last_sent, commands = now, commands + 1

        while outcome is None:
            reason = self._halt_reason if self._halt.is_set() else should_stop()
            reason = reason or self._safety.block_reason(self._now_ns())
            pose = self._pose()
            if reason:
                outcome = (False, reason)
            elif pose is None:
                outcome = (False, "no measured pose")
            else:
                dp, dr = pose_error(target_pos, target_quat, *pose)
                if np.linalg.norm(dp) <= g.position_tolerance and np.linalg.norm(dr) <= g.rotation_tolerance:
                    outcome = (True, "reached")
                elif time.monotonic() - started > timeout_s:
                    outcome = (
                        False,
                        f"target not reached within {timeout_s:g} s ({np.linalg.norm(dp) * 100:.1f} cm off)",
                    )
                else:
                    try:
                        linear, angular = self._safety.check_twist(g.linear_gain * dp, g.angular_gain * dr)
                    except ValueError as exc:
                        outcome = (False, str(exc))
                    else:
                        send(linear, angular)
            if outcome is None:
                next_tick += period
                self._halt.wait(max(0.0, next_tick - time.monotonic()))
        hold_until = time.monotonic() + g.zero_hold_s
        while True:
            send(zero, zero)
            if time.monotonic() >= hold_until:
                break
            next_tick = max(next_tick + period, time.monotonic())
            time.sleep(max(0.0, next_tick - time.monotonic()))
        return ServoOutcome(outcome[0], outcome[1], commands, max_gap)
