"""Limits and checks of end-effector motion commands (no ROS, no MuJoCo, no torch): shared by the simulator,
its ROS node and the planner's safety layer.

Every check raises :class:`CommandError` with a message that says what was wrong and what is allowed; callers
must not change any state before all checks of a command have passed. The defaults of :class:`CommandLimits`
are the only place the limit values are written (node parameters, YAML files and READMEs are checked
against them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vjepa2_core.conventions import ACTION_DIM, STATE_DIM

GRIPPER_MAX_WIDTH = 0.08  # [m] Franka Hand opening when fully open (closure 0)


class CommandError(ValueError):
    """A command was rejected; nothing was changed."""


@dataclass(frozen=True)
class CommandLimits:
    """Limits applied to every motion command.

    The default translation limit (0.15 m) admits V-JEPA 2-AC's CEM proposals, which clip each axis to
    ``max_step_per_axis`` = 0.075 m (an L-infinity box whose corner is 0.13 m away), and rejects anything larger.
    """

    max_delta_translation: float = 0.15  # [m] Euclidean norm of one delta command
    max_delta_rotation: float = 0.8  # [rad] norm of the extrinsic-XYZ Euler vector of one delta command
    max_linear_speed: float = 0.5  # [m/s] twist commands
    max_angular_speed: float = 1.5  # [rad/s] twist commands
    workspace_min: tuple[float, float, float] = (0.3, -0.3, 0.015)  # [m] TCP box in panda_link0
    workspace_max: tuple[float, float, float] = (0.7, 0.3, 0.55)  # [m]
    max_step_per_axis: float = 0.075  # [m] per-axis box on a planned action's Δx, Δy, Δz (the paper's CEM bound)

    def __post_init__(self) -> None:
        for name in (
            "max_delta_translation",
            "max_delta_rotation",
            "max_linear_speed",
            "max_angular_speed",
            "max_step_per_axis",
        ):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"CommandLimits.{name} must be a positive number, got {value}")
        lo, hi = np.asarray(self.workspace_min, float), np.asarray(self.workspace_max, float)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(np.isfinite(lo) & np.isfinite(hi) & (lo < hi)):
            raise ValueError(
                f"workspace_min {self.workspace_min} must be below workspace_max "
                f"{self.workspace_max} on every axis (3 finite numbers each)"
            )
        if lo[2] < 0.0:
            raise ValueError(f"workspace_min z = {lo[2]} would put the TCP below the table top (z = 0)")


def finite_vector(name: str, value: Sequence[float] | np.ndarray, size: int) -> np.ndarray:
    """``value`` as a float array of shape (size,); :class:`CommandError` if it is not that or not finite."""
    try:
        arr = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"{name} must be {size} numbers, got {value!r}") from exc
    if arr.shape != (size,):
        raise CommandError(f"{name} must have {size} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise CommandError(f"{name} contains NaN or inf: {arr.tolist()}")
    return arr


def unit_quaternion(name: str, quat_xyzw: Sequence[float] | np.ndarray) -> np.ndarray:
    """Normalised (x, y, z, w) quaternion; rejects zero or clearly non-unit input (1 % tolerance)."""
    q = finite_vector(name, quat_xyzw, 4)
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > 0.01:
        raise CommandError(
            f"{name} must be a unit quaternion (x, y, z, w), its norm is {norm:.4g}; use (0, 0, 0, 1) for no rotation"
        )
    return q / norm


_DELTA_CHECKS = (("translation delta", "max_delta_translation", "m"), ("rotation delta", "max_delta_rotation", "rad"))
_TWIST_CHECKS = (("linear velocity", "max_linear_speed", "m/s"), ("angular velocity", "max_angular_speed", "rad/s"))


def _check_vectors(
    limits: CommandLimits, checks: tuple[tuple[str, str, str], ...], *values: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Each value as a finite 3-vector whose norm is within the limit its ``(name, limit field, unit)`` names."""
    vectors = tuple(finite_vector(name, value, 3) for (name, _, _), value in zip(checks, values))
    for vector, (name, field, unit) in zip(vectors, checks):
        norm, limit = float(np.linalg.norm(vector)), getattr(limits, field)
        if norm > limit:
            shown = np.round(vector, 4).tolist()
            raise CommandError(f"{name} {shown} {unit} has norm {norm:.3f} {unit}, above {field} = {limit} {unit}")
    return vectors


def check_delta(
    dxyz: Sequence[float], drot_xyz: Sequence[float], limits: CommandLimits
) -> tuple[np.ndarray, np.ndarray]:
    """Validate an end-effector delta (translation [m], extrinsic-xyz Euler rotation [rad])."""
    return _check_vectors(limits, _DELTA_CHECKS, dxyz, drot_xyz)


def check_twist(
    linear: Sequence[float], angular: Sequence[float], limits: CommandLimits
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a twist (m/s, rad/s)."""
    return _check_vectors(limits, _TWIST_CHECKS, linear, angular)


def check_closure(closure: float) -> float:
    """Gripper closure in [0, 1] (0 = open, 1 = closed, the DROID convention)."""
    c = finite_vector("gripper closure", [closure], 1)[0]
    if not 0.0 <= c <= 1.0:
        raise CommandError(f"gripper closure must be in [0, 1] (0 = open, 1 = closed), got {c}")
    return float(c)


def check_width(width: float) -> float:
    """Gripper opening width in [0, 0.08] m (franka_gripper Move semantics)."""
    w = finite_vector("gripper width", [width], 1)[0]
    if not 0.0 <= w <= GRIPPER_MAX_WIDTH:
        raise CommandError(f"gripper width must be in [0, {GRIPPER_MAX_WIDTH}] m, got {w}")
    return float(w)


def in_workspace(pos: np.ndarray, limits: CommandLimits) -> bool:
    """True if ``pos`` lies in the workspace box."""
    return bool(np.all(pos >= limits.workspace_min) and np.all(pos <= limits.workspace_max))


def clamp_to_workspace(pos: np.ndarray, limits: CommandLimits) -> tuple[np.ndarray, bool]:
    """Clamp a TCP position into the workspace box; also report whether it had to be moved."""
    clamped = np.clip(pos, limits.workspace_min, limits.workspace_max)
    return clamped, bool(np.any(clamped != pos))


def clip_action(
    action7: Sequence[float] | np.ndarray, state7: Sequence[float] | np.ndarray, limits: CommandLimits
) -> tuple[np.ndarray, list[str]]:
    """Bring a planned 7-D action within the limits from ``state7``; return it and why it was changed.

    Each translation axis is clipped to ±``max_step_per_axis``, the rotation delta scaled down to
    ``max_delta_rotation``, the gripper delta limited so the target closure stays in [0, 1], and the
    translation shortened so the resulting position lies in the workspace box. NaN/Inf raise :class:`CommandError`.
    An empty reason list means the action was returned unchanged.
    """
    a = finite_vector("action", action7, ACTION_DIM)
    s = finite_vector("state", state7, STATE_DIM)
    reasons: list[str] = []
    step = limits.max_step_per_axis
    if np.any(np.abs(a[:3]) > step):
        reasons.append(f"translation {np.round(a[:3], 4).tolist()} m clipped to ±{step} m per axis")
        a[:3] = np.clip(a[:3], -step, step)
    rot_norm = float(np.linalg.norm(a[3:6]))
    if rot_norm > limits.max_delta_rotation:
        reasons.append(f"rotation delta {rot_norm:.3f} rad scaled to max_delta_rotation = {limits.max_delta_rotation}")
        a[3:6] *= limits.max_delta_rotation / rot_norm
    grip = float(np.clip(s[6] + a[6], 0.0, 1.0))
    if grip != s[6] + a[6]:
        reasons.append(f"gripper target {s[6] + a[6]:.3f} clipped to {grip:.3f} (closure in [0, 1])")
        a[6] = grip - s[6]
    target, moved = clamp_to_workspace(s[:3] + a[:3], limits)
    if moved:
        reasons.append(
            f"target position {np.round(s[:3] + a[:3], 4).tolist()} m clamped into the workspace "
            f"{list(limits.workspace_min)}..{list(limits.workspace_max)}"
        )
        a[:3] = target - s[:3]
    return a, reasons
