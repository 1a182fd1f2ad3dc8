"""3D rotary position embedding (RoPE) as the released V-JEPA 2 weights need it.

Per attention head of size ``hd`` the channels are split into ``[time | height | width | unrotated]`` with
``S = 2 * ((hd // 3) // 2)`` channels per rotated axis. Inside an axis segment the rotation pairs are adjacent
channels ``(2i, 2i+1)``, but the cos/sin tables are the ``S/2`` angles *tiled twice* (not interleaved), so channel
``k`` uses angle ``theta_{k mod S/2}`` and the two members of a pair get different angles. This "tiled-frequency
quirk" is what the released checkpoints were trained with; the standard interleaved form silently degrades them.

Here the three axis segments and the unrotated tail are folded into one full-width table per token
(``cos = 1, sin = 0`` on channels that are not rotated), and the sign of the pair rotation is folded into the
sin table, so applying RoPE is one pair swap and one fused multiply-add over the whole head.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

ROPE_BASE = 10000.0


def rope_axis_dim(head_dim: int) -> int:
    """Channels per rotated axis (time, height, width) for a head of ``head_dim`` channels."""
    return 2 * ((head_dim // 3) // 2)


class RopeTables(NamedTuple):
    """Per-token tables, ``[..., N, head_dim]``; ``sin`` already carries the pair-rotation sign."""

    cos: Tensor
    sin: Tensor

    def to(self, dtype: torch.dtype) -> RopeTables:
        return RopeTables(self.cos.to(dtype), self.sin.to(dtype))

    def index(self, token_indices: Tensor) -> RopeTables:
        """Rows for the given flat token indices ``[B, N]`` (or ``[N]``) of a full-grid table ``[L, hd]``."""
        return RopeTables(self.cos[token_indices], self.sin[token_indices])


def _axis_angles(positions: Tensor, axis_dim: int) -> Tensor:
    """Angles ``[..., axis_dim // 2]`` for integer positions, computed in fp32 like the reference code."""
    num_freq = axis_dim // 2
    omega = torch.arange(num_freq, dtype=torch.float32, device=positions.device)
    omega /= num_freq
    omega = 1.0 / torch.pow(ROPE_BASE, omega)
    return positions.to(torch.float32).unsqueeze(-1) * omega


def build_rope_tables(positions: Tensor, head_dim: int, spatial: Tensor | None = None) -> RopeTables:
    """Build fp32 RoPE tables for tokens at ``positions`` ``[..., N, 3]`` = (t, h, w).

    ``spatial`` (bool ``[..., N]``, optional): where False only the time segment is rotated (the V-JEPA 2-AC
    action/state tokens); the height/width segments then stay unrotated like the tail.
    """
    axis = rope_axis_dim(head_dim)
    lead = positions.shape[:-1]
    cos = torch.ones(*lead, head_dim, dtype=torch.float32, device=positions.device)
    sin = torch.zeros(*lead, head_dim, dtype=torch.float32, device=positions.device)
    if axis == 0:
        return RopeTables(cos, sin)
    # pair rotation y_{2i} = -x_{2i+1} s, y_{2i+1} = x_{2i} s  ->  sign -1 on even channels of the swapped
    # input
    sign = torch.ones(axis, dtype=torch.float32, device=positions.device)
    sign[0::2] = -1.0
    for a in range(3):
        ang = _axis_angles(positions[..., a], axis)
        seg_cos = torch.cat([ang.cos(), ang.cos()], dim=-1)  # tiled, not interleaved (the quirk)
        seg_sin = torch.cat([ang.sin(), ang.sin()], dim=-1) * sign
        if a > 0 and spatial is not None:
            keep = spatial.unsqueeze(-1)
            seg_cos = torch.where(keep, seg_cos, torch.ones_like(seg_cos))
            seg_sin = torch.where(keep, seg_sin, torch.zeros_like(seg_sin))
        cos[..., a * axis : (a + 1) * axis] = seg_cos
        sin[..., a * axis : (a + 1) * axis] = seg_sin
    return RopeTables(cos, sin)


def grid_positions(frames: int, height: int, width: int, device: torch.device | str | None = None) -> Tensor:
    """(t, h, w) of every token of a ``frames x height x width`` grid, in order with w fastest: ``[N, 3]``."""
    t, h, w = torch.meshgrid(
        torch.arange(frames, device=device),
        torch.arange(height, device=device),
        torch.arange(width, device=device),
        indexing="ij",
    )
    return torch.stack([t.reshape(-1), h.reshape(-1), w.reshape(-1)], dim=-1)


def flat_to_positions(token_indices: Tensor, height: int, width: int) -> Tensor:
    """Split flat token indices (t*H*W + h*W + w) into (t, h, w): ``[..., 3]``."""
    per_frame = height * width
    t = token_indices // per_frame
    rem = token_indices - t * per_frame
    h = rem // width
    w = rem - h * width
    return torch.stack([t, h, w], dim=-1)


def apply_rope(x: Tensor, tables: RopeTables) -> Tensor:
    """Rotate ``x`` (``[..., head_dim]``) with tables broadcastable to it."""
    swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)
    return torch.addcmul(x * tables.cos, swapped, tables.sin)


class RopeCache:
    """Small LRU cache of RoPE tables keyed by shape/device/dtype, shared by all layers of one model.

    Not a buffer: tables are recomputed on demand and never stored in a state dict.
    """

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._tables: OrderedDict[tuple, RopeTables] = OrderedDict()

    def get(self, key: tuple, build: Callable[[], RopeTables]) -> RopeTables:
        tables = self._tables.get(key)
        if tables is None:
            tables = build()
            self._tables[key] = tables
            while len(self._tables) > self.max_entries:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(key)
        return tables

    def clear(self) -> None:
        self._tables.clear()

    def grid(
        self, frames: int, height: int, width: int, head_dim: int, device: torch.device, dtype: torch.dtype
    ) -> RopeTables:
        """Tables ``[frames*height*width, head_dim]`` for a full token grid."""
        key = ("grid", frames, height, width, head_dim, str(device), dtype)
        return self.get(
            key, lambda: build_rope_tables(grid_positions(frames, height, width, device), head_dim).to(dtype)
        )
