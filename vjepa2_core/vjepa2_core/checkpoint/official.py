"""Official V-JEPA 2 ``.pt`` files: safe loading, entry selection, prefix stripping and config inference.

Layouts: ``vitl.pt`` / ``vith.pt`` / ``vitg.pt`` / ``vitg-384.pt`` hold ``encoder``, ``target_encoder`` and
``predictor``; ``vjepa2-ac-vitg.pt`` holds ``encoder`` and ``predictor`` (the AC predictor, with
``extrinsics_encoder``); probe files hold ``classifiers[0]`` (``module.pooler.*`` / ``module.linear.*``). Keys
carry ``module.`` and/or ``backbone.`` prefixes, which are stripped. Read with ``torch.load(weights_only=True)``.

Sizes the files do not store (head counts of non-released widths, the training crop that fixes the mask
predictor's token grid, the AC predictor's grid) come from :class:`SizeArgs`, or are inferred with a logged
warning saying from what; never from the file name.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..models import (
    ACPredictorConfig,
    ClassifierConfig,
    EncoderConfig,
    PredictorConfig,
    encoder_preset,
    preset_for_embed_dim,
)
from .common import MAX_LISTED, CheckpointError, Component, Contents, checked_file, is_state_dict, torch_error_text

log = logging.getLogger(__name__)

DEFAULT_IMG_SIZE = 256
DEFAULT_AC_GRID = (16, 16)
ENTRY_CANDIDATES: dict[str, list[str]] = {
    "encoder": ["encoder", "target_encoder"],
    "predictor": ["predictor"],
    "ac_predictor": ["predictor"],
    "classifier": ["classifiers", "classifier"],
}


@dataclass(frozen=True)
class SizeArgs:
    """Explicit sizes and entries for files that do not store them (``None``: infer, or the released value).

    ``configs`` replaces inference for a kind altogether; ``entries`` picks the official entry per kind (e.g.
    ``{"encoder": "target_encoder"}``).
    """

    preset: str | None = None
    num_heads: int | None = None
    img_size: int | None = None
    predictor_num_heads: int | None = None
    classifier_num_heads: int | None = None
    grid: tuple[int, int] | None = None
    use_extrinsics: bool = False
    entries: Mapping[str, str] = field(default_factory=dict)
    configs: Mapping[str, Any] = field(default_factory=dict)


def load_official_file(path: str | Path) -> dict[str, Any]:
    """``torch.load`` an official checkpoint safely (``weights_only=True``, memory-mapped when possible)."""
    p = checked_file(Path(path), "checkpoint")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # garbage: the error says it
            try:
                obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = torch_error_text(e)
        if "GLOBAL" in detail:
            raise CheckpointError(
                f"{p}: contains Python objects other than tensors and plain containers, which are never "
                f"unpickled (checkpoints are untrusted input; {detail}). Official V-JEPA 2 files load as they "
                "are; re-save other files as a state dict or safetensors"
            ) from None
        raise CheckpointError(f"{p}: not a readable torch checkpoint ({detail})") from None
    except Exception as e:  # torch raises many types for a corrupt or truncated file
        raise CheckpointError(f"{p}: not a readable torch checkpoint ({torch_error_text(e)})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a dict of entries or a state dict, got {type(obj).__name__}")
    return obj


def strip_official_prefixes(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Remove leading ``module.`` / ``backbone.`` (DDP / multi-sequence wrappers) from every key."""
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        while True:
            if key.startswith("module."):
                key = key[len("module.") :]
            elif key.startswith("backbone."):
                key = key[len("backbone.") :]
            else:
                break
        out[key] = value
    return out


def describe_entries(ckpt: Mapping[str, Any]) -> str:
    parts = []
    for k, v in ckpt.items():
        if is_state_dict(v):
            parts.append(f"{k} ({len(v)} tensors)")
        elif isinstance(v, (list, tuple)) and v and all(is_state_dict(x) for x in v):
            parts.append(f"{k} (list of {len(v)} state dicts)")
        else:
            parts.append(k)
    return ", ".join(parts) if parts else "(empty)"


def training_checkpoint_hint(ckpt: Mapping[str, Any], path: Path) -> str | None:
    """A hint for a vjepa2_training resume checkpoint (``<run>/checkpoints/latest.pt``), else None."""
    if not ("step" in ckpt and "kind" in ckpt and "models" in ckpt):
        return None
    run = path.parent.parent if path.parent.name == "checkpoints" else Path("<run>")
    export = run / "export"
    exported = sorted(str(f) for f in export.glob("*.safetensors")) if export.is_dir() else []
    names = " or ".join(exported) if exported else f"{export}/encoder.safetensors (or predictor / ac_predictor)"
    return (
        f"this is a vjepa2_training resume checkpoint ({ckpt.get('kind')!r} run, step {ckpt.get('step')}), "
        f"not a model file; pass {names}, written when the run ends"
    )


def official_entry(
    ckpt: Mapping[str, Any], path: str | Path, candidates: list[str], entry: str | None = None
) -> tuple[str, dict[str, Tensor]]:
    """Pick a state dict: ``entry`` (e.g. ``"target_encoder"``, ``"classifiers[0]"``) or the first of
    ``candidates`` present; a bare state dict is used as is."""
    if is_state_dict(ckpt) and entry is None:
        return "<state dict>", strip_official_prefixes(ckpt)
    names = [entry] if entry is not None else candidates
    for name in names:
        m = re.fullmatch(r"(\w+)\[(\d+)\]", name)
        base, index = (m.group(1), int(m.group(2))) if m else (name, None)
        if base not in ckpt:
            continue
        value = ckpt[base]
        if isinstance(value, (list, tuple)):
            index = 0 if index is None else index
            if index >= len(value):
                raise CheckpointError(f"{path}: entry {base!r} has {len(value)} items, index {index} is out of range")
            value, name = value[index], f"{base}[{index}]"
        if not is_state_dict(value):
            raise CheckpointError(f"{path}: entry {name!r} is not a state dict of tensors")
        return name, strip_official_prefixes(value)
    hint = training_checkpoint_hint(ckpt, Path(path))
    if hint is not None:
        raise CheckpointError(f"{path}: {hint}")
    wanted = entry if entry is not None else " / ".join(candidates)
    raise CheckpointError(
        f"{path}: no entry {wanted!r}; the file has: {describe_entries(ckpt)}",
        argument="entry",
        fix="pass entry=... to choose one",
    )


# ----------------------------------------------------------------------------------------------- config inference
def _count_blocks(sd: Mapping[str, Tensor], prefix: str) -> int:
    ids = {int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(ids) + 1 if ids else 0


def _need(sd: Mapping[str, Tensor], key: str, what: str, source: str) -> Tensor:
    if key not in sd:
        sample = ", ".join(list(sd)[:MAX_LISTED])
        raise CheckpointError(f"{source}: no {key!r} - this is not {what} state dict (its keys start: {sample})")
    return sd[key]


def _default_img_size(source: str, what: str) -> int:
    log.warning(
        "%s: the file does not store the training crop of the %s; assuming %d px (%dx%d tokens per frame). "
        "Pass img_size=384 (vjepa2-convert: --img-size 384) for ViT-g-384 weights",
        source,
        what,
        DEFAULT_IMG_SIZE,
        DEFAULT_IMG_SIZE // 16,
        DEFAULT_IMG_SIZE // 16,
    )
    return DEFAULT_IMG_SIZE


def infer_encoder_config(
    sd: Mapping[str, Tensor],
    source: str,
    preset: str | None = None,
    num_heads: int | None = None,
    img_size: int | None = None,
) -> EncoderConfig:
    """EncoderConfig from weight shapes. The head count comes from ``preset`` / ``num_heads`` or the released
    preset of the same width (it cannot be read from shapes); the crop from ``img_size`` / ``preset``, else
    the released one (256 px, with a warning where 384 px weights of the same shapes exist)."""
    w = _need(sd, "patch_embed.proj.weight", "an encoder", source)
    if w.ndim != 5:
        raise CheckpointError(
            f"{source}: patch_embed.proj.weight has shape {tuple(w.shape)}; V-JEPA 2 encoders use "
            "a Conv3d tubelet embedding [D, C, 2, 16, 16]"
        )
    dim, chans, tubelet, patch, _ = w.shape
    fc1 = _need(sd, "blocks.0.mlp.fc1.weight", "an encoder", source)
    found = dict(
        embed_dim=dim,
        depth=_count_blocks(sd, "blocks."),
        mlp_hidden=fc1.shape[0],
        patch_size=patch,
        tubelet_size=tubelet,
        in_chans=chans,
        qkv_bias="blocks.0.attn.qkv.bias" in sd,
    )
    name = preset
    if name is None:
        name = preset_for_embed_dim(dim)
        if name == "vit_giant" and img_size == 384:
            name = "vit_giant_384"
    if name is not None:
        base = encoder_preset(name)
        if preset is not None:
            clash = {k: (getattr(base, k), v) for k, v in found.items() if getattr(base, k) != v}
            if clash:
                desc = ", ".join(f"{k}: preset {a} vs checkpoint {b}" for k, (a, b) in clash.items())
                raise CheckpointError(
                    f"{source}: preset {preset!r} does not match the checkpoint ({desc})",
                    argument="encoder.preset",
                    fix="pass the right preset, or none to infer it from the weights",
                )
        if base.depth == found["depth"] and base.mlp_hidden == found["mlp_hidden"]:
            if preset is None and img_size is None and name == "vit_giant":
                _default_img_size(source, "ViT-g encoder")
            return EncoderConfig(
                **{
                    **base.to_dict(),
                    **found,
                    "num_heads": num_heads or base.num_heads,
                    "img_size": img_size or base.img_size,
                }
            )
    if num_heads is None:
        raise CheckpointError(
            f"{source}: encoder of width {dim} / depth {found['depth']} is not a released size, "
            "and the head count cannot be read from weight shapes",
            argument="encoder.num_heads",
            fix="pass num_heads=... (or config=EncoderConfig(...))",
        )
    return EncoderConfig(**found, num_heads=num_heads, img_size=img_size or _default_img_size(source, "encoder"))


_RELEASED_PREDICTOR_HEADS = {  # kind: (label, released width, released heads, config class)
    "predictor": ("predictor", 384, 12, "PredictorConfig"),
    "ac_predictor": ("AC predictor", 1024, 16, "ACPredictorConfig"),
}


def _predictor_heads(num_heads: int | None, dim: int, kind: str, source: str) -> int:
    """``num_heads``, or the released head count if ``dim`` is the released width (shapes do not store it)."""
    label, released_dim, released_heads, config_name = _RELEASED_PREDICTOR_HEADS[kind]
    if num_heads is not None:
        return num_heads
    if dim != released_dim:
        raise CheckpointError(
            f"{source}: {label} width {dim} is not the released {released_dim}",
            argument=f"{kind}.num_heads",
            fix=f"pass num_heads=... (or config={config_name}(...))",
        )
    return released_heads


def infer_predictor_config(
    sd: Mapping[str, Tensor], source: str, num_heads: int | None = None, img_size: int | None = None
) -> PredictorConfig:
    """PredictorConfig from weight shapes; ``img_size`` fixes the token grid (not stored: 256 px with a
    warning when not given)."""
    embed = _need(sd, "predictor_embed.weight", "a predictor", source)
    if "action_encoder.weight" in sd:
        raise CheckpointError(f"{source}: this is a V-JEPA 2-AC action-conditioned predictor; use load_ac_predictor")
    num_mask = len([k for k in sd if re.fullmatch(r"mask_tokens\.\d+", k)])
    dim = embed.shape[0]
    num_heads = _predictor_heads(num_heads, dim, "predictor", source)
    fc1 = _need(sd, "predictor_blocks.0.mlp.fc1.weight", "a predictor", source)
    return PredictorConfig(
        enc_embed_dim=embed.shape[1],
        embed_dim=dim,
        depth=_count_blocks(sd, "predictor_blocks."),
        num_heads=num_heads,
        mlp_hidden=fc1.shape[0],
        num_mask_tokens=max(num_mask, 1),
        img_size=img_size or _default_img_size(source, "mask predictor"),
        qkv_bias="predictor_blocks.0.attn.qkv.bias" in sd,
    )


def infer_ac_config(
    sd: Mapping[str, Tensor],
    source: str,
    num_heads: int | None = None,
    grid: tuple[int, int] | None = None,
    use_extrinsics: bool = False,
) -> ACPredictorConfig:
    """ACPredictorConfig from weight shapes; ``grid`` is the per-frame token grid (not stored: the released
    16x16 with a warning when not given)."""
    embed = _need(sd, "predictor_embed.weight", "an AC predictor", source)
    action = _need(sd, "action_encoder.weight", "an action-conditioned (V-JEPA 2-AC) predictor", source)
    dim = embed.shape[0]
    num_heads = _predictor_heads(num_heads, dim, "ac_predictor", source)
    fc1 = _need(sd, "predictor_blocks.0.mlp.fc1.weight", "an AC predictor", source)
    state = _need(sd, "state_encoder.weight", "an AC predictor", source)
    extr = _need(sd, "extrinsics_encoder.weight", "an AC predictor (extrinsics_encoder is always stored)", source)
    if grid is None:
        log.warning(
            "%s: the file does not store the AC predictor's token grid; assuming the released %dx%d "
            "(256 px frames). Pass grid=(H, W) for other frame sizes",
            source,
            *DEFAULT_AC_GRID,
        )
        grid = DEFAULT_AC_GRID
    return ACPredictorConfig(
        enc_embed_dim=embed.shape[1],
        embed_dim=dim,
        depth=_count_blocks(sd, "predictor_blocks."),
        num_heads=num_heads,
        mlp_hidden=fc1.shape[0],
        action_dim=action.shape[1],
        state_dim=state.shape[1],
        extrinsics_dim=extr.shape[1],
        use_extrinsics=use_extrinsics,
        grid_h=grid[0],
        grid_w=grid[1],
        qkv_bias="predictor_blocks.0.attn.qkv.bias" in sd,
    )


def infer_classifier_config(sd: Mapping[str, Tensor], source: str, num_heads: int | None = None) -> ClassifierConfig:
    """Probe config from shapes: a single ``linear`` head (SSv2, Diving48, ...) or the EK100 multi-query probe
    with ``verb_classifier`` / ``noun_classifier`` / ``action_classifier`` heads. 16 heads unless given."""
    query = _need(sd, "pooler.query_tokens", "an attentive probe", source)
    fc1 = _need(sd, "pooler.cross_attention_block.mlp.fc1.weight", "an attentive probe", source)
    common = dict(
        embed_dim=query.shape[-1],
        num_heads=num_heads or 16,
        depth=_count_blocks(sd, "pooler.blocks.") + 1,
        mlp_hidden=fc1.shape[0],
        num_queries=query.shape[1],
        qkv_bias="pooler.cross_attention_block.xattn.q.bias" in sd,
    )
    if "linear.weight" in sd:
        return ClassifierConfig(num_classes=sd["linear.weight"].shape[0], **common)
    heads = {
        n: sd[f"{n}_classifier.weight"].shape[0] for n in ("verb", "noun", "action") if f"{n}_classifier.weight" in sd
    }
    if not heads:
        raise CheckpointError(f"{source}: attentive probe without 'linear.weight' or '*_classifier.weight' heads")
    return ClassifierConfig(num_classes=heads.get("action", next(iter(heads.values()))), heads=heads, **common)


def _infer(kind: str, sd: Mapping[str, Tensor], source: str, sizes: SizeArgs) -> Any:
    if kind in sizes.configs:
        return sizes.configs[kind]
    if kind == "encoder":
        return infer_encoder_config(sd, source, sizes.preset, sizes.num_heads, sizes.img_size)
    if kind == "predictor":
        img_size = sizes.img_size or (encoder_preset(sizes.preset).img_size if sizes.preset else None)
        return infer_predictor_config(sd, source, sizes.predictor_num_heads, img_size)
    if kind == "ac_predictor":
        return infer_ac_config(sd, source, sizes.predictor_num_heads, sizes.grid, sizes.use_extrinsics)
    return infer_classifier_config(sd, source, sizes.classifier_num_heads)


def _present_kinds(ckpt: Mapping[str, Any], sizes: SizeArgs) -> list[str]:
    """The kinds an official file holds, for listing everything (``vjepa2-convert``)."""
    kinds = []
    bare_encoder = is_state_dict(ckpt) and any(k.endswith("patch_embed.proj.weight") for k in ckpt)
    if "encoder" in sizes.entries or "encoder" in ckpt or "target_encoder" in ckpt or bare_encoder:
        kinds.append("encoder")
    if isinstance(ckpt.get("predictor"), Mapping):
        kinds.append(
            "ac_predictor" if any(k.endswith("action_encoder.weight") for k in ckpt["predictor"]) else "predictor"
        )
    if "classifiers" in ckpt or "classifier" in ckpt:
        kinds.append("classifier")
    return kinds


def read_official(path: Path, sizes: SizeArgs, kinds: list[str] | None = None) -> Contents:
    """The requested ``kinds`` (all present ones if None) of an official file, with configs inferred."""
    ckpt = load_official_file(path)
    contents = Contents("official", describe_entries(ckpt))
    wanted = _present_kinds(ckpt, sizes) if kinds is None else kinds
    if not wanted:
        hint = training_checkpoint_hint(ckpt, path)
        raise CheckpointError(
            f"{path}: {hint}"
            if hint
            else f"{path}: found no encoder, predictor or classifier entry; the file has: {contents.description}"
        )
    for kind in wanted:
        entry, sd = official_entry(ckpt, path, ENTRY_CANDIDATES[kind], sizes.entries.get(kind))
        source = f"{path} [{entry}]"
        contents.components[kind] = Component(kind, _infer(kind, sd, str(path), sizes), sd, entry, source)
    return contents
