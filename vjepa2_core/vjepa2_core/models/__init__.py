"""V-JEPA 2 / V-JEPA 2-AC model definitions (pure PyTorch)."""

from .ac_predictor import ACKVCache, ACPredictor, ACPredictorConfig, block_causal_mask
from .blocks import set_fast_cpu_kernels
from .classifier import AttentiveClassifier, ClassifierConfig
from .encoder import (
    EncoderConfig,
    VisionEncoder,
    count_parameters,
    encoder_preset,
    encoder_preset_names,
    preset_for_embed_dim,
)
from .predictor import MaskPredictor, PredictorConfig
from .rope import RopeCache, RopeTables, apply_rope, build_rope_tables, rope_axis_dim

__all__ = [
    "ACKVCache",
    "ACPredictor",
    "ACPredictorConfig",
    "AttentiveClassifier",
    "ClassifierConfig",
    "EncoderConfig",
    "MaskPredictor",
    "PredictorConfig",
    "RopeCache",
    "RopeTables",
    "VisionEncoder",
    "apply_rope",
    "block_causal_mask",
    "build_rope_tables",
    "count_parameters",
    "encoder_preset",
    "encoder_preset_names",
    "preset_for_embed_dim",
    "rope_axis_dim",
    "set_fast_cpu_kernels",
]
