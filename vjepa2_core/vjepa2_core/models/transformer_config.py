"""Behaviour shared by the size configs of the models (encoder, predictors, probe classifier)."""

from __future__ import annotations

import dataclasses
from typing import Any, Self


class TransformerConfig:
    """Mixin for the model-size dataclasses: checks the width splits into heads, derives ``mlp_hidden`` from
    ``mlp_ratio`` when not given, and converts to/from the plain dict stored in checkpoints.

    It declares no dataclass fields, so each subclass keeps its own field order, defaults and dict layout.
    Subclasses with extra checks call ``super().__post_init__()`` from their own ``__post_init__``.
    """

    embed_dim: int
    num_heads: int
    mlp_hidden: int | None
    mlp_ratio: float

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads != 0:
            raise ValueError(f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads}")
        if self.mlp_hidden is None:
            self.mlp_hidden = int(self.embed_dim * self.mlp_ratio)

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        return cls(**d)
