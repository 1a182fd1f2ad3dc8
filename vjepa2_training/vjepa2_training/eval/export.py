"""Final model artefacts of a run, in vjepa2-core's checkpoint format (``NAME.safetensors`` + ``NAME.json``).

These files load with ``vjepa2_core.checkpoint.load_encoder`` / ``load_predictor`` / ``load_ac_predictor``, so
the perception and planner nodes use a trained model exactly like an official checkpoint.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from vjepa2_core.checkpoint import read_ours, save_pretrained


def export_model(directory: Path, name: str, module: nn.Module, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``directory/name.safetensors`` + ``name.json`` atomically (both files appear complete or not)."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=f".{name}.") as tmp:
        save_pretrained(module, Path(tmp) / f"{name}.safetensors", metadata=metadata)
        os.replace(Path(tmp) / f"{name}.safetensors", directory / f"{name}.safetensors")
        os.replace(Path(tmp) / f"{name}.json", directory / f"{name}.json")
    return directory / f"{name}.safetensors"


def export_metadata(path: Path) -> dict[str, Any]:
    """The ``metadata`` block stored with an exported model."""
    return dict(read_ours(path)[2].get("metadata", {}))
