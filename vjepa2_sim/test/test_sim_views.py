"""The stereo reach cameras and tiled views: real MuJoCo rendering."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa2_core.limits import CommandError
from vjepa2_sim.scene import REACH_BOX_MAX, REACH_BOX_MIN
from vjepa2_sim.sim import FrankaSim
from vjepa2_sim.views import STEREO, render_goal_tiled, render_tiled


def test_tiled_goal_views_match_single_renders_and_see_the_arm_move() -> None:
    with FrankaSim(seed=3, image_size=(64, 64), render_geometry="collision") as sim:
        goal = np.array([0.5, 0.0, 0.2])
        tiled = render_goal_tiled(sim, goal)
        assert tiled.shape == (64, 128, 3)
        singles = np.concatenate([sim.render_goal(goal, camera=c) for c in STEREO], axis=1)
        assert np.array_equal(tiled, singles)
        # the arm is in both views: moving it 8 cm changes each half
        moved = render_goal_tiled(sim, goal + np.array([0.0, 0.08, 0.0]))
        for half in (slice(0, 64), slice(64, 128)):
            assert np.mean(np.abs(moved[:, half].astype(int) - tiled[:, half]).max(axis=-1) > 20) > 0.01
        assert render_tiled(sim).shape == (64, 128, 3)
        with pytest.raises(ValueError, match="unknown camera"):
            sim.render_goal(goal, camera=("front_left", "nope"))
        with pytest.raises(CommandError):
            sim.render_goal([0.5, 0.0, -0.1], camera=STEREO)


def test_reach_box_is_inside_the_command_workspace() -> None:
    with FrankaSim(seed=0, render=False) as sim:
        lo, hi = np.asarray(sim.limits.workspace_min), np.asarray(sim.limits.workspace_max)
    assert np.all(np.asarray(REACH_BOX_MIN) > lo) and np.all(np.asarray(REACH_BOX_MAX) < hi)
