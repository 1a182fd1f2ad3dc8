"""What every format reader shares: the error type, the component kinds, and safe JSON / safetensors reads."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import safe_open
from torch import Tensor, nn

from ..files import FileCheckError, check_readable_file
from ..models import (
    ACPredictor,
    ACPredictorConfig,
    AttentiveClassifier,
    ClassifierConfig,
    EncoderConfig,
    MaskPredictor,
    PredictorConfig,
    VisionEncoder,
)

IGNORABLE_KEYS = ("pos_embed", "predictor_pos_embed")
MAX_LISTED = 5
MAX_JSON_BYTES = 16 * 1024 * 1024

KINDS: dict[str, tuple[type[nn.Module], type]] = {
    "encoder": (VisionEncoder, EncoderConfig),
    "predictor": (MaskPredictor, PredictorConfig),
    "ac_predictor": (ACPredictor, ACPredictorConfig),
    "classifier": (AttentiveClassifier, ClassifierConfig),
}
KIND_OF_CLASS = {cls: kind for kind, (cls, _) in KINDS.items()}


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not match the requested model (the message says what to do).

    ``argument`` names the setting that would fix it (``"encoder.num_heads"``, ``"predictor.img_size"``,
    ``"sizes"``, ...) and ``problem`` is the message without the Python-argument advice, so that a CLI can
    name its own flag instead (see ``vjepa2_core.convert``).
    """

    def __init__(self, message: str, *, argument: str | None = None, fix: str | None = None) -> None:
        self.problem = message
        self.argument = argument
        super().__init__(message if fix is None else f"{message}: {fix}")


@dataclass
class Component:
    """One model in a checkpoint: its kind, config, state dict (our key layout) and where it came from."""

    kind: str
    config: Any
    state_dict: dict[str, Tensor]
    entry: str
    source: str


@dataclass
class Contents:
    """What a format reader found: ``components`` by name, and a one-line description of the file."""

    format: str
    description: str
    components: dict[str, Component] = field(default_factory=dict)


def checked_file(path: Path, what: str, max_bytes: int | None = None) -> Path:
    """:func:`vjepa2_core.files.check_readable_file`, raising :class:`CheckpointError`."""
    try:
        return check_readable_file(path, what=what, max_bytes=max_bytes)
    except FileCheckError as e:
        raise CheckpointError(str(e)) from None


def read_json(path: Path) -> dict:
    """A JSON object from ``path`` (checked first: regular file, at most 16 MiB)."""
    checked_file(path, "checkpoint JSON", MAX_JSON_BYTES)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read JSON ({e})") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


def read_safetensors(files: list[Path]) -> dict[str, Tensor]:
    """All tensors of the given safetensors files (on the CPU)."""
    out: dict[str, Tensor] = {}
    for f in files:
        checked_file(f, "safetensors file")
        try:
            with safe_open(str(f), framework="pt", device="cpu") as handle:
                for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                    out[key] = handle.get_tensor(key)
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(f"{f}: cannot read safetensors ({e})") from None
    return out


# torch's weights_only error text advises re-running with weights_only=False: never pass that on
_TORCH_ADVICE = re.compile(
    r"weights.only load failed|weights_only.{0,40}False|arbitrary code execution|trusted source|"
    r"please file an issue|check the documentation of torch\.load|pytorch\.org|torch\.serialization\.",
    re.IGNORECASE,
)


def torch_error_text(e: BaseException) -> str:
    """The informative part of a ``torch.load`` error, without torch's advice to disable ``weights_only``."""
    kept = []
    for line in str(e).splitlines():
        for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
            if sentence and not _TORCH_ADVICE.search(sentence):
                kept.append(sentence.removeprefix("WeightsUnpickler error:").strip())
    text = " ".join(s for s in kept if s)
    return text[:300] if text else type(e).__name__


def is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, Tensor) for v in obj.values())


def shape(t: Tensor) -> list[int]:
    return list(t.shape)
