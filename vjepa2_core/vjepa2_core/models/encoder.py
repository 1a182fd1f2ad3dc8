"""V-JEPA 2 video encoder: tubelet embedding, 3D-RoPE ViT blocks, final LayerNorm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import Block, init_vit_weights
from .rope import RopeCache, RopeTables, rope_axis_dim
from .transformer_config import TransformerConfig


@dataclass
class EncoderConfig(TransformerConfig):
    """Size of a V-JEPA 2 encoder. ``mlp_hidden`` wins over ``mlp_ratio`` when given.

    ``img_size`` is the crop the weights were trained at (used by preprocessing defaults and exports); the
    encoder itself accepts any H x W that is a multiple of ``patch_size`` and any multiple of ``tubelet_size``
    frames.
    """

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_hidden: int | None = None
    mlp_ratio: float = 4.0
    patch_size: int = 16
    tubelet_size: int = 2
    in_chans: int = 3
    img_size: int = 256
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-6
    name: str | None = None


_ENCODER_PRESETS: dict[str, dict] = {
    "vit_large": dict(embed_dim=1024, depth=24, num_heads=16, mlp_hidden=4096, img_size=256),
    "vit_huge": dict(embed_dim=1280, depth=32, num_heads=16, mlp_hidden=5120, img_size=256),
    # V-JEPA 2's ViT-g is the 22-head "vit_giant_xformers" (head dim 64), not the 16-head vit_giant.
    "vit_giant": dict(embed_dim=1408, depth=40, num_heads=22, mlp_hidden=6144, img_size=256),
    "vit_giant_384": dict(embed_dim=1408, depth=40, num_heads=22, mlp_hidden=6144, img_size=384),
}
_PRESET_ALIASES = {
    "vitl": "vit_large",
    "vith": "vit_huge",
    "vitg": "vit_giant",
    "vitg-384": "vit_giant_384",
    "vitg384": "vit_giant_384",
    "vit_giant_xformers": "vit_giant",
}


def encoder_preset_names() -> list[str]:
    return list(_ENCODER_PRESETS)


def canonical_preset_name(name: str) -> str:
    """Map aliases such as ``vitg-384`` to preset names; raises ValueError for unknown names."""
    key = name.strip().lower()
    key = _PRESET_ALIASES.get(key, key).replace("-", "_")
    key = _PRESET_ALIASES.get(key, key)
    if key not in _ENCODER_PRESETS:
        raise ValueError(
            f"unknown encoder preset {name!r}; choose one of {sorted(_ENCODER_PRESETS)} "
            f"(aliases {sorted(_PRESET_ALIASES)}) or build an EncoderConfig with explicit sizes"
        )
    return key


def encoder_preset(name: str, **overrides) -> EncoderConfig:
    """EncoderConfig of a released model size: vit_large, vit_huge, vit_giant, vit_giant_384 (+ aliases)."""
    key = canonical_preset_name(name)
    return EncoderConfig(**{**_ENCODER_PRESETS[key], "name": key, **overrides})


def preset_for_embed_dim(embed_dim: int) -> str | None:
    """The released preset with this width (the head count cannot be read from weight shapes)."""
    for key, spec in _ENCODER_PRESETS.items():
        if spec["embed_dim"] == embed_dim:
            return key
    return None


def activation_dtype(reference: Tensor) -> torch.dtype:
    """dtype the transformer will compute in: the autocast dtype when autocast is on, else the weights'."""
    device_type = reference.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return reference.dtype


class PatchEmbed3D(nn.Module):
    """Tubelet embedding: Conv3d with kernel = stride = (tubelet, patch, patch).

    In reduced precision (autocast or bf16/fp16 weights) it runs as one matmul over unfolded patches, which is
    about 4x faster on CPU than the low-precision Conv3d.
    """

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int, tubelet_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.proj = nn.Conv3d(
            in_chans,
            embed_dim,
            kernel_size=(tubelet_size, patch_size, patch_size),
            stride=(tubelet_size, patch_size, patch_size),
        )

    def forward(self, video: Tensor) -> Tensor:
        """``[B, C, T, H, W]`` -> tokens ``[B, T/t * H/p * W/p, D]`` in (t, h, w) order, w fastest."""
        if activation_dtype(video) == torch.float32:
            # fp32: the same Conv3d as the reference implementations (identical rounding, same speed)
            return self.proj(video).flatten(2).transpose(1, 2).contiguous()
        b, c, t, h, w = video.shape
        tt, p = self.tubelet_size, self.patch_size
        patches = video.reshape(b, c, t // tt, tt, h // p, p, w // p, p)
        patches = patches.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, -1, c * tt * p * p)
        weight = self.proj.weight.reshape(self.proj.out_channels, -1)
        return F.linear(patches, weight, self.proj.bias)


class VisionEncoder(nn.Module):
    """V-JEPA 2 ViT encoder (state-dict layout of the official ``encoder``/``target_encoder`` entries)."""

    def __init__(self, cfg: EncoderConfig, init_weights: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed3D(cfg.in_chans, cfg.embed_dim, cfg.patch_size, cfg.tubelet_size)
        self.blocks = nn.ModuleList(
            [
                Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_hidden, cfg.qkv_bias, cfg.layer_norm_eps)
                for _ in range(cfg.depth)
            ]
        )
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.rope_cache = RopeCache()
        if init_weights:
            init_vit_weights(self, self.blocks)

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    def grid_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid (t, h, w) of a ``frames x height x width`` clip (one frame counts as a tubelet)."""
        frames = self.cfg.tubelet_size if frames == 1 else frames
        return frames // self.cfg.tubelet_size, height // self.cfg.patch_size, width // self.cfg.patch_size

    def _check_video(self, video: Tensor) -> Tensor:
        if video.ndim == 4:  # an image batch [B, C, H, W] -> one tubelet of repeated frames
            video = video.unsqueeze(2)
        if video.ndim != 5:
            raise ValueError(f"expected video [B, C, T, H, W] or images [B, C, H, W], got shape {tuple(video.shape)}")
        _, c, t, h, w = video.shape
        cfg = self.cfg
        if c != cfg.in_chans:
            raise ValueError(
                f"expected {cfg.in_chans} channels in dim 1 of [B, C, T, H, W], "
                f"got shape {tuple(video.shape)} "
                "(HF-style [B, T, C, H, W] input must be permuted first)"
            )
        if t == 1:
            video = video.expand(-1, -1, cfg.tubelet_size, -1, -1)
        elif t % cfg.tubelet_size != 0:
            raise ValueError(
                f"number of frames T={t} must be a multiple of the tubelet size {cfg.tubelet_size} (or 1 for an image)"
            )
        if h % cfg.patch_size or w % cfg.patch_size:
            raise ValueError(f"H x W = {h} x {w} must both be multiples of the patch size {cfg.patch_size}")
        return video

    def forward(
        self,
        video: Tensor,
        token_indices: Tensor | None = None,
        out_layers: Sequence[int] | None = None,
    ) -> Tensor | list[Tensor]:
        """Encode ``video`` ``[B, C, T, H, W]`` (ImageNet-normalised) into tokens ``[B, N, D]``.

        token_indices: optional ``[B, N]`` (or ``[N]``) flat indices (t*Hp*Wp + h*Wp + w) of the tokens to
        keep
            (pretraining context encoder); RoPE positions come from the indices, so dropped tokens do not
            shift.
        out_layers: optional block indices; then a list of those blocks' outputs (each final-normed) is
        returned.
        """
        video = self._check_video(video)
        video = video.to(self.patch_embed.proj.weight.dtype)
        _, _, t, h, w = video.shape
        grid = self.grid_shape(t, h, w)
        x = self.patch_embed(video)
        rope = self.rope_cache.grid(*grid, self.cfg.head_dim, x.device, activation_dtype(x))
        if token_indices is not None:
            x, rope = self._select_tokens(x, rope, token_indices)
        return self.run_blocks(x, rope, out_layers)

    def _select_tokens(self, x: Tensor, rope: RopeTables, token_indices: Tensor) -> tuple[Tensor, RopeTables]:
        num_all = x.shape[1]
        idx = token_indices.to(device=x.device, dtype=torch.long)
        if idx.ndim == 1:
            idx = idx.unsqueeze(0).expand(x.shape[0], -1)
        if idx.ndim != 2 or idx.shape[0] != x.shape[0]:
            raise ValueError(
                f"token_indices must be [B, N] with B={x.shape[0]} or [N], got {tuple(token_indices.shape)}"
            )
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_all):
            raise ValueError(
                f"token_indices must lie in [0, {num_all}) for this input, got min {int(idx.min())} "
                f"max {int(idx.max())}"
            )
        x = torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return x, rope.index(idx)

    def run_blocks(self, x: Tensor, rope: RopeTables, out_layers: Sequence[int] | None = None) -> Tensor | list[Tensor]:
        """Run the transformer blocks and the final norm on embedded tokens (advanced use)."""
        if out_layers is None:
            for blk in self.blocks:
                x = blk(x, rope)
            return self.norm(x)
        wanted = {int(i) % len(self.blocks) for i in out_layers}
        outs: list[Tensor] = []
        for i, blk in enumerate(self.blocks):
            x = blk(x, rope)
            if i in wanted:
                outs.append(self.norm(x))
        return outs


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "EncoderConfig",
    "PatchEmbed3D",
    "VisionEncoder",
    "activation_dtype",
    "canonical_preset_name",
    "count_parameters",
    "encoder_preset",
    "encoder_preset_names",
    "preset_for_embed_dim",
    "rope_axis_dim",
]
