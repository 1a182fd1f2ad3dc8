"""vjepa2_core: ROS-free PyTorch V-JEPA 2 / V-JEPA 2-AC that loads the released weights exactly.

Submodules: ``models`` (encoder, predictors, probe), ``preprocessing`` (pure-torch transforms), ``checkpoint``
(official / HF / own-format loading and saving), ``inference`` (FrameEncoder), ``convert`` (CLI).
"""

from .checkpoint import (
    CheckpointError,
    detect_format,
    load_ac_predictor,
    load_classifier,
    load_encoder,
    load_predictor,
    load_pretrained,
    save_pretrained,
)
from .inference import FrameEncoder, layer_norm_tokens
from .models import (
    ACPredictor,
    ACPredictorConfig,
    AttentiveClassifier,
    ClassifierConfig,
    EncoderConfig,
    MaskPredictor,
    PredictorConfig,
    VisionEncoder,
    encoder_preset,
)
from .preprocessing import ACFrameTransform, VideoTransform

__version__ = "0.1.0"

__all__ = [
    "ACFrameTransform",
    "ACPredictor",
    "ACPredictorConfig",
    "AttentiveClassifier",
    "CheckpointError",
    "ClassifierConfig",
    "EncoderConfig",
    "FrameEncoder",
    "MaskPredictor",
    "PredictorConfig",
    "VideoTransform",
    "VisionEncoder",
    "__version__",
    "detect_format",
    "encoder_preset",
    "layer_norm_tokens",
    "load_ac_predictor",
    "load_classifier",
    "load_encoder",
    "load_predictor",
    "load_pretrained",
    "save_pretrained",
]
