"""Pictures for people watching the planner, free of ROS: the debug image (current | goal | energy per step)
and the end-effector path a plan would take."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vjepa2_core.conventions import apply_action

PANEL = 256  # [px] height and width of each of the three panels


def _fit(rgb: np.ndarray | None, label: str) -> np.ndarray:
    panel = np.full((PANEL, PANEL, 3), 40, np.uint8)
    if rgb is not None and rgb.size:
        panel = cv2.resize(rgb, (PANEL, PANEL), interpolation=cv2.INTER_AREA)
    cv2.putText(panel, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    return panel


def energy_plot(energies: Sequence[float], tolerance: float | None = None) -> np.ndarray:
    """A PANEL x PANEL RGB plot of the observation energy per step (and the success tolerance)."""
    panel = np.full((PANEL, PANEL, 3), 255, np.uint8)
    cv2.putText(panel, "energy per step", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    values = [e for e in energies if np.isfinite(e)]
    if not values:
        return panel
    top, bottom, left, right = 30, PANEL - 20, 10, PANEL - 10
    lo, hi = min(values + ([tolerance] if tolerance is not None else [])), max(values)
    span = hi - lo or 1.0

    def y(v: float) -> int:
        return int(bottom - (v - lo) / span * (bottom - top))

    if tolerance is not None:
        cv2.line(panel, (left, y(tolerance)), (right, y(tolerance)), (0, 160, 0), 1)
    xs = np.linspace(left, right, max(len(values), 2))[: len(values)]
    points = np.array([[int(x), y(v)] for x, v in zip(xs, values)], np.int32)
    cv2.polylines(panel, [points], False, (30, 90, 200), 2)
    for p in points:
        cv2.circle(panel, tuple(int(c) for c in p), 3, (30, 90, 200), -1)
    cv2.putText(panel, f"{values[-1]:.4f}", (6, PANEL - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def debug_image(
    current: np.ndarray | None, goal: np.ndarray | None, energies: Sequence[float], tolerance: float | None = None
) -> np.ndarray:
    """current | goal | energy per step, side by side: (PANEL, 3 * PANEL, 3) uint8 RGB."""
    return np.concatenate([_fit(current, "current"), _fit(goal, "goal"), energy_plot(energies, tolerance)], axis=1)


def planned_path(state: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """TCP positions [H + 1, 3] visited by executing ``actions`` [H, 7] from ``state`` [7]."""
    states = [np.asarray(state, float)]
    for action in actions:
        states.append(apply_action(states[-1], action))
    return np.array([s[:3] for s in states])
