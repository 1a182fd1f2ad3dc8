"""Command limits and the planner's action clipping (no ROS, no MuJoCo)."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa2_core.limits import (
    GRIPPER_MAX_WIDTH,
    CommandError,
    CommandLimits,
    check_delta,
    check_width,
    clamp_to_workspace,
    clip_action,
    in_workspace,
)

STATE = np.array([0.5, 0.0, 0.3, np.pi, 0.0, 0.0, 0.5])


def test_action_inside_the_limits_is_unchanged() -> None:
    action = np.array([0.05, -0.02, 0.01, 0.0, 0.1, 0.0, 0.2])
    clipped, reasons = clip_action(action, STATE, CommandLimits())
    assert reasons == [] and np.array_equal(clipped, action)


def test_each_limit_is_applied_and_reported() -> None:
    limits = CommandLimits()
    clipped, reasons = clip_action([0.2, -0.1, 0.0, 0.9, 0.0, 0.0, 0.8], STATE, limits)
    assert clipped[:3].tolist() == [0.075, -0.075, 0.0]
    assert np.linalg.norm(clipped[3:6]) == pytest.approx(limits.max_delta_rotation)
    assert STATE[6] + clipped[6] == pytest.approx(1.0)
    assert len(reasons) == 3 and "per axis" in reasons[0] and "gripper" in reasons[2]
    near_wall = STATE.copy()
    near_wall[0] = limits.workspace_max[0] - 0.01
    clipped, reasons = clip_action([0.05, 0, 0, 0, 0, 0, 0], near_wall, limits)
    assert near_wall[0] + clipped[0] == pytest.approx(limits.workspace_max[0])
    assert any("workspace" in r for r in reasons)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions_are_rejected(bad: float) -> None:
    with pytest.raises(CommandError, match="NaN or inf"):
        clip_action([0, 0, bad, 0, 0, 0, 0], STATE, CommandLimits())
    with pytest.raises(CommandError, match="must have 7 values"):
        clip_action([0, 0, 0], STATE, CommandLimits())


def test_checks_and_limits_validation() -> None:
    limits = CommandLimits()
    with pytest.raises(CommandError, match="max_delta_translation"):
        check_delta([0.2, 0, 0], [0, 0, 0], limits)
    assert check_width(GRIPPER_MAX_WIDTH) == GRIPPER_MAX_WIDTH
    with pytest.raises(CommandError, match=r"\[0, 0.08\]"):
        check_width(0.09)
    pos, moved = clamp_to_workspace(np.array([1.0, 0.0, 0.3]), limits)
    assert moved and in_workspace(pos, limits)
    with pytest.raises(ValueError, match="max_step_per_axis"):
        CommandLimits(max_step_per_axis=0.0)
