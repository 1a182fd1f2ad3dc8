"""Behaviour shared by the size configs of the models (encoder, predictors, probe classifier)."""

from __future__ import annotations

import dataclasses
import types
import typing
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
        """Build from a stored dict; an unknown key or a value of the wrong type raises one ValueError naming
        the key, its value and the expected type."""
        fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(fields))})")
        hints = typing.get_type_hints(cls)
        for key, value in d.items():
            allowed = _allowed_types(hints.get(key))
            if allowed and not _is_instance(value, allowed):
                names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
                raise ValueError(f"{key} = {value!r} ({type(value).__name__}): expected {names}")
        return cls(**d)


def _allowed_types(hint: Any) -> tuple[type, ...]:
    """Plain runtime types of a field annotation (``int | None`` -> (int, NoneType)); () if not checkable."""
    if hint is None:
        return ()
    args = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else (hint,)
    )
    out = []
    for a in args:
        origin = typing.get_origin(a) or a
        if not isinstance(origin, type):
            return ()
        out.append(origin)
    return tuple(out)


def _is_instance(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # bool is an int subclass: only accepted where bool is expected
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    return isinstance(value, allowed)
