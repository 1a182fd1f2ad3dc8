"""Final model artefacts of a run: ``<name>.safetensors`` (weights) + ``<name>.json`` (model config)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from .fileio import atomic_write, atomic_write_json


def export_models(directory: Path, models: dict[str, tuple[nn.Module, dict[str, Any]]]) -> None:
    """Write each ``name -> (module, config dict)`` as safetensors + JSON config, atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, (module, config) in models.items():
        tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
        path = directory / f"{name}.safetensors"
        tmp = directory / f".{name}.safetensors.tmp"
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        tmp.replace(path)
        atomic_write_json(directory / f"{name}.json", config)


def load_exported(directory: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state_dict, config) of an exported model."""
    weights = directory / f"{name}.safetensors"
    config = directory / f"{name}.json"
    if not weights.is_file() or not config.is_file():
        raise FileNotFoundError(f"{directory} has no exported model {name!r} ({weights.name} + {config.name})")
    return load_file(str(weights)), json.loads(config.read_text())


__all__ = ["atomic_write", "export_models", "load_exported"]
