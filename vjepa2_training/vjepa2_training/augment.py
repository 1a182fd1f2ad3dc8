"""Clip transforms in pure torch: random-resized-crop (pretraining) and the AC centre crop (post-training).

Input clips are uint8 ``[T, H, W, 3]`` (numpy or torch); outputs are float ``[3, T, S, S]`` normalised with
the ImageNet mean/std, the layout the encoder takes. Randomness comes from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_tensor(clip: np.ndarray | Tensor) -> Tensor:
    x = torch.as_tensor(np.ascontiguousarray(clip) if isinstance(clip, np.ndarray) else clip)
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 clip [T, H, W, 3], got {x.dtype} {tuple(x.shape)}")
    return x.permute(3, 0, 1, 2).float().div_(255.0)  # [3, T, H, W]


def _normalise(x: Tensor) -> Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    return (x - mean) / std


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear (antialiased) resize of ``[3, T, h, w]`` to ``[3, T, *size]``."""
    frames = x.permute(1, 0, 2, 3)  # [T, 3, h, w]
    out = F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.permute(1, 0, 2, 3)


@dataclass(frozen=True)
class RandomResizedCrop:
    """One random crop per clip (same box for every frame), resized to ``size``; optional horizontal flip.

    ``scale`` is the crop's area fraction, ``ratio`` its width/height (sampled log-uniformly). After 10
    failed tries the crop falls back to the largest centred box with a ratio inside the range.
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
        aspect = width / height
        if aspect < self.ratio[0]:
            w, h = width, round(width / self.ratio[0])
        elif aspect > self.ratio[1]:
            h, w = height, round(height * self.ratio[1])
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, clip: np.ndarray | Tensor, gen: torch.Generator) -> Tensor:
        x = _to_tensor(clip)
        top, left, h, w = self.crop_box(x.shape[2], x.shape[3], gen)
        x = _resize(x[:, :, top : top + h, left : left + w], (self.size, self.size))
        if self.hflip and float(torch.rand((), generator=gen)) < 0.5:
            x = x.flip(-1)
        return _normalise(x)


@dataclass(frozen=True)
class CenterCropResize:
    """Deterministic AC transform: centre crop to width/height ``aspect`` (full height for wider frames),
    then squash to ``size`` x ``size`` — what V-JEPA 2-AC's DROID pipeline does with aspect 1.35."""

    size: int = 256
    aspect: float = 1.35

    def __call__(self, clip: np.ndarray | Tensor, gen: torch.Generator | None = None) -> Tensor:
        x = _to_tensor(clip)
        height, width = x.shape[2], x.shape[3]
        if width / height > self.aspect:
            w = round(height * self.aspect)
            x = x[:, :, :, (width - w) // 2 : (width - w) // 2 + w]
        else:
            h = round(width / self.aspect)
            x = x[:, :, (height - h) // 2 : (height - h) // 2 + h, :]
        return _normalise(_resize(x, (self.size, self.size)))
