"""The model side of the encoder node, free of ROS: load an encoder (and probe) from a spec, encode frames.

Everything numeric is vjepa2_core's (``FrameEncoder``, its transforms, ``layer_norm_tokens``, the checkpoint
loaders, which detect official ``.pt`` files, HF directories and our own format); this module turns node
parameters into those calls and turns failures into one clear :class:`ModelLoadError`.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vjepa2_common.paths import resolve_path
from vjepa2_core.checkpoint import CheckpointError, load_classifier
from vjepa2_core.devices import CANONICAL_DTYPES, parse_dtype, resolve_device
from vjepa2_core.inference import FrameEncoder, layer_norm_tokens, make_transform
from vjepa2_core.models import AttentiveClassifier, EncoderConfig, VisionEncoder, encoder_preset
from vjepa2_core.preprocessing import AC_MAX_ASPECT

from .labels import LabelFileError, checkpoint_labels, load_labels

DTYPES = CANONICAL_DTYPES  # the node accepts the canonical names only
PREPROCESSING = ("ac", "video")
#: checkpoint value that builds the preset with random weights (demos and benchmarks without downloads)
RANDOM_CHECKPOINT = "random"
#: model.preset value (the default) that takes the encoder size from the weights; 'random' builds vit_large
AUTO_PRESET = "auto"
#: the sizes a model.preset must match in the loaded weights
PRESET_SIZES = ("embed_dim", "depth", "num_heads", "mlp_hidden", "patch_size", "tubelet_size")


class ModelLoadError(RuntimeError):
    """The encoder or probe could not be loaded; the message names the file and what to fix."""


@dataclass(frozen=True)
class ModelSpec:
    """What to load and how to run it (the node's ``model.*``, ``preprocessing``, ``crop_size``,
    ``ac_max_aspect``, ``probe.*``). Checkpoint paths may be ``package://PKG/PATH`` (vjepa2_common.paths)."""

    checkpoint: str
    preset: str = AUTO_PRESET
    device: str = "cpu"
    dtype: str = "float32"
    preprocessing: str = "ac"
    crop_size: int = 256
    ac_max_aspect: float = AC_MAX_ASPECT
    probe_checkpoint: str = ""
    probe_labels: str = ""
    probe_num_heads: int = 0


def checked_path(parameter: str, value: str) -> str:
    """:func:`vjepa2_common.paths.resolve_path`, with its error as a ModelLoadError naming the parameter."""
    try:
        return resolve_path(value)
    except (FileNotFoundError, ValueError) as exc:
        raise ModelLoadError(f"{parameter} {exc}") from exc


def check_device(device: str) -> torch.device:
    """:func:`vjepa2_core.devices.resolve_device`, with its error as a ModelLoadError naming the parameter."""
    try:
        return resolve_device(device)
    except ValueError as exc:
        raise ModelLoadError(f"model.device: {exc}") from exc


class PerceptionModel:
    """A loaded encoder (+ optional attentive probe and its labels) with per-frame and clip encoding.

    Not thread-safe: the node serialises calls with its model lock.
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        if spec.dtype not in DTYPES:
            raise ModelLoadError(f"model.dtype '{spec.dtype}' is not one of {', '.join(DTYPES)}")
        if spec.preprocessing not in PREPROCESSING:
            raise ModelLoadError(f"preprocessing '{spec.preprocessing}' is not one of {', '.join(PREPROCESSING)}")
        self.device = check_device(spec.device)
        self.dtype = parse_dtype(spec.dtype)
        self.encoder = self._load_encoder(spec)
        cfg = self.encoder.encoder.cfg
        if spec.crop_size % cfg.patch_size:
            raise ModelLoadError(f"crop_size {spec.crop_size} must be a multiple of the patch size {cfg.patch_size}")
        self.embed_dim = cfg.embed_dim
        self.tubelet_size = cfg.tubelet_size
        self.classifier: AttentiveClassifier | None = None
        self.labels: list[str] | None = None
        if spec.probe_checkpoint:
            self.classifier, self.labels = self._load_probe(spec)
        self.model_id = self._model_id(spec, cfg)

    # ------------------------------------------------------------------------------------------ loading
    def _load_encoder(self, spec: ModelSpec) -> FrameEncoder:
        preset = self._preset(spec)
        if spec.checkpoint == RANDOM_CHECKPOINT:
            cfg = preset or encoder_preset("vit_large")
            return FrameEncoder(
                VisionEncoder(cfg),
                make_transform(spec.preprocessing, spec.crop_size, spec.ac_max_aspect),
                device=self.device,
                dtype=self.dtype,
            )
        if not spec.checkpoint:
            raise ModelLoadError(
                "model.checkpoint is empty; set it to an official .pt file, an HF model directory "
                f"or a vjepa2_core checkpoint (or '{RANDOM_CHECKPOINT}' for random weights)"
            )
        path = Path(checked_path("model.checkpoint", spec.checkpoint))
        if not path.exists():
            raise ModelLoadError(
                f"model.checkpoint '{path}' does not exist; check the path (official .pt file, HF "
                "model directory or vjepa2_core checkpoint)"
            )
        try:
            encoder = FrameEncoder.from_pretrained(
                path,
                transform=spec.preprocessing,
                size=spec.crop_size,
                aspect=spec.ac_max_aspect,
                preset=preset.name if preset else None,
                device=self.device,
                dtype=self.dtype,
            )
        except (CheckpointError, ValueError, OSError, RuntimeError, KeyError, EOFError) as exc:
            raise ModelLoadError(f"cannot load the encoder from model.checkpoint '{path}': {exc}") from exc
        if preset is not None:  # HF directories and our checkpoints carry their own config: check it too
            found = encoder.encoder.cfg
            clash = [
                f"{k} {getattr(preset, k)} vs {getattr(found, k)}"
                for k in PRESET_SIZES
                if getattr(preset, k) != getattr(found, k)
            ]
            if clash:
                raise ModelLoadError(
                    f"model.preset '{spec.preset}' does not match model.checkpoint '{path}' "
                    f"(preset vs weights: {', '.join(clash)}); use model.preset: {AUTO_PRESET}"
                )
        return encoder

    @staticmethod
    def _preset(spec: ModelSpec) -> EncoderConfig | None:
        """The configured preset's sizes, or None for ``auto`` (sizes from the weights)."""
        if spec.preset in (AUTO_PRESET, ""):
            return None
        try:
            return encoder_preset(spec.preset)
        except ValueError as exc:
            raise ModelLoadError(f"model.preset: {exc}; or {AUTO_PRESET} to infer the size from the weights") from exc

    def _load_probe(self, spec: ModelSpec) -> tuple[AttentiveClassifier, list[str] | None]:
        path = Path(checked_path("probe.checkpoint", spec.probe_checkpoint))
        if not path.exists():
            raise ModelLoadError(f"probe.checkpoint '{path}' does not exist")
        try:
            classifier = load_classifier(
                path, num_heads=spec.probe_num_heads or None, device=self.device, dtype=self.dtype
            ).eval()
        except (CheckpointError, ValueError, OSError, RuntimeError, KeyError, EOFError) as exc:
            raise ModelLoadError(f"cannot load the probe from probe.checkpoint '{path}': {exc}") from exc
        if classifier.cfg.embed_dim != self.embed_dim:
            raise ModelLoadError(
                f"probe.checkpoint '{path}' expects {classifier.cfg.embed_dim}-dim tokens but the "
                f"encoder gives {self.embed_dim}; use the probe trained on this encoder"
            )
        try:
            if spec.probe_labels:
                return classifier, load_labels(spec.probe_labels, classifier.cfg.num_classes)
            return classifier, checkpoint_labels(path, classifier.cfg.num_classes)
        except LabelFileError as exc:
            raise ModelLoadError(f"probe.labels: {exc}" if spec.probe_labels else str(exc)) from exc

    @staticmethod
    def _model_id(spec: ModelSpec, cfg: EncoderConfig) -> str:
        model_id = f"{size_name(cfg)}:{Path(spec.checkpoint).name or spec.checkpoint}"
        if spec.probe_checkpoint:
            model_id += f"+{Path(spec.probe_checkpoint).name}"
        return model_id

    # ------------------------------------------------------------------------------------------ inference
    def grid(self, num_frames: int) -> tuple[int, int, int]:
        """Token grid (tubelets, rows, cols) for ``num_frames`` frames (1 = per-frame mode)."""
        cfg = self.encoder.encoder.cfg
        size = self.spec.crop_size
        return max(1, num_frames // cfg.tubelet_size), size // cfg.patch_size, size // cfg.patch_size

    def encode_frames(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Each (H, W, 3) uint8 frame as its own tubelet -> float32 ``[B, N, D]``; frames may differ in size."""
        outputs: list[torch.Tensor] = []
        start = 0
        for end in range(1, len(frames) + 1):  # batch runs of equally sized frames
            if end == len(frames) or frames[end].shape != frames[start].shape:
                outputs.append(self.encoder.encode_frames(list(frames[start:end])))
                start = end
        return torch.cat(outputs).cpu().numpy()

    def encode_clip(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Frames (oldest first; a multiple of the tubelet size) as one clip -> float32 ``[N, D]``."""
        if len(frames) % self.tubelet_size:
            raise ValueError(f"a clip needs a multiple of {self.tubelet_size} frames, got {len(frames)}")
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise ValueError(f"the frames of a clip must have one size, got {sorted(shapes)}")
        return self.encoder.encode_clip(list(frames))[0].cpu().numpy()

    def classify(self, tokens: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (class ids, softmax scores) of the probe on raw encoder tokens ``[N, D]``, best first."""
        if self.classifier is None:
            raise RuntimeError("no probe loaded (probe.checkpoint is empty)")
        with torch.inference_mode():
            x = torch.from_numpy(tokens).to(device=self.device, dtype=self.dtype).unsqueeze(0)
            probs = self.classifier(x).float().softmax(dim=-1)[0]
            scores, ids = probs.topk(min(top_k, probs.shape[-1]))
        return ids.cpu().numpy(), scores.cpu().numpy()

    def label(self, class_id: int) -> str:
        return self.labels[class_id] if self.labels is not None else str(class_id)

    def release(self) -> None:
        """Drop the weights (and return cached GPU memory)."""
        self.encoder = None  # type: ignore[assignment]
        self.classifier = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def size_name(cfg: EncoderConfig) -> str:
    """The size of a loaded encoder in a model id: its preset name when the weights have that preset's sizes,
    its own name for a model of no released size (e.g. ``vit_tiny``), else its width and depth."""
    try:
        preset = encoder_preset(cfg.name) if cfg.name else None
    except ValueError:
        return str(cfg.name)
    if preset is not None and all(getattr(preset, k) == getattr(cfg, k) for k in PRESET_SIZES):
        return str(preset.name)
    return f"vit_d{cfg.embed_dim}x{cfg.depth}"


def normalize_tokens(tokens: np.ndarray) -> np.ndarray:
    """vjepa2_core's affine-free LayerNorm over the feature dim (the V-JEPA 2-AC / planner convention)."""
    return layer_norm_tokens(torch.from_numpy(tokens)).numpy()
