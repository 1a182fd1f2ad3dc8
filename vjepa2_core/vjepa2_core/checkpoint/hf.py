"""Hugging Face ``facebook/vjepa2-*`` directories: ``config.json`` (``model_type: vjepa2``) and
``model.safetensors`` (or a sharded index). Separate q/k/v projections are fused and the stacked mask tokens
split here, so the state dicts have the official key layout."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..models import ClassifierConfig, EncoderConfig, PredictorConfig, encoder_preset, preset_for_embed_dim
from .common import MAX_LISTED, CheckpointError, Component, Contents, read_json, read_safetensors, shape

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
                raise CheckpointError(f"{source}: {key} has shape {shape(value)}, expected [num_tokens, 1, 1, D]")
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
            f"(first: {', '.join(unknown[:MAX_LISTED])})"
        )
    return {name: _fuse_projections(sd) for name, sd in comps.items()}


def _hf_weight_files(directory: Path) -> list[Path]:
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(read_json(index).get("weight_map", {}).values()))
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
    raw = read_json(p / "config.json")
    comps = hf_to_components(read_safetensors(_hf_weight_files(p)), str(p))
    return hf_configs(raw, comps, str(p)), comps, raw


def read_hf(path: Path, classifier_num_heads: int | None = None) -> Contents:
    """Every component of an HF directory; ``classifier_num_heads`` overrides the probe's head count."""
    configs, sds, raw = read_hf_directory(path)
    if classifier_num_heads is not None and "classifier" in configs:
        configs["classifier"] = ClassifierConfig(
            **{**configs["classifier"].to_dict(), "num_heads": classifier_num_heads}
        )
    contents = Contents("hf", f"{raw.get('architectures')} with {', '.join(sorted(sds))}")
    for name in sds:
        contents.components[name] = Component(name, configs[name], sds[name], f"HF {name}", f"{path} [{name}]")
    return contents
