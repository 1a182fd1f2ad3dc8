"""Checkpoint I/O: official V-JEPA 2 ``.pt`` files, HF ``facebook/vjepa2-*`` directories, and our own format.

* official: ``vitl.pt``, ``vith.pt``, ``vitg.pt``, ``vitg-384.pt`` (entries ``encoder``, ``target_encoder``,
  ``predictor``), ``vjepa2-ac-vitg.pt`` (``encoder``, ``predictor`` = AC predictor incl.
  ``extrinsics_encoder``),
  probe files (``classifiers[0]`` with ``module.pooler.*`` / ``module.linear.*``). Keys carry ``module.``
  and/or
  ``backbone.`` prefixes, which are stripped. Read with ``torch.load(weights_only=True)`` only.
* hf: a directory with ``config.json`` (``model_type: vjepa2``) and ``model.safetensors`` (or a sharded
index):
  separate q/k/v projections (fused here), stacked mask tokens (split here).
* ours: a directory with ``vjepa2_config.json`` + ``model.safetensors``, or a ``NAME.safetensors`` +
  ``NAME.json`` file pair. One file may hold several components (e.g. ``encoder`` and ``predictor``).

Every load is strict: missing or unexpected keys and shape mismatches raise one :class:`CheckpointError`
naming
the first offenders (only ``pos_embed`` / ``predictor_pos_embed`` are ignored: RoPE replaced them).
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from .models import (
    ACPredictor,
    ACPredictorConfig,
    AttentiveClassifier,
    ClassifierConfig,
    EncoderConfig,
    MaskPredictor,
    PredictorConfig,
    VisionEncoder,
    count_parameters,
    encoder_preset,
    preset_for_embed_dim,
)

FORMAT_NAME = "vjepa2-core"
FORMAT_VERSION = 1
CONFIG_FILE = "vjepa2_config.json"
WEIGHTS_FILE = "model.safetensors"
IGNORABLE_KEYS = ("pos_embed", "predictor_pos_embed")
_MAX_LISTED = 5

KINDS: dict[str, tuple[type[nn.Module], type]] = {
    "encoder": (VisionEncoder, EncoderConfig),
    "predictor": (MaskPredictor, PredictorConfig),
    "ac_predictor": (ACPredictor, ACPredictorConfig),
    "classifier": (AttentiveClassifier, ClassifierConfig),
}
_KIND_OF_CLASS = {cls: kind for kind, (cls, _) in KINDS.items()}


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not match the requested model (the message says what to do)."""


# ----------------------------------------------------------------------------------------------- format
# detection
def detect_format(path: str | Path) -> str:
    """``"official"`` (a torch .pt/.pth file), ``"hf"`` (HF V-JEPA 2 directory) or ``"ours"``."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file or directory")
    if p.is_dir():
        if (p / CONFIG_FILE).is_file():
            return "ours"
        if (p / "config.json").is_file():
            model_type = _read_json(p / "config.json").get("model_type")
            if model_type != "vjepa2":
                raise CheckpointError(
                    f"{p}: config.json has model_type {model_type!r}, expected 'vjepa2' "
                    "(an HF facebook/vjepa2-* directory)"
                )
            return "hf"
        raise CheckpointError(
            f"{p}: directory has neither {CONFIG_FILE} (vjepa2-core format) nor config.json (HF format)"
        )
    if p.suffix == ".safetensors" or p.suffix == ".json":
        if p.with_suffix(".json").is_file() and p.with_suffix(".safetensors").is_file():
            return "ours"
        raise CheckpointError(
            f"{p}: a vjepa2-core file pair needs both {p.with_suffix('.safetensors').name} and "
            f"{p.with_suffix('.json').name}"
        )
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"PK" or magic[:1] == b"\x80":
        return "official"
    raise CheckpointError(
        f"{p}: not a recognised checkpoint (expected a torch .pt file, an HF directory or a "
        "vjepa2-core directory / .safetensors+.json pair)"
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read JSON ({e})") from e


# ----------------------------------------------------------------------------------------------- official
# files
def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def load_official_file(path: str | Path) -> dict[str, Any]:
    """``torch.load`` an official checkpoint safely (``weights_only=True``, memory-mapped when possible)."""
    p = Path(path)
    try:
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's own message suggests weights_only=False: never do that for a file from elsewhere.
        raise CheckpointError(
            f"{p}: contains Python objects other than tensors and plain containers, which are never unpickled "
            "(checkpoints are untrusted input). Official V-JEPA 2 files load as they are; re-save other files "
            "as a state dict or safetensors"
        ) from e
    except Exception as e:  # torch raises many types for a corrupt or truncated file
        raise CheckpointError(f"{p}: not a readable torch checkpoint ({_first_line(e)})") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a dict of entries or a state dict, got {type(obj).__name__}")
    return obj


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, Tensor) for v in obj.values())


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


def _describe_entries(ckpt: Mapping[str, Any]) -> str:
    parts = []
    for k, v in ckpt.items():
        if _is_state_dict(v):
            parts.append(f"{k} ({len(v)} tensors)")
        elif isinstance(v, (list, tuple)) and v and all(_is_state_dict(x) for x in v):
            parts.append(f"{k} (list of {len(v)} state dicts)")
        else:
            parts.append(k)
    return ", ".join(parts) if parts else "(empty)"


def official_entry(
    ckpt: Mapping[str, Any], path: str | Path, candidates: list[str], entry: str | None = None
) -> tuple[str, dict[str, Tensor]]:
    """Pick a state dict from an official checkpoint: ``entry`` (e.g. ``"target_encoder"``,
    ``"classifiers[0]"``) or the first of ``candidates`` present; a bare state dict is used as is."""
    if _is_state_dict(ckpt) and entry is None:
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
        if not _is_state_dict(value):
            raise CheckpointError(f"{path}: entry {name!r} is not a state dict of tensors")
        return name, strip_official_prefixes(value)
    wanted = entry if entry is not None else " / ".join(candidates)
    raise CheckpointError(
        f"{path}: no entry {wanted!r}; the file has: {_describe_entries(ckpt)}. Pass entry=... to choose one."
    )


# ----------------------------------------------------------------------------------------------- config
# inference
def _count_blocks(sd: Mapping[str, Tensor], prefix: str) -> int:
    ids = {int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(ids) + 1 if ids else 0


def _need(sd: Mapping[str, Tensor], key: str, what: str, source: str) -> Tensor:
    if key not in sd:
        sample = ", ".join(list(sd)[:_MAX_LISTED])
        raise CheckpointError(f"{source}: no {key!r} - this is not {what} state dict (its keys start: {sample})")
    return sd[key]


def infer_encoder_config(
    sd: Mapping[str, Tensor],
    source: str,
    preset: str | None = None,
    num_heads: int | None = None,
    img_size: int | None = None,
) -> EncoderConfig:
    """EncoderConfig from weight shapes; the head count comes from ``preset``/``num_heads`` or the released
    preset of the same width (it cannot be read from shapes)."""
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
        if name == "vit_giant" and "384" in Path(str(source)).name:
            name = "vit_giant_384"
    if name is not None:
        base = encoder_preset(name)
        if preset is not None:
            clash = {k: (getattr(base, k), v) for k, v in found.items() if getattr(base, k) != v}
            if clash:
                desc = ", ".join(
                    f"{k}: preset {a} vs checkpoint {b}" for k, a, b in ((k, *ab) for k, ab in clash.items())
                )
                raise CheckpointError(f"{source}: preset {preset!r} does not match the checkpoint ({desc})")
        if base.depth == found["depth"] and base.mlp_hidden == found["mlp_hidden"]:
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
            "and the head count cannot be read from weight shapes: pass num_heads=... "
            "(or config=EncoderConfig(...))"
        )
    return EncoderConfig(**found, num_heads=num_heads, img_size=img_size or 256)


def infer_predictor_config(
    sd: Mapping[str, Tensor], source: str, num_heads: int | None = None, img_size: int | None = None
) -> PredictorConfig:
    embed = _need(sd, "predictor_embed.weight", "a predictor", source)
    if "action_encoder.weight" in sd:
        raise CheckpointError(f"{source}: this is a V-JEPA 2-AC action-conditioned predictor; use load_ac_predictor")
    num_mask = len([k for k in sd if re.fullmatch(r"mask_tokens\.\d+", k)])
    dim = embed.shape[0]
    if num_heads is None:
        if dim != 384:
            raise CheckpointError(f"{source}: predictor width {dim} is not the released 384; pass num_heads=...")
        num_heads = 12
    fc1 = _need(sd, "predictor_blocks.0.mlp.fc1.weight", "a predictor", source)
    return PredictorConfig(
        enc_embed_dim=embed.shape[1],
        embed_dim=dim,
        depth=_count_blocks(sd, "predictor_blocks."),
        num_heads=num_heads,
        mlp_hidden=fc1.shape[0],
        num_mask_tokens=max(num_mask, 1),
        img_size=img_size or 256,
        qkv_bias="predictor_blocks.0.attn.qkv.bias" in sd,
    )


def infer_ac_config(
    sd: Mapping[str, Tensor],
    source: str,
    num_heads: int | None = None,
    grid: tuple[int, int] | None = None,
    use_extrinsics: bool = False,
) -> ACPredictorConfig:
    embed = _need(sd, "predictor_embed.weight", "an AC predictor", source)
    action = _need(sd, "action_encoder.weight", "an action-conditioned (V-JEPA 2-AC) predictor", source)
    dim = embed.shape[0]
    if num_heads is None:
        if dim != 1024:
            raise CheckpointError(f"{source}: AC predictor width {dim} is not the released 1024; pass num_heads=...")
        num_heads = 16
    fc1 = _need(sd, "predictor_blocks.0.mlp.fc1.weight", "an AC predictor", source)
    state = _need(sd, "state_encoder.weight", "an AC predictor", source)
    extr = _need(sd, "extrinsics_encoder.weight", "an AC predictor (extrinsics_encoder is always stored)", source)
    gh, gw = grid or (16, 16)
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
        grid_h=gh,
        grid_w=gw,
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


# ----------------------------------------------------------------------------------------------- strict
# building
def _shape(t: Tensor) -> list[int]:
    return list(t.shape)


def check_state_dict(model: nn.Module, sd: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Return ``sd`` without ignorable keys, or raise one CheckpointError listing the first mismatches."""
    sd = {k: v for k, v in sd.items() if k not in IGNORABLE_KEYS}
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    mismatched = [
        (k, _shape(sd[k]), _shape(expected[k]))
        for k in expected
        if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        kind = _KIND_OF_CLASS.get(type(model), type(model).__name__)
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing key(s) (first: {', '.join(missing[:_MAX_LISTED])})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected key(s) (first: {', '.join(unexpected[:_MAX_LISTED])})")
        if mismatched:
            desc = "; ".join(f"{k}: checkpoint {a} vs model {b}" for k, a, b in mismatched[:_MAX_LISTED])
            problems.append(f"{len(mismatched)} shape mismatch(es) ({desc})")
        cfg = getattr(model, "cfg", None)
        raise CheckpointError(
            f"{source}: does not match the {kind} {cfg}: "
            + "; ".join(problems)
            + ". Check the file, the entry and the size arguments (preset / num_heads / config); "
            "nothing was loaded."
        )
    return sd


def build_from_state_dict(
    kind: str,
    cfg: Any,
    sd: Mapping[str, Tensor],
    source: str,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Instantiate ``kind`` with ``cfg`` (no random init), load ``sd`` strictly; returns it in eval mode."""
    cls, _ = KINDS[kind]
    with torch.device("meta"):
        model = cls(cfg, init_weights=False)
    sd = check_state_dict(model, sd, source)
    device = torch.device(device) if device is not None else torch.device("cpu")
    sd = {
        k: v.to(device=device, dtype=dtype if (dtype is not None and v.is_floating_point()) else v.dtype)
        for k, v in sd.items()
    }
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()


# ----------------------------------------------------------------------------------------------- HF
# directories
_HF_RENAMES: dict[str, list[tuple[str, str]]] = {
    "encoder": [
        (r"^encoder\.embeddings\.patch_embeddings\.proj\.", "patch_embed.proj."),
        (r"^encoder\.layer\.(\d+)\.attention\.(query|key|value|proj)\.", r"blocks.\1.attn.\2."),
        (r"^encoder\.layer\.(\d+)\.", r"blocks.\1."),
        (r"^encoder\.layernorm\.", "norm."),
    ],
    "predictor": [
        (r"^predictor\.embeddings\.predictor_embeddings\.", "predictor_embed."),
        (r"^predictor\.layer\.(\d+)\.attention\.(query|key|value|proj)\.", r"predictor_blocks.\1.attn.\2."),
        (r"^predictor\.layer\.(\d+)\.", r"predictor_blocks.\1."),
        (r"^predictor\.layernorm\.", "predictor_norm."),
        (r"^predictor\.proj\.", "predictor_proj."),
    ],
    "classifier": [
        (r"^pooler\.self_attention_layers\.(\d+)\.layer_norm(\d)\.", r"pooler.blocks.\1.norm\2."),
        (
            r"^pooler\.self_attention_layers\.(\d+)\.self_attn\.(q|k|v)_proj\.",
            r"pooler.blocks.\1.attn.\2_proj.",
        ),
        (r"^pooler\.self_attention_layers\.(\d+)\.self_attn\.out_proj\.", r"pooler.blocks.\1.attn.proj."),
        (r"^pooler\.self_attention_layers\.(\d+)\.mlp\.", r"pooler.blocks.\1.mlp."),
        (r"^pooler\.cross_attention_layer\.layer_norm(\d)\.", r"pooler.cross_attention_block.norm\1."),
        (r"^pooler\.cross_attention_layer\.cross_attn\.q_proj\.", "pooler.cross_attention_block.xattn.q."),
        (
            r"^pooler\.cross_attention_layer\.cross_attn\.(k|v)_proj\.",
            r"pooler.cross_attention_block.xattn.\1_proj.",
        ),
        (r"^pooler\.cross_attention_layer\.mlp\.", "pooler.cross_attention_block.mlp."),
        (r"^classifier\.", "linear."),
    ],
}
_FUSIONS = [  # (separate names in order, fused name)
    (("query", "key", "value"), "qkv"),
    (("q_proj", "k_proj", "v_proj"), "qkv"),
    (("k_proj", "v_proj"), "kv"),
]


def _fuse_projections(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Concatenate separate q/k/v (or k/v) projections row-wise into the fused official layout."""
    for parts, fused in _FUSIONS:
        for key in [k for k in sd if k.endswith(f".{parts[0]}.weight") or k.endswith(f".{parts[0]}.bias")]:
            if key not in sd:
                continue
            stem, leaf = key.rsplit(".", 2)[0], key.rsplit(".", 1)[1]
            names = [f"{stem}.{p}.{leaf}" for p in parts]
            if all(n in sd for n in names):
                sd[f"{stem}.{fused}.{leaf}"] = torch.cat([sd.pop(n) for n in names], dim=0)
    return sd


def hf_to_components(hf_sd: Mapping[str, Tensor], source: str) -> dict[str, dict[str, Tensor]]:
    """Split an HF V-JEPA 2 state dict into our ``encoder`` / ``predictor`` / ``classifier`` state dicts."""
    comps: dict[str, dict[str, Tensor]] = {}
    unknown: list[str] = []
    for key, value in hf_sd.items():
        key = key[len("vjepa2.") :] if key.startswith("vjepa2.") else key
        if key == "predictor.embeddings.mask_tokens":
            if value.ndim != 4:
                raise CheckpointError(f"{source}: {key} has shape {_shape(value)}, expected [num_tokens, 1, 1, D]")
            for i in range(value.shape[0]):
                comps.setdefault("predictor", {})[f"mask_tokens.{i}"] = value[i]
            continue
        comp = {
            "encoder": "encoder",
            "predictor": "predictor",
            "pooler": "classifier",
            "classifier": "classifier",
        }.get(key.split(".", 1)[0])
        if comp is None:
            unknown.append(key)
            continue
        for pattern, repl in _HF_RENAMES[comp]:
            new_key, n = re.subn(pattern, repl, key)
            if n:
                key = new_key
                break
        comps.setdefault(comp, {})[key] = value
    if unknown:
        raise CheckpointError(
            f"{source}: {len(unknown)} key(s) that are not part of an HF V-JEPA 2 model "
            f"(first: {', '.join(unknown[:_MAX_LISTED])})"
        )
    return {name: _fuse_projections(sd) for name, sd in comps.items()}


def _read_safetensors(files: list[Path]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt", device="cpu") as handle:
                for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                    out[key] = handle.get_tensor(key)
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(f"{f}: cannot read safetensors ({e})") from e
    return out


def _hf_weight_files(directory: Path) -> list[Path]:
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
        missing = [s for s in shards if not (directory / s).is_file()]
        if missing:
            raise CheckpointError(f"{directory}: shard(s) listed in the index are missing: {', '.join(missing)}")
        return [directory / s for s in shards]
    raise CheckpointError(
        f"{directory}: no model.safetensors (or model.safetensors.index.json); download the "
        "safetensors weights of the HF repo (pytorch_model.bin is not read)"
    )


def hf_configs(cfg: Mapping[str, Any], sd: Mapping[str, dict[str, Tensor]], source: str) -> dict[str, Any]:
    """Our configs for the components of an HF V-JEPA 2 checkpoint (MLP widths read from weight shapes)."""

    def width(comp: str, key: str, fallback: int) -> int:
        t = sd.get(comp, {}).get(key)
        return int(t.shape[0]) if t is not None else fallback

    hidden = int(cfg.get("hidden_size", 1024))
    crop = int(cfg.get("crop_size", 256))
    eps = float(cfg.get("layer_norm_eps", 1e-6))
    qkv_bias = bool(cfg.get("qkv_bias", True))
    patch, tubelet = int(cfg.get("patch_size", 16)), int(cfg.get("tubelet_size", 2))
    enc = EncoderConfig(
        embed_dim=hidden,
        depth=int(cfg.get("num_hidden_layers", 24)),
        num_heads=int(cfg.get("num_attention_heads", 16)),
        mlp_hidden=width("encoder", "blocks.0.mlp.fc1.weight", int(hidden * float(cfg.get("mlp_ratio", 4.0)))),
        patch_size=patch,
        tubelet_size=tubelet,
        in_chans=int(cfg.get("in_chans", 3)),
        img_size=crop,
        qkv_bias=qkv_bias,
        layer_norm_eps=eps,
    )
    name = preset_for_embed_dim(hidden)
    if name is not None:
        p = encoder_preset(name)
        if (p.depth, p.num_heads, p.mlp_hidden) == (enc.depth, enc.num_heads, enc.mlp_hidden):
            enc.name = "vit_giant_384" if name == "vit_giant" and crop == 384 else name
    out: dict[str, Any] = {"encoder": enc}
    if "predictor" in sd:
        pred_hidden = int(cfg.get("pred_hidden_size", 384))
        out["predictor"] = PredictorConfig(
            enc_embed_dim=hidden,
            embed_dim=pred_hidden,
            depth=int(cfg.get("pred_num_hidden_layers", 12)),
            num_heads=int(cfg.get("pred_num_attention_heads", 12)),
            mlp_hidden=width(
                "predictor",
                "predictor_blocks.0.mlp.fc1.weight",
                int(pred_hidden * float(cfg.get("pred_mlp_ratio", 4.0))),
            ),
            num_mask_tokens=int(cfg.get("pred_num_mask_tokens", 10)),
            patch_size=patch,
            tubelet_size=tubelet,
            img_size=crop,
            qkv_bias=qkv_bias,
            layer_norm_eps=eps,
        )
    if "classifier" in sd:
        labels = cfg.get("id2label") or {}
        num_labels = int(cfg.get("num_labels", len(labels) or 2))
        linear = sd["classifier"].get("linear.weight")
        out["classifier"] = ClassifierConfig(
            embed_dim=hidden,
            num_classes=int(linear.shape[0]) if linear is not None else num_labels,
            num_heads=int(cfg.get("num_attention_heads", 16)),
            depth=int(cfg.get("num_pooler_layers", 3)) + 1,
            mlp_hidden=width("classifier", "pooler.cross_attention_block.mlp.fc1.weight", hidden * 4),
            layer_norm_eps=eps,
        )
    return out


def read_hf_directory(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, Tensor]], dict]:
    """(configs, state dicts, raw config.json) per component of an HF V-JEPA 2 directory."""
    p = Path(path)
    raw = _read_json(p / "config.json")
    comps = hf_to_components(_read_safetensors(_hf_weight_files(p)), str(p))
    return hf_configs(raw, comps, str(p)), comps, raw


# ----------------------------------------------------------------------------------------------- our format
def _pair_paths(path: Path) -> tuple[Path, Path]:
    """(weights, config) paths for a directory or a ``NAME.safetensors`` / ``NAME.json`` pair."""
    if path.suffix in (".safetensors", ".json"):
        return path.with_suffix(".safetensors"), path.with_suffix(".json")
    return path / WEIGHTS_FILE, path / CONFIG_FILE


def save_pretrained(
    model: nn.Module | Mapping[str, nn.Module], out: str | Path, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write a model (or ``{name: model}``) as safetensors + JSON config. Returns the path written.

    ``out`` is a directory (``model.safetensors`` + ``vjepa2_config.json``) or ``NAME.safetensors`` (then
    ``NAME.json`` next to it).
    """
    models = {_KIND_OF_CLASS[type(model)]: model} if isinstance(model, nn.Module) else dict(model)
    out = Path(out)
    weights_path, config_path = _pair_paths(out)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    components: dict[str, Any] = {}
    for name, m in models.items():
        kind = _KIND_OF_CLASS.get(type(m))
        if kind is None:
            raise TypeError(f"cannot save {type(m).__name__}: not one of {sorted(KINDS)}")
        if "." in name:
            raise ValueError(f"component name {name!r} must not contain '.'")
        for k, v in m.state_dict().items():
            tensors[f"{name}.{k}"] = v.detach().to("cpu").contiguous()
        components[name] = {"kind": kind, "config": m.cfg.to_dict(), "num_params": count_parameters(m)}
    save_file(tensors, str(weights_path), metadata={"format": FORMAT_NAME})
    doc = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "components": components,
        "metadata": dict(metadata or {}),
    }
    config_path.write_text(json.dumps(doc, indent=2) + "\n")
    return out


def read_ours(path: str | Path) -> tuple[dict[str, tuple[str, Any]], dict[str, dict[str, Tensor]], dict]:
    """({name: (kind, config)}, {name: state dict}, raw JSON) of a vjepa2-core checkpoint."""
    weights_path, config_path = _pair_paths(Path(path))
    doc = _read_json(config_path)
    if doc.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{config_path}: not a {FORMAT_NAME} config (format={doc.get('format')!r})")
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: format_version {doc['format_version']} is newer than this "
            f"vjepa2-core understands ({FORMAT_VERSION}); upgrade vjepa2-core"
        )
    if not weights_path.is_file():
        raise CheckpointError(f"{path}: {weights_path.name} is missing")
    flat = _read_safetensors([weights_path])
    configs: dict[str, tuple[str, Any]] = {}
    sds: dict[str, dict[str, Tensor]] = {}
    for name, spec in doc.get("components", {}).items():
        kind = spec.get("kind")
        if kind not in KINDS:
            raise CheckpointError(f"{config_path}: component {name!r} has unknown kind {kind!r}")
        try:
            configs[name] = (kind, KINDS[kind][1].from_dict(spec["config"]))
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{config_path}: bad config for component {name!r}: {e}") from e
        sds[name] = {}
    stray = []
    for key, value in flat.items():
        name, _, rest = key.partition(".")
        if name in sds:
            sds[name][rest] = value
        else:
            stray.append(key)
    if stray:
        raise CheckpointError(
            f"{weights_path}: {len(stray)} tensor(s) belong to no component listed in "
            f"{config_path.name} (first: {', '.join(stray[:_MAX_LISTED])})"
        )
    return configs, sds, doc


def load_pretrained(
    path: str | Path,
    component: str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module | dict[str, nn.Module]:
    """Load a vjepa2-core checkpoint: one model if it holds one component (or ``component`` is named), else a
    ``{name: model}`` dict."""
    configs, sds, _ = read_ours(path)
    names = [component] if component is not None else list(configs)
    for n in names:
        if n not in configs:
            raise CheckpointError(f"{path}: no component {n!r}; it has {sorted(configs)}")
    models = {
        n: build_from_state_dict(configs[n][0], configs[n][1], sds[n], f"{path} [{n}]", device, dtype) for n in names
    }
    return models[names[0]] if len(names) == 1 else models


# ----------------------------------------------------------------------------------------------- typed
# loaders
def _from_ours(path: Path, kind: str, entry: str | None, config: Any, device, dtype) -> nn.Module:
    configs, sds, _ = read_ours(path)
    names = [entry] if entry is not None else [n for n, (k, _) in configs.items() if k == kind]
    if not names or names[0] not in configs:
        raise CheckpointError(
            f"{path}: no {kind} component{f' named {entry!r}' if entry else ''}; it has "
            + ", ".join(f"{n} ({k})" for n, (k, _) in configs.items())
        )
    if len(names) > 1:
        raise CheckpointError(f"{path}: several {kind} components {names}; pass entry=NAME")
    name = names[0]
    if configs[name][0] != kind:
        raise CheckpointError(f"{path}: component {name!r} is a {configs[name][0]}, not a {kind}")
    return build_from_state_dict(kind, config or configs[name][1], sds[name], f"{path} [{name}]", device, dtype)


def _hf_component(path: Path, comp: str, config: Any, device, dtype) -> nn.Module:
    configs, sds, raw = read_hf_directory(path)
    if comp not in sds:
        raise CheckpointError(
            f"{path}: the HF checkpoint ({raw.get('architectures')}) has no {comp} weights; it has {sorted(sds)}"
        )
    return build_from_state_dict(comp, config or configs[comp], sds[comp], f"{path} [{comp}]", device, dtype)


def load_encoder(
    path: str | Path,
    preset: str | None = None,
    entry: str | None = None,
    *,
    config: EncoderConfig | None = None,
    num_heads: int | None = None,
    img_size: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> VisionEncoder:
    """Load a V-JEPA 2 encoder from an official ``.pt`` (entry ``encoder``, else ``target_encoder``; pass
    ``entry="target_encoder"`` for the EMA weights), an HF directory, or our format."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "ours":
        return _from_ours(p, "encoder", entry, config, device, dtype)
    if fmt == "hf":
        return _hf_component(p, "encoder", config, device, dtype)
    name, sd = official_entry(load_official_file(p), p, ["encoder", "target_encoder"], entry)
    source = f"{p} [{name}]"
    cfg = config or infer_encoder_config(sd, str(p), preset, num_heads, img_size)
    return build_from_state_dict("encoder", cfg, sd, source, device, dtype)


def load_predictor(
    path: str | Path,
    entry: str | None = None,
    *,
    config: PredictorConfig | None = None,
    num_heads: int | None = None,
    img_size: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> MaskPredictor:
    """Load the pretraining (mask-token) predictor: official ``.pt`` (entry ``predictor``), HF or ours."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "ours":
        return _from_ours(p, "predictor", entry, config, device, dtype)
    if fmt == "hf":
        return _hf_component(p, "predictor", config, device, dtype)
    name, sd = official_entry(load_official_file(p), p, ["predictor"], entry)
    cfg = config or infer_predictor_config(sd, str(p), num_heads, img_size or (384 if "384" in p.name else None))
    return build_from_state_dict("predictor", cfg, sd, f"{p} [{name}]", device, dtype)


def load_ac_predictor(
    path: str | Path,
    entry: str | None = None,
    *,
    config: ACPredictorConfig | None = None,
    num_heads: int | None = None,
    grid: tuple[int, int] | None = None,
    use_extrinsics: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ACPredictor:
    """Load the V-JEPA 2-AC predictor (``predictor`` entry of ``vjepa2-ac-vitg.pt``, or our format)."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "ours":
        return _from_ours(p, "ac_predictor", entry, config, device, dtype)
    if fmt == "hf":
        raise CheckpointError(
            f"{p}: HF transformers has no V-JEPA 2-AC model; load the official vjepa2-ac-vitg.pt file instead"
        )
    name, sd = official_entry(load_official_file(p), p, ["predictor"], entry)
    cfg = config or infer_ac_config(sd, str(p), num_heads, grid, use_extrinsics)
    return build_from_state_dict("ac_predictor", cfg, sd, f"{p} [{name}]", device, dtype)


def load_classifier(
    path: str | Path,
    entry: str | None = None,
    *,
    config: ClassifierConfig | None = None,
    num_heads: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> AttentiveClassifier:
    """Load an attentive probe: official probe file (entry ``classifiers[0]``; 16 heads unless ``num_heads``),
    an HF ``VJEPA2ForVideoClassification`` directory (its pooler uses the encoder's head count) or ours."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "ours":
        return _from_ours(p, "classifier", entry, config, device, dtype)
    if fmt == "hf":
        if config is None and num_heads is not None:
            configs, _, _ = read_hf_directory(p)
            if "classifier" in configs:
                config = ClassifierConfig(**{**configs["classifier"].to_dict(), "num_heads": num_heads})
        return _hf_component(p, "classifier", config, device, dtype)
    name, sd = official_entry(load_official_file(p), p, ["classifiers", "classifier"], entry)
    cfg = config or infer_classifier_config(sd, str(p), num_heads)
    return build_from_state_dict("classifier", cfg, sd, f"{p} [{name}]", device, dtype)


# ----------------------------------------------------------------------------------------------- inspection
@dataclass
class ComponentSummary:
    name: str
    kind: str
    entry: str
    config: Any
    num_params: int
    preset: str | None = None


@dataclass
class CheckpointSummary:
    path: str
    format: str
    entries: str
    components: list[ComponentSummary] = field(default_factory=list)


def _params(sd: Mapping[str, Tensor]) -> int:
    return sum(v.numel() for k, v in sd.items() if k not in IGNORABLE_KEYS)


def read_all_components(
    path: str | Path,
    preset: str | None = None,
    num_heads: int | None = None,
    img_size: int | None = None,
    encoder_entry: str | None = None,
    predictor_num_heads: int | None = None,
    classifier_num_heads: int | None = None,
) -> tuple[CheckpointSummary, dict[str, tuple[str, Any, dict[str, Tensor]]]]:
    """Everything loadable in a checkpoint: summary and ``{name: (kind, config, state dict)}`` (unbuilt)."""
    p = Path(path)
    fmt = detect_format(p)
    found: dict[str, tuple[str, Any, dict[str, Tensor]]] = {}
    entries: dict[str, str] = {}
    if fmt == "ours":
        configs, sds, _ = read_ours(p)
        found = {n: (k, c, sds[n]) for n, (k, c) in configs.items()}
        desc = ", ".join(f"{n} ({k})" for n, (k, _) in configs.items())
        entries = {n: n for n in found}
    elif fmt == "hf":
        configs, sds, raw = read_hf_directory(p)
        found = {n: (n, configs[n], sds[n]) for n in sds}
        desc = f"{raw.get('architectures')} with {', '.join(sorted(sds))}"
        entries = {n: f"HF {n}" for n in found}
    else:
        ckpt = load_official_file(p)
        desc = _describe_entries(ckpt)
        enc_entry = encoder_entry or ("encoder" if "encoder" in ckpt else None)
        has_encoder = (enc_entry is not None and enc_entry in ckpt) or "target_encoder" in ckpt
        if has_encoder or (_is_state_dict(ckpt) and any(k.endswith("patch_embed.proj.weight") for k in ckpt)):
            name, sd = official_entry(ckpt, p, ["encoder", "target_encoder"], encoder_entry)
            found["encoder"] = ("encoder", infer_encoder_config(sd, str(p), preset, num_heads, img_size), sd)
            entries["encoder"] = name
        if "predictor" in ckpt:
            name, sd = official_entry(ckpt, p, ["predictor"])
            if "action_encoder.weight" in sd:
                found["ac_predictor"] = ("ac_predictor", infer_ac_config(sd, str(p), predictor_num_heads), sd)
                entries["ac_predictor"] = name
            else:
                pimg = img_size or (384 if "384" in p.name else None)
                found["predictor"] = (
                    "predictor",
                    infer_predictor_config(sd, str(p), predictor_num_heads, pimg),
                    sd,
                )
                entries["predictor"] = name
        if "classifiers" in ckpt or "classifier" in ckpt:
            name, sd = official_entry(ckpt, p, ["classifiers", "classifier"])
            found["classifier"] = (
                "classifier",
                infer_classifier_config(sd, str(p), classifier_num_heads),
                sd,
            )
            entries["classifier"] = name
        if not found:
            raise CheckpointError(f"{p}: found no encoder, predictor or classifier entry; the file has: {desc}")
    summary = CheckpointSummary(str(p), fmt, desc)
    for n, (kind, cfg, sd) in found.items():
        summary.components.append(
            ComponentSummary(n, kind, entries.get(n, n), cfg, _params(sd), getattr(cfg, "name", None))
        )
    return summary, found


__all__ = [
    "CheckpointError",
    "CheckpointSummary",
    "ComponentSummary",
    "build_from_state_dict",
    "check_state_dict",
    "detect_format",
    "hf_to_components",
    "load_ac_predictor",
    "load_classifier",
    "load_encoder",
    "load_official_file",
    "load_predictor",
    "load_pretrained",
    "read_all_components",
    "read_hf_directory",
    "read_ours",
    "save_pretrained",
    "strip_official_prefixes",
]
