"""Checkpoint I/O: official V-JEPA 2 ``.pt`` files, HF ``facebook/vjepa2-*`` directories, and our own format.

One reader per format, each returning configs + state dicts in the official key layout (``official``,
``hf``, ``ours``); ``loader`` detects the format, runs its reader and builds the component (``build``). Every
load is strict: missing or unexpected keys and shape mismatches raise one :class:`CheckpointError` naming the
first offenders (only ``pos_embed`` / ``predictor_pos_embed`` are ignored: RoPE replaced them). Official files
are read with ``torch.load(weights_only=True)`` only; every file is checked (regular file, readable) first.
"""

from .build import build_from_state_dict, check_state_dict, validate_component
from .common import KINDS, CheckpointError, Component, Contents, torch_error_text
from .detect import detect_format
from .hf import hf_configs, hf_to_components, read_hf_directory
from .loader import (
    CheckpointSummary,
    ComponentSummary,
    load_ac_predictor,
    load_classifier,
    load_component,
    load_encoder,
    load_predictor,
    load_pretrained,
    read_all_components,
    read_checkpoint,
)
from .official import (
    SizeArgs,
    infer_ac_config,
    infer_classifier_config,
    infer_encoder_config,
    infer_predictor_config,
    load_official_file,
    official_entry,
    strip_official_prefixes,
)
from .ours import CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_FILE, read_ours, save_pretrained

__all__ = [
    "CONFIG_FILE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "WEIGHTS_FILE",
    "CheckpointError",
    "CheckpointSummary",
    "Component",
    "ComponentSummary",
    "Contents",
    "SizeArgs",
    "build_from_state_dict",
    "check_state_dict",
    "detect_format",
    "hf_configs",
    "hf_to_components",
    "infer_ac_config",
    "infer_classifier_config",
    "infer_encoder_config",
    "infer_predictor_config",
    "load_ac_predictor",
    "load_classifier",
    "load_component",
    "load_encoder",
    "load_official_file",
    "load_predictor",
    "load_pretrained",
    "official_entry",
    "read_all_components",
    "read_checkpoint",
    "read_hf_directory",
    "read_ours",
    "save_pretrained",
    "strip_official_prefixes",
    "torch_error_text",
    "validate_component",
]
