"""The parameter schema of the shared command limits (``vjepa2_core.limits.CommandLimits``), for every node that
commands the arm through them: the planner's safety layer and the franky bridge (``limits.*`` parameters).

The defaults are read from :class:`~vjepa2_core.limits.CommandLimits`: the numbers are written once, there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from vjepa2_common.params import param
from vjepa2_core.limits import CommandLimits

_LIMITS = CommandLimits()


@dataclass
class LimitsParams:
    """Workspace box, per-step and speed limits (configure-time)."""

    workspace_min: list[float] = param(
        list(_LIMITS.workspace_min), "TCP workspace box, lower corner in base_frame [m]", configure=True
    )
    workspace_max: list[float] = param(
        list(_LIMITS.workspace_max), "TCP workspace box, upper corner [m]", configure=True
    )
    max_step_per_axis: float = param(
        _LIMITS.max_step_per_axis, "Largest dx, dy, dz of one step [m]", min=0.001, max=0.5, configure=True
    )
    max_delta_translation: float = param(
        _LIMITS.max_delta_translation, "Largest translation norm of one step [m]", min=0.001, max=1.0, configure=True
    )
    max_delta_rotation: float = param(
        _LIMITS.max_delta_rotation,
        "Largest rotation of one step (Euler-vector norm) [rad]",
        min=0.001,
        max=3.2,
        configure=True,
    )
    max_linear_speed: float = param(
        _LIMITS.max_linear_speed, "Largest twist speed [m/s]", min=0.001, max=2.0, configure=True
    )
    max_angular_speed: float = param(
        _LIMITS.max_angular_speed, "Largest twist rate [rad/s]", min=0.001, max=5.0, configure=True
    )

    def limits(self) -> CommandLimits:
        """The :class:`CommandLimits` these settings describe (fields not in the schema keep their defaults)."""
        names = {f.name for f in fields(CommandLimits)}
        return CommandLimits(
            **{
                f.name: tuple(getattr(self, f.name)) if f.name.startswith("workspace") else getattr(self, f.name)
                for f in fields(self)
                if f.name in names
            }
        )


@dataclass
class OrientedLimitsParams(LimitsParams):
    """:class:`LimitsParams` plus the TCP orientation cone (for nodes whose TCP convention is ``TCP_DOWN``)."""

    max_tcp_tilt: float = param(
        _LIMITS.max_tcp_tilt,
        "Largest angle between the TCP z axis and straight down [rad]",
        min=0.01,
        max=1.5707963,
        configure=True,
    )
    max_tcp_yaw: float = param(
        _LIMITS.max_tcp_yaw,
        "Largest TCP turn about the vertical from the home orientation [rad]",
        min=0.01,
        max=3.1415927,
        configure=True,
    )
