"""Tiled views: several cameras rendered side by side into one RGB image (one observation, every view).

``STEREO`` (``front_left`` | ``front_right``) is the view of the embedded demo model: each camera alone is
blind to motion along its own viewing ray, the pair is not. A tiled image of n square renders is n:1 wide;
V-JEPA 2-AC's preprocessing keeps it whole with ``ACFrameTransform(size, aspect=n)`` (squashed to a square).

``VIRTUAL_CAMERAS`` names tiled views that ``sim_node`` publishes like a camera (``stereo/image_raw``) and
``~/render_goal`` renders by name (``camera: stereo``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vjepa2_sim.scene import FRONT_LEFT, FRONT_RIGHT
from vjepa2_sim.sim import FrankaSim

STEREO = (FRONT_LEFT, FRONT_RIGHT)
#: name of the ``STEREO`` pair as one (virtual) camera of sim_node: the embedded demo model's observation
STEREO_CAMERA = "stereo"
#: virtual camera name -> the cameras tiled left to right
VIRTUAL_CAMERAS: dict[str, tuple[str, ...]] = {STEREO_CAMERA: STEREO}


def tiled_views(camera: str) -> tuple[str, ...]:
    """The real cameras behind a camera name: the tiles of a virtual camera, else ``(camera,)``."""
    return VIRTUAL_CAMERAS.get(camera, (camera,))


def render_tiled(sim: FrankaSim, cameras: Sequence[str] = STEREO) -> np.ndarray:
    """The current state seen by ``cameras``, side by side: (height, n * width, 3) uint8."""
    return np.concatenate([sim.render(camera) for camera in cameras], axis=1)


def render_goal_tiled(
    sim: FrankaSim,
    ee_pos: Sequence[float],
    ee_quat: Sequence[float] | None = None,
    gripper: float | None = None,
    cameras: Sequence[str] = STEREO,
) -> np.ndarray:
    """:meth:`FrankaSim.render_goal` for every camera, side by side (the live state is unchanged)."""
    return sim.render_goal(ee_pos, ee_quat, gripper, camera=tuple(cameras))
