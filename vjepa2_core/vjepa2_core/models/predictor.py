"""V-JEPA 2 pretraining predictor: predicts masked-out token features from context tokens."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .blocks import Block, init_vit_weights
from .encoder import activation_dtype
from .rope import build_rope_tables, flat_to_positions
from .transformer_config import TransformerConfig


@dataclass
class PredictorConfig(TransformerConfig):
    """Size of the mask-token predictor (released: 384 wide, 12 deep, 12 heads, 10 mask tokens).

    ``img_size`` / ``patch_size`` fix the spatial token grid used to turn flat token indices into (t, h, w)
    RoPE positions (the reference predictor always uses ``img_size // patch_size`` on both axes); pass
    ``grid_hw`` to :meth:`MaskPredictor.forward` for other inputs.
    """

    enc_embed_dim: int = 1024
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 12
    mlp_hidden: int | None = None
    mlp_ratio: float = 4.0
    num_mask_tokens: int = 10
    patch_size: int = 16
    tubelet_size: int = 2
    img_size: int = 256
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_mask_tokens < 1:
            raise ValueError("num_mask_tokens must be >= 1")


def _as_index_batch(indices: Tensor, batch: int, name: str, device: torch.device) -> Tensor:
    idx = torch.as_tensor(indices, device=device).long()
    if idx.ndim == 1:
        idx = idx.unsqueeze(0).expand(batch, -1)
    if idx.ndim != 2 or idx.shape[0] != batch:
        raise ValueError(f"{name} must be [B, N] with B={batch} or [N], got shape {tuple(idx.shape)}")
    if idx.numel() and int(idx.min()) < 0:
        raise ValueError(f"{name} must be non-negative flat token indices")
    return idx


class MaskPredictor(nn.Module):
    """Predictor with learned mask tokens (state-dict layout of the official ``predictor`` entry)."""

    def __init__(self, cfg: PredictorConfig, init_weights: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.predictor_embed = nn.Linear(cfg.enc_embed_dim, cfg.embed_dim)
        self.mask_tokens = nn.ParameterList(
            [nn.Parameter(torch.zeros(1, 1, cfg.embed_dim)) for _ in range(cfg.num_mask_tokens)]
        )
        self.predictor_blocks = nn.ModuleList(
            [
                Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_hidden, cfg.qkv_bias, cfg.layer_norm_eps)
                for _ in range(cfg.depth)
            ]
        )
        self.predictor_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.predictor_proj = nn.Linear(cfg.embed_dim, cfg.enc_embed_dim)
        if init_weights:
            init_vit_weights(self, self.predictor_blocks)

    def forward(
        self,
        context_tokens: Tensor,
        context_indices: Tensor,
        target_indices: Tensor,
        mask_index: int = 1,
        grid_hw: tuple[int, int] | None = None,
    ) -> Tensor:
        """Predict encoder features at ``target_indices``.

        context_tokens: encoder output for the context tokens ``[B, Nc, D_enc]``.
        context_indices / target_indices: flat token indices ``[B, Nc]`` / ``[B, Nt]`` (or 1-D, shared).
        mask_index: which learned mask token to use (taken modulo the number of mask tokens; 1 is what the
            reference evals and HF use).
        grid_hw: tokens per frame (Hp, Wp); default ``img_size // patch_size`` on both axes.
        Returns ``[B, Nt, D_enc]``.
        """
        if context_tokens.ndim != 3 or context_tokens.shape[-1] != self.cfg.enc_embed_dim:
            raise ValueError(
                f"context_tokens must be [B, Nc, {self.cfg.enc_embed_dim}], got {tuple(context_tokens.shape)}"
            )
        batch, num_ctx, _ = context_tokens.shape
        device = context_tokens.device
        ctx_idx = _as_index_batch(context_indices, batch, "context_indices", device)
        tgt_idx = _as_index_batch(target_indices, batch, "target_indices", device)
        if ctx_idx.shape[1] != num_ctx:
            raise ValueError(f"context_indices has {ctx_idx.shape[1]} tokens but context_tokens has {num_ctx}")
        grid = grid_hw or (self.cfg.img_size // self.cfg.patch_size,) * 2

        x = self.predictor_embed(context_tokens)
        mask_token = self.mask_tokens[mask_index % self.cfg.num_mask_tokens]
        targets = mask_token.to(x.dtype).expand(batch, tgt_idx.shape[1], -1)
        x = torch.cat([x, targets], dim=1)
        ids = torch.cat([ctx_idx, tgt_idx], dim=1)

        # sort tokens by position id (as the reference does); RoPE positions follow the sorted ids
        order = torch.argsort(ids, dim=1, stable=True)
        ids = torch.gather(ids, 1, order)
        x = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        rope = build_rope_tables(flat_to_positions(ids, *grid), self.cfg.head_dim).to(activation_dtype(x))
        for blk in self.predictor_blocks:
            x = blk(x, rope)

        # position of every target token in the sorted sequence
        where = torch.argsort(order, dim=1)[:, num_ctx:]
        x = torch.gather(x, 1, where.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return self.predictor_proj(self.predictor_norm(x))
