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


def export_ac_model(ac_run: Path, out: Path, checkpoint: str = "latest.pt") -> tuple[Path, Path]:
    """``out/encoder.*`` (the frozen encoder the AC run was trained on: a pretraining run's EMA target encoder)
    and ``out/predictor.*`` (the run's AC predictor at ``checkpoints/<checkpoint>``), with their provenance.

    What the perception and planner nodes load as a pair (the embedded demo model in ``vjepa2/models/demo/``).
    """
    import torch

    from vjepa2_core.models import ACPredictor, ACPredictorConfig

    from ..config_io import from_dict
    from ..train.checkpointing import LATEST, load_checkpoint
    from ..train.configs import ACConfig
    from ..train.frozen_encoder import load_frozen_encoder

    path = ac_run / "checkpoints" / checkpoint
    state = load_checkpoint(path, kind="ac")
    cfg = from_dict(ACConfig, state["config"], source=str(path))
    models = state["models"]
    predictor = ACPredictor(ACPredictorConfig.from_dict(models["predictor_config"]))
    predictor.load_state_dict(models["predictor"])
    encoder = load_frozen_encoder(cfg.encoder, torch.device("cpu"))
    encoder_meta: dict[str, Any] = {
        "checkpoint": str(Path(cfg.encoder.checkpoint).resolve()),
        "source": cfg.encoder.source,
    }
    if cfg.encoder.source == "pretrain_run":
        pretrain = Path(cfg.encoder.checkpoint)
        pretrain = pretrain / "checkpoints" / LATEST if pretrain.is_dir() else pretrain
        encoder_meta |= {"weights": "ema_target", "step": int(load_checkpoint(pretrain, kind="pretrain")["step"])}
    preprocessing = {"crop_size": cfg.data.crop_size, "crop_aspect": cfg.data.crop_aspect}
    encoder_path = export_model(out, "encoder", encoder.cpu(), {"frozen_encoder": encoder_meta, **preprocessing})
    predictor_path = export_model(
        out,
        "predictor",
        predictor,
        {"ac_run": str(ac_run.resolve()), "step": int(state["step"]), "frozen_encoder": encoder_meta, **preprocessing},
    )
    return encoder_path, predictor_path


def main(argv: list[str] | None = None) -> int:
    """``python -m vjepa2_training.eval.export --ac-run RUN --out DIR``: the encoder + AC predictor pair of a run."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m vjepa2_training.eval.export",
        description="Export the frozen encoder and the AC predictor of a vjepa2-train-ac run as NAME.safetensors + "
        "NAME.json (encoder.*, predictor.*) for the perception and planner nodes.",
    )
    parser.add_argument("--ac-run", type=Path, required=True, help="vjepa2-train-ac run directory")
    parser.add_argument("--checkpoint", default="latest.pt", help="file in the run's checkpoints/ (default latest.pt)")
    parser.add_argument("--out", type=Path, required=True, help="directory of encoder.* and predictor.*")
    args = parser.parse_args(argv)
    from ..train.cli import TRAINING_ERRORS

    try:
        paths = export_ac_model(args.ac_run, args.out, args.checkpoint)
    except TRAINING_ERRORS as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"export: wrote {p} and {p.with_suffix('.json')} ({p.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
