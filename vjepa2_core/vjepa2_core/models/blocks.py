"""Transformer building blocks shared by the encoder, the predictors and the attentive probe.

Parameter names follow the official V-JEPA 2 code (``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``,
``mlp.fc1``, ``mlp.fc2``; ``xattn.q`` / ``xattn.kv`` for the probe's cross-attention), so official state dicts
only need their ``module.`` / ``backbone.`` prefixes stripped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .rope import RopeTables, apply_rope

KVPair = tuple[Tensor, Tensor]
"""Keys (after RoPE) and values of one layer, each ``[B, L, heads, head_dim]``."""


_FAST_CPU_KERNELS = {"enabled": True}


def set_fast_cpu_kernels(enabled: bool) -> None:
    """Turn the oneDNN fused linear(+GELU) inference path on CPU on or off (on by default)."""
    _FAST_CPU_KERNELS["enabled"] = bool(enabled)


def _fused_linear_ok(x: Tensor, weight: Tensor) -> bool:
    """oneDNN's fused linear has no autograd and no autocast support: use it only for plain (eager) CPU inference."""
    return (
        _FAST_CPU_KERNELS["enabled"]
        and x.device.type == "cpu"
        and not torch.is_grad_enabled()
        and x.dtype == weight.dtype
        and x.dtype in (torch.float32, torch.bfloat16)
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()  # inductor fuses (and packs weights) itself
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        and torch.backends.mkldnn.is_available()
    )


def fast_linear(x: Tensor, linear: nn.Linear) -> Tensor:
    """``linear(x)``; through oneDNN directly on CPU at inference."""
    if _fused_linear_ok(x, linear.weight):
        try:
            return torch.ops.mkldnn._linear_pointwise(x, linear.weight, linear.bias, "none", [], "")
        except RuntimeError:
            set_fast_cpu_kernels(False)
    return linear(x)


def linear_gelu(x: Tensor, linear: nn.Linear) -> Tensor:
    """``gelu(linear(x))`` (exact GELU); fused into the GEMM on CPU at inference."""
    if _fused_linear_ok(x, linear.weight):
        try:
            return torch.ops.mkldnn._linear_pointwise(x, linear.weight, linear.bias, "gelu", [], "none")
        except RuntimeError:  # an unsupported shape/build: fall back for good
            set_fast_cpu_kernels(False)
    return F.gelu(linear(x))


class MLP(nn.Module):
    """``fc1 -> GELU (exact) -> fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return fast_linear(linear_gelu(x, self.fc1), self.fc2)


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection, optional RoPE on q and k, SDPA.

    Works in the token-major layout ``[B, N, heads, head_dim]`` throughout: q/k/v are strided views of the fused
    projection, SDPA reads them transposed, and its output is already token-major, so no permute copies are made.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"embed dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    @staticmethod
    def _rotate_qk_head_major(qkv: Tensor, rope: RopeTables | None) -> tuple[Tensor, Tensor]:
        """q, k ``[B, H, N, hd]`` (contiguous) from the fused projection ``[B, N, 3, H, hd]``."""
        qk = qkv[:, :, :2].permute(2, 0, 3, 1, 4)  # [2, B, H, N, hd] view
        if rope is None:
            qk = qk.contiguous()
            return qk[0], qk[1]
        cos, sin = rope
        if cos.ndim == 3:  # per-sample tables [B, N, hd] -> [B, 1, N, hd]
            cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        swapped = qk.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)
        if torch.is_grad_enabled() and qk.requires_grad:
            out = torch.addcmul(qk * cos, swapped, sin)
        else:  # write straight into a contiguous head-major buffer (what SDPA reads fastest)
            out = torch.empty(qk.shape, dtype=qk.dtype, device=qk.device)
            torch.mul(qk, cos, out=out)
            out.addcmul_(swapped, sin)
        return out[0], out[1]

    def forward(
        self,
        x: Tensor,
        rope: RopeTables | None = None,
        attn_mask: Tensor | None = None,
        past_kv: KVPair | None = None,
        return_kv: bool = False,
    ) -> Tensor | tuple[Tensor, KVPair]:
        """Attend ``x`` ``[B, N, D]``.

        rope: tables ``[N, hd]`` or ``[B, N, hd]`` for the tokens of ``x``.
        attn_mask: boolean ``[N, N_keys]`` (True = may attend), ``N_keys`` counting ``past_kv`` first.
        past_kv: cached keys/values of earlier tokens (batch 1 broadcasts to ``B``).
        return_kv: also return this call's full keys/values (past + new) for caching.
        """
        batch, num_tokens, dim = x.shape
        qkv = fast_linear(x, self.qkv).view(batch, num_tokens, 3, self.num_heads, self.head_dim)
        if past_kv is None and not return_kv:
            # fast path: q and k come out of RoPE already head-major and contiguous, v is read strided
            q, k = self._rotate_qk_head_major(qkv, rope)
            v = qkv[:, :, 2].transpose(1, 2)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
            return fast_linear(out.transpose(1, 2).reshape(batch, num_tokens, dim), self.proj)
        v = qkv[:, :, 2]
        if rope is not None:
            qk = apply_rope(qkv[:, :, :2], RopeTables(rope.cos[..., None, None, :], rope.sin[..., None, None, :]))
            q, k = qk[:, :, 0], qk[:, :, 1]
        else:
            q, k = qkv[:, :, 0], qkv[:, :, 1]
        if past_kv is not None:
            past_k, past_v = past_kv
            if past_k.shape[0] != batch:
                past_k = past_k.expand(batch, -1, -1, -1)
                past_v = past_v.expand(batch, -1, -1, -1)
            k = torch.cat([past_k, k], dim=1)
            v = torch.cat([past_v, v], dim=1)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=attn_mask
        )
        out = self.proj(out.transpose(1, 2).reshape(batch, num_tokens, dim))
        if return_kv:
            return out, (k, v)
        return out


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, qkv_bias: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, mlp_hidden)

    def forward(
        self,
        x: Tensor,
        rope: RopeTables | None = None,
        attn_mask: Tensor | None = None,
        past_kv: KVPair | None = None,
        return_kv: bool = False,
    ) -> Tensor | tuple[Tensor, KVPair]:
        y = self.attn(self.norm1(x), rope, attn_mask, past_kv, return_kv)
        if return_kv:
            y, kv = y
        x = x + y
        x = x + self.mlp(self.norm2(x))
        if return_kv:
            return x, kv
        return x


class CrossAttention(nn.Module):
    """Queries attend to tokens: ``q`` and fused ``kv`` projections, no output projection (as released)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"embed dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)

    def forward(self, queries: Tensor, tokens: Tensor) -> Tensor:
        batch, num_q, dim = queries.shape
        q = self.q(queries).view(batch, num_q, self.num_heads, self.head_dim)
        kv = self.kv(tokens).view(batch, tokens.shape[1], 2, self.num_heads, self.head_dim)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        )
        return out.transpose(1, 2).reshape(batch, num_q, dim)


class CrossAttentionBlock(nn.Module):
    """``q + xattn(q, norm1(x))`` then ``q + mlp(norm2(q))`` (the query itself is not normalised)."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, qkv_bias: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.xattn = CrossAttention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, mlp_hidden)

    def forward(self, queries: Tensor, tokens: Tensor) -> Tensor:
        queries = queries + self.xattn(queries, self.norm1(tokens))
        return queries + self.mlp(self.norm2(queries))


def init_vit_weights(module: nn.Module, blocks: nn.ModuleList, std: float = 0.02) -> None:
    """Reference init (only matters when training from scratch): trunc-normal linears/convs, zero biases,
    unit LayerNorms, then each block's ``attn.proj`` and ``mlp.fc2`` weights divided by sqrt(2 * layer_id)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv3d, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    with torch.no_grad():
        for layer_id, blk in enumerate(blocks, start=1):
            blk.attn.proj.weight.div_((2.0 * layer_id) ** 0.5)
            blk.mlp.fc2.weight.div_((2.0 * layer_id) ** 0.5)
