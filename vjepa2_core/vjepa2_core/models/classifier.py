"""Attentive probe classifier (the frozen-encoder evaluation heads: SSv2, Diving48, EK100, ...)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .blocks import Block, CrossAttentionBlock, init_vit_weights
from .transformer_config import TransformerConfig


@dataclass
class ClassifierConfig(TransformerConfig):
    """Attentive probe: ``depth - 1`` self-attention blocks, then a cross-attention block whose learned query
    pools the tokens, then a linear layer.

    Defaults are the official probes': 16 heads (also for ViT-g, whose probes were trained with 16 heads) and
    LayerNorm eps 1e-5 (PyTorch's default, which the official probe uses). HF's
    ``VJEPA2ForVideoClassification`` uses the encoder's head count and eps 1e-6; the HF loader sets those.

    ``heads`` (optional, name -> number of classes) builds the multi-query EK100 anticipation probe instead of
    the single ``linear`` head: one query per head (in order, e.g. verb, noun, action) and a
    ``{name}_classifier``
    linear layer each; ``forward`` then returns a dict of logits.
    """

    embed_dim: int = 1024
    num_classes: int = 174
    num_heads: int = 16
    depth: int = 4
    mlp_hidden: int | None = None
    mlp_ratio: float = 4.0
    num_queries: int = 1
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-5
    heads: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if self.heads is not None:
            self.heads = {str(k): int(v) for k, v in self.heads.items()}
            if not self.heads:
                raise ValueError("heads must name at least one classifier head")
            self.num_queries = len(self.heads)
        super().__post_init__()
        if self.depth < 1:
            raise ValueError("depth must be >= 1 (the cross-attention block)")


class AttentivePooler(nn.Module):
    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.query_tokens = nn.Parameter(torch.zeros(1, cfg.num_queries, cfg.embed_dim))
        self.blocks = nn.ModuleList(
            [
                Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_hidden, cfg.qkv_bias, cfg.layer_norm_eps)
                for _ in range(cfg.depth - 1)
            ]
        )
        self.cross_attention_block = CrossAttentionBlock(
            cfg.embed_dim, cfg.num_heads, cfg.mlp_hidden, cfg.qkv_bias, cfg.layer_norm_eps
        )

    def forward(self, tokens: Tensor) -> Tensor:
        for blk in self.blocks:
            tokens = blk(tokens)  # no RoPE in the probe
        queries = self.query_tokens.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        return self.cross_attention_block(queries, tokens)


class AttentiveClassifier(nn.Module):
    """Official ``AttentiveClassifier`` layout: ``pooler.*`` and ``linear.*`` (or ``{name}_classifier.*`` per
    head for the EK100 anticipation probes)."""

    def __init__(self, cfg: ClassifierConfig, init_weights: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.pooler = AttentivePooler(cfg)
        if cfg.heads is None:
            self.linear = nn.Linear(cfg.embed_dim, cfg.num_classes)
        else:
            for name, classes in cfg.heads.items():
                setattr(self, f"{name}_classifier", nn.Linear(cfg.embed_dim, classes))
        if init_weights:
            init_vit_weights(self, self.pooler.blocks)
            nn.init.trunc_normal_(self.pooler.query_tokens, std=0.02)

    def forward(self, tokens: Tensor) -> Tensor | dict[str, Tensor]:
        """Tokens ``[B, N, D]`` -> logits ``[B, num_classes]`` (``[B, Q, num_classes]`` for Q > 1 queries), or
        ``{name: [B, classes]}`` for a multi-head probe."""
        if tokens.ndim != 3 or tokens.shape[-1] != self.cfg.embed_dim:
            raise ValueError(f"tokens must be [B, N, {self.cfg.embed_dim}], got {tuple(tokens.shape)}")
        pooled = self.pooler(tokens)
        if self.cfg.heads is not None:
            return {name: getattr(self, f"{name}_classifier")(pooled[:, i]) for i, name in enumerate(self.cfg.heads)}
        if pooled.shape[1] == 1:
            pooled = pooled.squeeze(1)
        return self.linear(pooled)
