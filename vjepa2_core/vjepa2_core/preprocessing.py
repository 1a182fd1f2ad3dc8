"""Pure-torch video preprocessing (no torchvision): the two pipelines the released weights expect.

* :class:`VideoTransform` - HF ``VJEPA2VideoProcessor`` semantics (= the official eval transform): resize the short
  side to ``int(crop * 256 / 224)`` with antialiased bilinear interpolation **on uint8** (rounded back to uint8, as
  torchvision does for uint8 tensors), centre crop ``crop x crop`` (offsets ``int((size - crop) / 2)``), then
  ``(x - 255 * mean) / (255 * std)`` in float32 with ImageNet mean/std.
* :class:`ACFrameTransform` - the V-JEPA 2-AC / DROID training pipeline: centre crop to the aspect range
  ``[min_aspect, aspect]`` (wide frames: full height, width ``round(1.35 * H)``), bilinear resize (no antialias, in
  float, as trained) to ``size x size`` - squashing the aspect - then the same normalisation.

Both take uint8 RGB frames: one ``H x W x 3`` numpy array, a list of them, a ``T x H x W x 3`` array, or torch
uint8 tensors (``[H, W, 3]``, ``[T, H, W, 3]``, ``[3, H, W]`` or ``[T, 3, H, W]``), and return float32
``[C, T, H, W]`` ready for :class:`~vjepa2_core.models.VisionEncoder` (``.batch`` stacks clips to
``[B, C, T, H, W]``).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .crop_defaults import AC_MAX_ASPECT, AC_MIN_ASPECT

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Frames = Union[np.ndarray, Tensor, Sequence[np.ndarray], Sequence[Tensor]]  # noqa: UP007 - runtime alias


def frames_to_tensor(frames: Frames) -> Tensor:
    """uint8 frames in any accepted layout -> contiguous uint8 ``[T, 3, H, W]``."""
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise ValueError("got an empty list of frames")
        parts = [frames_to_tensor(f) for f in frames]
        shapes = {tuple(p.shape[1:]) for p in parts}
        if len(shapes) != 1:
            raise ValueError(f"all frames must have the same size, got {sorted(shapes)}")
        return torch.cat(parts, dim=0)
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 frames (0-255), got numpy {frames.dtype}; convert with "
                "np.clip(x, 0, 255).astype(np.uint8) (float [0, 1] images: multiply by 255 first)"
            )
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"numpy frames must be H x W x 3 or T x H x W x 3 (RGB), got shape {frames.shape}")
        return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()
    if isinstance(frames, Tensor):
        if frames.dtype != torch.uint8:
            raise ValueError(f"expected uint8 frames (0-255), got {frames.dtype}")
        if frames.ndim == 3:
            frames = frames.unsqueeze(0)
        if frames.ndim != 4:
            raise ValueError(f"tensor frames must be 3-D or 4-D, got shape {tuple(frames.shape)}")
        if frames.shape[-1] == 3:
            frames = frames.permute(0, 3, 1, 2)
        elif frames.shape[1] != 3:
            raise ValueError(f"tensor frames must be [T, H, W, 3] or [T, 3, H, W] (RGB), got {tuple(frames.shape)}")
        return frames.contiguous()
    raise TypeError(f"unsupported frames type {type(frames).__name__}: pass uint8 numpy arrays or torch tensors")


def _native_uint8_bilinear() -> bool:
    """torchvision (0.28) resizes uint8 bilinearly in uint8 on AVX2/AVX512 x86 and ARM CPUs, else it resizes a
    float copy and rounds; this is its rule, reproduced so the results match bit for bit."""
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") or platform.machine() in (
        "aarch64",
        "arm64",
    )


def resize_uint8(video: Tensor, size: tuple[int, int], antialias: bool = True) -> Tensor:
    """Bilinear resize of uint8 ``[T, C, H, W]`` with uint8 output, the way torchvision does it."""
    if video.device.type == "cpu" and _native_uint8_bilinear():
        return F.interpolate(video, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    out = F.interpolate(video.float(), size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return out.round_().to(torch.uint8)  # bilinear weights are convex: no clamp needed (torchvision has none)


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    """Output (h, w) with the short side ``short`` and the long side ``int(short * long / short_in)``."""
    if height <= width:
        return short, int(short * width / height)
    return int(short * height / width), short


class Normalize:
    """ImageNet-style normalisation of frames in 0..255 (the one used by every pipeline, training included)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        # same float32 constants as HF's fused rescale+normalise and the official transforms: mean*255, std*255
        self.mean = torch.tensor(mean, dtype=torch.float32) * 255.0
        self.std = torch.tensor(std, dtype=torch.float32) * 255.0

    def __call__(self, video: Tensor) -> Tensor:
        """uint8/float ``[T, C, H, W]`` in 0..255 -> normalised float32 ``[C, T, H, W]``."""
        x = video.to(torch.float32)
        mean = self.mean.to(x.device)[:, None, None]
        std = self.std.to(x.device)[:, None, None]
        return ((x - mean) / std).permute(1, 0, 2, 3).contiguous()


class VideoTransform:
    """HF ``VJEPA2VideoProcessor`` / official eval preprocessing. ``crop_size`` 256 (384 for ViT-g-384)."""

    def __init__(
        self,
        crop_size: int = 256,
        resize_size: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.crop_size = int(crop_size)
        self.resize_size = int(resize_size) if resize_size is not None else int(crop_size * 256 / 224)
        if self.resize_size < self.crop_size:
            raise ValueError(f"resize_size {self.resize_size} must be >= crop_size {self.crop_size}")
        self._normalize = Normalize(mean, std)

    def resize_and_crop(self, frames: Frames) -> Tensor:
        """The uint8 ``[T, 3, crop, crop]`` frames before normalisation."""
        video = frames_to_tensor(frames)
        h, w = video.shape[-2:]
        nh, nw = short_side_size(h, w, self.resize_size)
        video = resize_uint8(video, (nh, nw), antialias=True)
        top, left = int((nh - self.crop_size) / 2.0), int((nw - self.crop_size) / 2.0)
        return video[..., top : top + self.crop_size, left : left + self.crop_size]

    def __call__(self, frames: Frames) -> Tensor:
        """uint8 RGB frames -> float32 ``[3, T, crop, crop]``."""
        return self._normalize(self.resize_and_crop(frames))

    def batch(self, clips: Sequence[Frames]) -> Tensor:
        """Several clips (same frame count) -> ``[B, 3, T, crop, crop]``."""
        return torch.stack([self(c) for c in clips])


def aspect_crop_box(height: int, width: int, min_aspect: float, max_aspect: float) -> tuple[int, int, int, int]:
    """(top, left, h, w) of the centre crop that brings width/height into ``[min_aspect, max_aspect]``.

    This is the deterministic fallback of the DROID trainer's random-resized-crop (which always falls back, as its
    scale exceeds 1): wider frames keep full height, taller ones full width.
    """
    ratio = width / height
    if ratio < min_aspect:
        w, h = width, round(width / min_aspect)
    elif ratio > max_aspect:
        h, w = height, round(height * max_aspect)
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


class ACFrameTransform:
    """V-JEPA 2-AC (DROID) preprocessing: aspect centre crop, squash-resize to ``size x size``, normalise."""

    def __init__(
        self,
        size: int = 256,
        aspect: float = AC_MAX_ASPECT,
        min_aspect: float = AC_MIN_ASPECT,
        antialias: bool = False,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if not 0 < min_aspect <= aspect:
            raise ValueError(f"need 0 < min_aspect <= aspect, got {min_aspect}, {aspect}")
        self.size = int(size)
        self.aspect = float(aspect)
        self.min_aspect = float(min_aspect)
        self.antialias = antialias
        self._normalize = Normalize(mean, std)

    def __call__(self, frames: Frames) -> Tensor:
        """uint8 RGB frames -> float32 ``[3, T, size, size]``."""
        video = frames_to_tensor(frames)
        top, left, h, w = aspect_crop_box(video.shape[-2], video.shape[-1], self.min_aspect, self.aspect)
        video = video[..., top : top + h, left : left + w].to(torch.float32)
        video = F.interpolate(
            video, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=self.antialias
        )
        return self._normalize(video)

    def batch(self, clips: Sequence[Frames]) -> Tensor:
        """Several clips (same frame count) -> ``[B, 3, T, size, size]``."""
        return torch.stack([self(c) for c in clips])


__all__ = [
    "AC_MAX_ASPECT",
    "AC_MIN_ASPECT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ACFrameTransform",
    "Normalize",
    "VideoTransform",
    "aspect_crop_box",
    "frames_to_tensor",
    "resize_uint8",
    "short_side_size",
]
