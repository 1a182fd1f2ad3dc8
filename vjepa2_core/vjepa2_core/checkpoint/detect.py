"""Which format a path holds, with a pointer to the right file for paths that are close but not a checkpoint
(a training run directory, its ``export/`` folder, ``model.safetensors`` without its directory)."""

from __future__ import annotations

from pathlib import Path

from .common import CheckpointError, checked_file, read_json
from .ours import CONFIG_FILE, WEIGHTS_FILE

EXPORT_DIR = "export"  # vjepa2_training writes <run>/export/NAME.safetensors + NAME.json at the end of a run
RUN_CHECKPOINTS_DIR = "checkpoints"  # ... and its resume state to <run>/checkpoints/latest.pt


def _exported_models(directory: Path) -> list[Path]:
    return sorted(f for f in directory.glob("*.safetensors") if f.with_suffix(".json").is_file())


def _run_directory_hint(p: Path) -> str | None:
    """A hint if ``p`` is a vjepa2_training run directory or its export folder, else None."""
    if p.name == RUN_CHECKPOINTS_DIR and (p / "latest.pt").is_file():
        return _run_directory_hint(p.parent)
    exported = _exported_models(p)
    if exported:
        return "this folder holds exported models; pass one of them: " + ", ".join(str(f) for f in exported)
    export = p / EXPORT_DIR
    if export.is_dir() or (p / RUN_CHECKPOINTS_DIR).is_dir():
        found = _exported_models(export) if export.is_dir() else []
        names = (
            " or ".join(str(f) for f in found)
            if found
            else f"{export}/encoder.safetensors (or predictor / ac_predictor)"
        )
        tail = "" if found else " (written when the run ends)"
        return f"this is a training run; pass {names}{tail}"
    return None


def detect_format(path: str | Path) -> str:
    """``"official"`` (a torch .pt/.pth file), ``"hf"`` (HF V-JEPA 2 directory) or ``"ours"``."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file or directory")
    if p.is_dir():
        if (p / CONFIG_FILE).is_file():
            return "ours"
        if (p / "config.json").is_file():
            model_type = read_json(p / "config.json").get("model_type")
            if model_type != "vjepa2":
                raise CheckpointError(
                    f"{p}: config.json has model_type {model_type!r}, expected 'vjepa2' "
                    "(an HF facebook/vjepa2-* directory)"
                )
            return "hf"
        hint = _run_directory_hint(p)
        if hint is not None:
            raise CheckpointError(f"{p}: {hint}")
        raise CheckpointError(
            f"{p}: directory has neither {CONFIG_FILE} (vjepa2-core format) nor config.json (HF format)"
        )
    if p.suffix in (".safetensors", ".json"):
        if p.with_suffix(".json").is_file() and p.with_suffix(".safetensors").is_file():
            return "ours"
        if p.name in (WEIGHTS_FILE, CONFIG_FILE, "config.json"):
            if (p.parent / CONFIG_FILE).is_file() or (p.parent / "config.json").is_file():
                detect_format(p.parent)  # a directory that is no checkpoint raises its own message
                raise CheckpointError(f"{p}: is one file of a checkpoint directory; pass the directory {p.parent}")
            raise CheckpointError(
                f"{p}: {p.name} belongs in a checkpoint directory with {CONFIG_FILE} (vjepa2-core) or "
                f"config.json (HF); pass that directory"
            )
        raise CheckpointError(
            f"{p}: a vjepa2-core file pair needs both {p.with_suffix('.safetensors').name} and "
            f"{p.with_suffix('.json').name}"
        )
    checked_file(p, "checkpoint")
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"PK" or magic[:1] == b"\x80":
        return "official"
    raise CheckpointError(
        f"{p}: not a recognised checkpoint (expected a torch .pt file, an HF directory or a "
        "vjepa2-core directory / .safetensors+.json pair)"
    )
