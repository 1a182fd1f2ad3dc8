"""Training clip transforms: only the randomness lives here; cropping rules and normalisation are core's.

Input clips are uint8 ``[T, H, W, 3]`` (numpy or torch); outputs are float32 ``[3, T, S, S]`` normalised with
:class:`vjepa2_core.preprocessing.Normalize`, the layout the encoder takes. Randomness comes from an explicit
``torch.Generator``. AC post-training uses :class:`ACClipTransform`, i.e. exactly the perception node's
:class:`~vjepa2_core.preprocessing.ACFrameTransform`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vjepa2_core.preprocessing import AC_MAX_ASPECT, ACFrameTransform, Normalize, aspect_crop_box, frames_to_tensor

_NORMALIZE = Normalize()


@dataclass(frozen=True)
class RandomResizedCrop:
    """One random crop per clip (same box for every frame), resized to ``size``; optional horizontal flip.

    ``scale`` is the crop's area fraction, ``ratio`` its width/height (sampled log-uniformly). After 10 failed
    tries the crop falls back to core's deterministic :func:`~vjepa2_core.preprocessing.aspect_crop_box`.
    """

    size: int = 256
    scale: tuple[float, float] = (0.3, 1.0)
    ratio: tuple[float, float] = (0.75, 1.35)
    hflip: bool = True

    def crop_box(self, height: int, width: int, gen: torch.Generator) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the crop."""
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            fraction = self.scale[0] + float(torch.rand((), generator=gen)) * (self.scale[1] - self.scale[0])
            target = area * fraction
            aspect = math.exp(log_lo + float(torch.rand((), generator=gen)) * (log_hi - log_lo))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, (), generator=gen))
                left = int(torch.randint(0, width - w + 1, (), generator=gen))
                return top, left, h, w
        return aspect_crop_box(height, width, self.ratio[0], self.ratio[1])

    def __call__(self, clip: np.ndarray | Tensor, gen: torch.Generator) -> Tensor:
        video = frames_to_tensor(clip)  # uint8 [T, 3, H, W]
        top, left, h, w = self.crop_box(video.shape[-2], video.shape[-1], gen)
        video = video[..., top : top + h, left : left + w].to(torch.float32)
        video = F.interpolate(video, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        if self.hflip and float(torch.rand((), generator=gen)) < 0.5:
            video = video.flip(-1)
        return _NORMALIZE(video)


class ACClipTransform:
    """The AC post-training transform: core's :class:`~vjepa2_core.preprocessing.ACFrameTransform` (the official
    V-JEPA 2-AC recipe, the perception node's ``preprocessing: ac``) with the data loader's call signature."""

    def __init__(self, size: int = 256, aspect: float = AC_MAX_ASPECT) -> None:
        self.frame_transform = ACFrameTransform(size=size, aspect=aspect)

    def __call__(self, clip: np.ndarray | Tensor, gen: torch.Generator | None = None) -> Tensor:
        """uint8 ``[T, H, W, 3]`` -> float32 ``[3, T, size, size]`` (deterministic: ``gen`` is unused)."""
        return self.frame_transform(clip)
