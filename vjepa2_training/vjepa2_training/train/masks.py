"""V-JEPA 2 multi-block 3D masks (context = complement of a union of spatio-temporal blocks).

Each mask generator draws one block size per training step (shared by the whole batch): the block covers
``floor(Hp*Wp*spatial_scale)`` patches with aspect ratio ``h/w ~ U(aspect_ratio)`` and ``temporal_scale`` of
the token time steps. Block positions are drawn per sample. Targets are the union of ``num_blocks`` blocks;
the context is everything else. Index lists are truncated to the shortest in the batch so they stack.

Randomness is a pure function of ``(seed, step, generator index, sample index in the global batch)``, so the
masks of a sample are the same on any number of processes and after a resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class MaskSpec:
    """One mask generator; the V-JEPA 2 defaults are 8 blocks at 0.15 and 2 blocks at 0.7 spatial scale."""

    num_blocks: int = 8
    spatial_scale: float = 0.15
    temporal_scale: float = 1.0
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    min_context: int = 4  # resample a sample's block positions until at least this many context tokens remain

    def validate(self) -> None:
        if self.num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {self.num_blocks}")
        if not 0 < self.spatial_scale <= 1 or not 0 < self.temporal_scale <= 1:
            raise ValueError("spatial_scale and temporal_scale must lie in (0, 1]")
        low, high = self.aspect_ratio
        if not 0 < low <= high:
            raise ValueError(f"aspect_ratio must be (low, high), 0 < low <= high; got {self.aspect_ratio}")
        if self.min_context < 1:
            raise ValueError("min_context must be >= 1")


DEFAULT_MASKS = (MaskSpec(8, 0.15), MaskSpec(2, 0.7))
_MAX_TRIES = 100


def _generator(*keys: int) -> torch.Generator:
    gen = torch.Generator()
    seed = 0
    for key in keys:  # simple, stable mixing of the keys into one 63-bit seed
        seed = (seed * 1_000_003 + int(key) + 0x9E3779B97F4A7C15) % (2**63 - 1)
    gen.manual_seed(seed)
    return gen


def block_size(spec: MaskSpec, grid: tuple[int, int, int], gen: torch.Generator) -> tuple[int, int, int]:
    """Block extent (t, h, w) in tokens for a token grid (T, H, W)."""
    t_grid, h_grid, w_grid = grid
    low, high = spec.aspect_ratio
    ratio = low + float(torch.rand((), generator=gen)) * (high - low)
    patches = max(1, int(h_grid * w_grid * spec.spatial_scale))
    h = min(max(1, round(math.sqrt(patches * ratio))), h_grid)
    w = min(max(1, round(math.sqrt(patches / ratio))), w_grid)
    t = min(max(1, int(t_grid * spec.temporal_scale)), t_grid)
    return t, h, w


def sample_target_mask(
    spec: MaskSpec, grid: tuple[int, int, int], size: tuple[int, int, int], gen: torch.Generator
) -> Tensor:
    """Boolean ``[T*H*W]`` target mask: the union of ``num_blocks`` blocks of ``size`` at random positions."""
    t_grid, h_grid, w_grid = grid
    t, h, w = size
    for _ in range(_MAX_TRIES):
        mask = torch.zeros(grid, dtype=torch.bool)
        for _ in range(spec.num_blocks):
            t0 = int(torch.randint(0, t_grid - t + 1, (), generator=gen))
            h0 = int(torch.randint(0, h_grid - h + 1, (), generator=gen))
            w0 = int(torch.randint(0, w_grid - w + 1, (), generator=gen))
            mask[t0 : t0 + t, h0 : h0 + h, w0 : w0 + w] = True
        if int((~mask).sum()) >= spec.min_context:
            return mask.flatten()
    raise ValueError(
        f"mask {spec} leaves fewer than {spec.min_context} context tokens on a {grid} token grid; "
        "use fewer/smaller blocks or larger clips"
    )


def sample_masks(
    specs: tuple[MaskSpec, ...] | list[MaskSpec],
    grid: tuple[int, int, int],
    global_batch: int,
    seed: int,
    step: int,
) -> list[tuple[Tensor, Tensor]]:
    """For each spec, ``(context_idx [B, Nc], target_idx [B, Nt])`` int64 for the whole global batch."""
    out = []
    for g, spec in enumerate(specs):
        size = block_size(spec, grid, _generator(seed, step, g, -1))
        contexts, targets = [], []
        for b in range(global_batch):
            mask = sample_target_mask(spec, grid, size, _generator(seed, step, g, b))
            targets.append(torch.nonzero(mask).flatten())
            contexts.append(torch.nonzero(~mask).flatten())
        n_ctx = min(len(c) for c in contexts)
        n_tgt = min(len(t) for t in targets)
        out.append((torch.stack([c[:n_ctx] for c in contexts]), torch.stack([t[:n_tgt] for t in targets])))
    return out
