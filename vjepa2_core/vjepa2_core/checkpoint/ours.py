"""Our format: a directory with ``vjepa2_config.json`` + ``model.safetensors``, or a ``NAME.safetensors`` +
``NAME.json`` file pair. One file may hold several components (e.g. ``encoder`` and ``predictor``), each with
its kind and config in the JSON."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import Tensor, nn

from ..models import count_parameters
from .common import KIND_OF_CLASS, KINDS, MAX_LISTED, CheckpointError, Component, Contents, read_json, read_safetensors

FORMAT_NAME = "vjepa2-core"
FORMAT_VERSION = 1
CONFIG_FILE = "vjepa2_config.json"
WEIGHTS_FILE = "model.safetensors"


def pair_paths(path: Path) -> tuple[Path, Path]:
    """(weights, config) paths for a directory or a ``NAME.safetensors`` / ``NAME.json`` pair."""
    if path.suffix in (".safetensors", ".json"):
        return path.with_suffix(".safetensors"), path.with_suffix(".json")
    return path / WEIGHTS_FILE, path / CONFIG_FILE


def save_pretrained(
    model: nn.Module | Mapping[str, nn.Module], out: str | Path, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write a model (or ``{name: model}``) as safetensors + JSON config. Returns the path written.

    ``out`` is a directory (``model.safetensors`` + ``vjepa2_config.json``) or ``NAME.safetensors`` (then
    ``NAME.json`` next to it). Both files get the same permissions (those the umask gives a new file).
    """
    models = {KIND_OF_CLASS[type(model)]: model} if isinstance(model, nn.Module) else dict(model)
    out = Path(out)
    weights_path, config_path = pair_paths(out)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    components: dict[str, Any] = {}
    for name, m in models.items():
        kind = KIND_OF_CLASS.get(type(m))
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
    # safetensors writes through a private (0600) temporary file; give the weights the JSON's mode
    os.chmod(weights_path, stat.S_IMODE(config_path.stat().st_mode))
    return out


def read_ours(path: str | Path) -> tuple[dict[str, tuple[str, Any]], dict[str, dict[str, Tensor]], dict]:
    """({name: (kind, config)}, {name: state dict}, raw JSON) of a vjepa2-core checkpoint."""
    weights_path, config_path = pair_paths(Path(path))
    doc = read_json(config_path)
    if doc.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{config_path}: not a {FORMAT_NAME} config (format={doc.get('format')!r})")
    version = doc.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{config_path}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: format_version {version} is newer than this vjepa2-core understands "
            f"({FORMAT_VERSION}); upgrade vjepa2-core"
        )
    specs = doc.get("components", {})
    if not isinstance(specs, dict):
        raise CheckpointError(f"{config_path}: 'components' must be an object, got {type(specs).__name__}")
    if not weights_path.exists():
        raise CheckpointError(f"{path}: {weights_path.name} is missing")
    flat = read_safetensors([weights_path])
    configs: dict[str, tuple[str, Any]] = {}
    sds: dict[str, dict[str, Tensor]] = {}
    for name, spec in specs.items():
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind not in KINDS:
            raise CheckpointError(f"{config_path}: component {name!r} has unknown kind {kind!r}")
        if not isinstance(spec.get("config"), dict):
            raise CheckpointError(f"{config_path}: component {name!r} has no 'config' object")
        try:
            configs[name] = (kind, KINDS[kind][1].from_dict(spec["config"]))
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{config_path}: bad config for component {name!r}: {e}") from None
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
            f"{config_path.name} (first: {', '.join(stray[:MAX_LISTED])})"
        )
    return configs, sds, doc


def read_ours_contents(path: Path) -> Contents:
    """Every component of a vjepa2-core checkpoint, named as stored."""
    configs, sds, _ = read_ours(path)
    contents = Contents("ours", ", ".join(f"{n} ({k})" for n, (k, _) in configs.items()))
    for name, (kind, cfg) in configs.items():
        contents.components[name] = Component(kind, cfg, sds[name], name, f"{path} [{name}]")
    return contents
