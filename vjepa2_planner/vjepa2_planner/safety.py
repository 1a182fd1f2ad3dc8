"""The planner's safety layer: every motion the planner commands passes through here, whatever the model says.

ROS-free and model-free. The numbers and the clipping are the shared limits contract's
(:mod:`vjepa2_core.limits`); this module adds what only a running controller knows:

- no motion before the first valid end-effector state, and none from a state that is not finite;
- a watchdog: an observation (camera embedding) or a state older than ``stale_after_s`` stops all motion;
- an e-stop that latches: once asserted, motion stays blocked until :meth:`SafetyLayer.reset` is called
  while the e-stop input is released;
- a count of every rejection and clip by kind, for /diagnostics.

Thread-safe: the ROS callbacks feed it, the planner worker and the twist streamer ask it.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from vjepa2_core.conventions import EULER_SEQ
from vjepa2_core.limits import CommandError, CommandLimits, check_twist, clip_action, orientation_excess

NS_PER_S = 1_000_000_000


class MotionBlocked(RuntimeError):
    """No motion may be commanded now; the message says why and how to clear it."""


@dataclass(frozen=True)
class SafeAction:
    """An action that passed the safety layer: what to command, and what was changed on the way."""

    action: np.ndarray  # [7], V-JEPA 2-AC convention
    requested: np.ndarray  # [7], what the planner asked for
    reasons: tuple[str, ...]  # why it differs from the request (empty: unchanged)

    @property
    def clipped(self) -> bool:
        return bool(self.reasons)


class SafetyLayer:
    """Limits, freshness and e-stop in front of every command output; see the module docstring."""

    def __init__(self, limits: CommandLimits, stale_after_s: float = 0.5) -> None:
        if not (math.isfinite(stale_after_s) and stale_after_s > 0):
            raise ValueError(f"stale_after_s must be a positive number of seconds, got {stale_after_s}")
        self.limits = limits
        self.stale_after_ns = int(stale_after_s * NS_PER_S)
        self._lock = threading.Lock()
        self._state: np.ndarray | None = None
        self._state_ns: int | None = None
        self._observation_ns: int | None = None
        self._estop_input = False
        self._estop_latched = False
        self._estop_reason = ""
        self.counts: Counter[str] = Counter()

    # ------------------------------------------------------------------------------------------ inputs
    def update_state(self, state7: Sequence[float], stamp_ns: int) -> np.ndarray:
        """Record a measured end-effector state; CommandError (counted) if it is not 7 finite numbers."""
        state = np.asarray(state7, dtype=float).reshape(-1)
        if state.shape != (7,) or not np.all(np.isfinite(state)):
            self.count("invalid_state")
            raise CommandError(f"end-effector state {state.tolist()} is not 7 finite numbers; ignored")
        with self._lock:
            self._state, self._state_ns = state, int(stamp_ns)
        return state

    def note_observation(self, stamp_ns: int) -> None:
        """Record the capture stamp of the newest observation (embedding of a camera frame)."""
        with self._lock:
            self._observation_ns = max(int(stamp_ns), self._observation_ns or 0)

    def set_estop(self, asserted: bool, source: str = "e-stop topic") -> bool:
        """Feed the e-stop input; asserting latches the stop. Returns True when this call latched it."""
        with self._lock:
            self._estop_input = bool(asserted)
            if asserted and not self._estop_latched:
                self._estop_latched = True
                self._estop_reason = f"e-stop asserted on the {source}"
                self.counts["estop"] += 1
                return True
        return False

    def reset(self) -> tuple[bool, str]:
        """Clear a latched e-stop; refused while the e-stop input is still asserted."""
        with self._lock:
            if self._estop_input:
                return False, "the e-stop is still asserted: release it (publish false) first, then reset"
            was = self._estop_latched
            self._estop_latched, self._estop_reason = False, ""
        return True, "e-stop cleared: motion allowed again" if was else "no e-stop was latched"

    # ------------------------------------------------------------------------------------------ queries
    @property
    def estop_latched(self) -> bool:
        with self._lock:
            return self._estop_latched

    def state(self) -> tuple[np.ndarray | None, int | None]:
        """The newest valid state and its stamp [ns] (None, None before the first one)."""
        with self._lock:
            return (None if self._state is None else self._state.copy()), self._state_ns

    def stale_reason(self, now_ns: int, need_observation: bool = True) -> str | None:
        """Why the inputs are too old to move on at ``now_ns`` (node clock), or None when they are fresh."""
        limit_s = self.stale_after_ns / NS_PER_S
        with self._lock:
            state_ns, observation_ns = self._state_ns, self._observation_ns
        if state_ns is None:
            return "no end-effector state received yet"
        if now_ns - state_ns > self.stale_after_ns:
            return (
                f"the end-effector state is {(now_ns - state_ns) / NS_PER_S:.2f} s old (stale_after_s = {limit_s:g}); "
                "is the robot state publisher running?"
            )
        if need_observation:
            if observation_ns is None:
                return "no camera embedding received yet"
            if now_ns - observation_ns > self.stale_after_ns:
                return (
                    f"the newest camera embedding is {(now_ns - observation_ns) / NS_PER_S:.2f} s old "
                    f"(stale_after_s = {limit_s:g}); are the camera and the encoder node running?"
                )
        return None

    def block_reason(self, now_ns: int, need_observation: bool = True) -> str | None:
        """Why no motion may be commanded now (e-stop, missing or stale inputs), or None."""
        with self._lock:
            if self._estop_latched:
                return f"{self._estop_reason}; call the reset service once it is released"
        return self.stale_reason(now_ns, need_observation)

    # ------------------------------------------------------------------------------------------ commands
    def check_action(self, action7: Sequence[float], now_ns: int) -> SafeAction:
        """The action to command for ``action7`` from the newest state: clipped to the limits.

        Raises MotionBlocked (counted) when no motion is allowed, CommandError (counted) for NaN/Inf.
        """
        reason = self.block_reason(now_ns)
        if reason is not None:
            self.count("blocked")
            raise MotionBlocked(reason)
        requested = np.asarray(action7, dtype=float).reshape(-1)
        state, _ = self.state()
        try:
            clipped, reasons = clip_action(requested, state, self.limits)
        except CommandError:
            self.count("invalid_action")
            raise
        clipped = np.asarray(clipped, dtype=float)
        if np.any(clipped[3:6]):
            target = Rotation.from_euler(EULER_SEQ, clipped[3:6]) * Rotation.from_euler(EULER_SEQ, state[3:6])
            now = orientation_excess(Rotation.from_euler(EULER_SEQ, state[3:6]).as_quat(), self.limits)
            after = orientation_excess(target.as_quat(), self.limits)
            if after > 0 and after > now:
                reasons.append(
                    f"rotation delta dropped: the TCP would leave max_tcp_tilt {self.limits.max_tcp_tilt:g} / "
                    f"max_tcp_yaw {self.limits.max_tcp_yaw:g} rad by {after:.3f} rad"
                )
                clipped[3:6] = 0.0
        if reasons:
            self.count("clipped")
        return SafeAction(action=clipped, requested=requested, reasons=tuple(reasons))

    def check_twist(self, linear: Sequence[float], angular: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Scale a twist down to the speed limits (direction kept); CommandError (counted) for NaN/Inf."""
        v = np.asarray(linear, dtype=float).reshape(-1)
        w = np.asarray(angular, dtype=float).reshape(-1)
        if v.shape != (3,) or w.shape != (3,) or not (np.all(np.isfinite(v)) and np.all(np.isfinite(w))):
            self.count("invalid_twist")
            raise CommandError(f"twist {v.tolist()} m/s, {w.tolist()} rad/s is not 2 x 3 finite numbers")
        v = _scale_to(v, self.limits.max_linear_speed)
        w = _scale_to(w, self.limits.max_angular_speed)
        return check_twist(v, w, self.limits)

    def count(self, kind: str) -> None:
        """Count one rejection or clip of ``kind`` (reported in /diagnostics)."""
        with self._lock:
            self.counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def _scale_to(vector: np.ndarray, limit: float) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    # 1e-9 below the limit so that the limits module's own check never fails on rounding
    return vector * ((limit * (1 - 1e-9)) / norm) if norm > limit else vector
