"""vjepa2_core: ROS-free PyTorch V-JEPA 2 / V-JEPA 2-AC that loads the released weights exactly.

Submodules: ``models`` (encoder, predictors, probe), ``preprocessing`` (pure-torch transforms), ``checkpoint``
(official / HF / own-format loading and saving), ``inference`` (FrameEncoder), ``planning`` (energy, CEM),
``convert`` (CLI), and the torch-free ``conventions`` (state/action) and ``limits`` (command limits).

The top-level names below are imported on first use, so ``import vjepa2_core.conventions`` (or
``vjepa2_core.limits``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "CheckpointError": "checkpoint",
    "detect_format": "checkpoint",
    "load_ac_predictor": "checkpoint",
    "load_classifier": "checkpoint",
    "load_encoder": "checkpoint",
    "load_predictor": "checkpoint",
    "load_pretrained": "checkpoint",
    "save_pretrained": "checkpoint",
    "FrameEncoder": "inference",
    "layer_norm_tokens": "inference",
    "ACPredictor": "models",
    "ACPredictorConfig": "models",
    "AttentiveClassifier": "models",
    "ClassifierConfig": "models",
    "EncoderConfig": "models",
    "MaskPredictor": "models",
    "PredictorConfig": "models",
    "VisionEncoder": "models",
    "encoder_preset": "models",
    "ACFrameTransform": "preprocessing",
    "VideoTransform": "preprocessing",
}


_SUBMODULES = (
    "checkpoint",
    "conventions",
    "convert",
    "devices",
    "inference",
    "limits",
    "models",
    "planning",
    "preprocessing",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vjepa2_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted([*_LAZY, "__version__"])
