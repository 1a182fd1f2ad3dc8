"""Inference helpers: a frame encoder bundling model, preprocessing, device and precision (used by ROS nodes).

enc = FrameEncoder.from_pretrained("vjepa2-ac-vitg.pt", transform="ac", dtype=torch.bfloat16)
tokens = enc.encode_frames([rgb0, rgb1])        # [2, 256, 1408]: each frame its own 2-frame tubelet
z = layer_norm_tokens(tokens)                   # what the AC predictor consumes / is compared with
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .checkpoint import load_encoder
from .models import VisionEncoder
from .preprocessing import AC_MAX_ASPECT, ACFrameTransform, Frames, VideoTransform


def layer_norm_tokens(tokens: Tensor, eps: float = 1e-5) -> Tensor:
    """Affine-free LayerNorm over the feature dim (``F.layer_norm(x, (D,))``, eps 1e-5 as in V-JEPA 2-AC)."""
    return F.layer_norm(tokens, (tokens.shape[-1],), eps=eps)


def make_transform(kind: str, size: int, aspect: float = AC_MAX_ASPECT) -> VideoTransform | ACFrameTransform:
    """``"video"`` (HF/eval short-side resize + centre crop) or ``"ac"`` (DROID aspect crop + squash; frames
    wider than ``aspect`` : 1 are centre-cropped to it first)."""
    if kind == "video":
        return VideoTransform(crop_size=size)
    if kind == "ac":
        return ACFrameTransform(size=size, aspect=aspect)
    raise ValueError(f"unknown transform {kind!r}: use 'video' or 'ac'")


class FrameEncoder:
    """A V-JEPA 2 encoder ready for inference on uint8 RGB frames.

    dtype: dtype of the weights and of the computation (``torch.bfloat16`` is fastest on CPUs with AMX and on
    GPUs).
    autocast: optional autocast dtype with weights kept in ``dtype`` (usually fp32).
    max_batch: split per-frame encoding into chunks of at most this many frames (memory bound).
    compile: wrap the encoder in ``torch.compile`` (first call is slow).
    Outputs are returned as ``out_dtype`` (float32 by default) on ``device``.
    """

    def __init__(
        self,
        encoder: VisionEncoder,
        transform: VideoTransform | ACFrameTransform | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        autocast: torch.dtype | None = None,
        max_batch: int | None = None,
        compile: bool = False,
        out_dtype: torch.dtype | None = torch.float32,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.autocast = autocast
        self.max_batch = max_batch
        self.out_dtype = out_dtype
        self.encoder = encoder.to(device=self.device, dtype=dtype).eval()
        self.transform = transform if transform is not None else VideoTransform(encoder.cfg.img_size)
        self._forward = torch.compile(self.encoder) if compile else self.encoder

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        transform: str = "video",
        size: int | None = None,
        preset: str | None = None,
        entry: str | None = None,
        num_heads: int | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        aspect: float = AC_MAX_ASPECT,
        **kwargs,
    ) -> FrameEncoder:
        """Load an encoder (official .pt, HF directory or ours) and pair it with a ``"video"`` or ``"ac"``
        transform at ``size`` (default: the model's training crop; ``aspect``: the ``"ac"`` max aspect)."""
        encoder = load_encoder(path, preset=preset, entry=entry, num_heads=num_heads, device=device, dtype=dtype)
        return cls(
            encoder,
            make_transform(transform, size or encoder.cfg.img_size, aspect),
            device=device,
            dtype=dtype,
            **kwargs,
        )

    @property
    def tokens_per_frame(self) -> int:
        size = getattr(self.transform, "crop_size", None) or self.transform.size
        return (size // self.encoder.cfg.patch_size) ** 2

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        with torch.inference_mode():
            if self.autocast is not None:
                with torch.autocast(self.device.type, dtype=self.autocast):
                    yield
            else:
                yield

    def _run(self, video: Tensor) -> Tensor:
        out = self._forward(video.to(device=self.device, dtype=self.dtype))
        return out.to(self.out_dtype) if self.out_dtype is not None else out

    def preprocess(self, frames: Frames) -> Tensor:
        """uint8 frames -> normalised float32 ``[C, T, H, W]`` (on CPU)."""
        return self.transform(frames)

    def encode_video(self, video: Tensor) -> Tensor:
        """Already preprocessed ``[B, C, T, H, W]`` -> tokens ``[B, N, D]``."""
        with self._context():
            return self._run(video)

    def encode_clip(self, frames: Frames) -> Tensor:
        """T frames as one clip (T even, or 1 = an image as one tubelet) -> ``[1, T/2 * Npf, D]``."""
        return self.encode_video(self.preprocess(frames).unsqueeze(0))

    def encode_frames(self, frames: Frames) -> Tensor:
        """Every frame on its own, duplicated into one 2-frame tubelet (the V-JEPA 2-AC convention), batched
        over frames -> ``[T, Npf, D]``."""
        return self.encode_preprocessed_frames(self.preprocess(frames))

    def encode_preprocessed_frames(self, video: Tensor) -> Tensor:
        """:meth:`encode_frames` of already preprocessed frames ``[C, T, H, W]`` (e.g. from a training data
        loader) -> ``[T, Npf, D]``."""
        per_frame = video.permute(1, 0, 2, 3).unsqueeze(2)  # [T, C, 1, H, W]
        per_frame = per_frame.expand(-1, -1, self.encoder.cfg.tubelet_size, -1, -1)
        step = self.max_batch or per_frame.shape[0]
        with self._context():
            outs = [self._run(per_frame[i : i + step]) for i in range(0, per_frame.shape[0], step)]
        return torch.cat(outs, dim=0)


__all__ = ["FrameEncoder", "layer_norm_tokens", "make_transform"]
