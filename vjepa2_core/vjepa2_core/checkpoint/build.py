"""Strict building: a model of the given kind and config, checked against a state dict before anything loads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .common import IGNORABLE_KEYS, KIND_OF_CLASS, KINDS, MAX_LISTED, CheckpointError, shape


def check_state_dict(model: nn.Module, sd: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Return ``sd`` without ignorable keys, or raise one CheckpointError listing the first mismatches."""
    sd = {k: v for k, v in sd.items() if k not in IGNORABLE_KEYS}
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    mismatched = [
        (k, shape(sd[k]), shape(expected[k]))
        for k in expected
        if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        kind = KIND_OF_CLASS.get(type(model), type(model).__name__)
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing key(s) (first: {', '.join(missing[:MAX_LISTED])})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected key(s) (first: {', '.join(unexpected[:MAX_LISTED])})")
        if mismatched:
            desc = "; ".join(f"{k}: checkpoint {a} vs model {b}" for k, a, b in mismatched[:MAX_LISTED])
            problems.append(f"{len(mismatched)} shape mismatch(es) ({desc})")
        cfg = getattr(model, "cfg", None)
        raise CheckpointError(
            f"{source}: does not match the {kind} {cfg}: " + "; ".join(problems),
            argument="sizes",
            fix="check the file, the entry and the size arguments (preset / num_heads / config); nothing was loaded",
        )
    return sd


def meta_model(kind: str, cfg: Any) -> nn.Module:
    """An uninitialised model of ``kind`` on the meta device (no memory, no random init)."""
    cls, _ = KINDS[kind]
    with torch.device("meta"):
        return cls(cfg, init_weights=False)


def validate_component(kind: str, cfg: Any, sd: Mapping[str, Tensor], source: str) -> None:
    """Raise the CheckpointError that :func:`build_from_state_dict` would, without loading any weights."""
    check_state_dict(meta_model(kind, cfg), sd, source)


def build_from_state_dict(
    kind: str,
    cfg: Any,
    sd: Mapping[str, Tensor],
    source: str,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Instantiate ``kind`` with ``cfg`` (no random init), load ``sd`` strictly; returns it in eval mode."""
    model = meta_model(kind, cfg)
    sd = check_state_dict(model, sd, source)
    device = torch.device(device) if device is not None else torch.device("cpu")
    sd = {
        k: v.to(device=device, dtype=dtype if (dtype is not None and v.is_floating_point()) else v.dtype)
        for k, v in sd.items()
    }
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()
