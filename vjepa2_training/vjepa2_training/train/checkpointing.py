"""Training checkpoints: atomic writes, safe loading, and the RNG state needed to resume exactly.

A checkpoint is a dict of tensors and plain Python values written with ``torch.save`` into a temporary file
and moved over ``latest.pt`` with ``os.replace``; it is loaded with ``weights_only=True``. RNG states
(Python ``random``, NumPy, torch CPU and CUDA) are stored as tensors so the safe loader accepts them.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vjepa2_core.checkpoint import torch_error_text
from vjepa2_core.files import FileCheckError, check_readable_file

from ..fileio import atomic_write

LATEST = "latest.pt"
_STEP_FILE = re.compile(r"step_(\d+)\.pt$")


class CheckpointLoadError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not belong to this kind of run."""


def capture_rng() -> dict[str, Any]:
    """All global RNG states as tensors / plain values."""
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: Path, state: dict[str, Any], step: int, keep: int = 0) -> Path:
    """Write ``latest.pt`` atomically; with ``keep`` > 0 also ``step_<step>.pt``, pruning all but ``keep``."""
    directory.mkdir(parents=True, exist_ok=True)
    latest = directory / LATEST
    atomic_write(latest, lambda f: torch.save(state, f))
    if keep > 0:
        snapshot = directory / f"step_{step:09d}.pt"
        atomic_write(snapshot, lambda f: torch.save(state, f))
        snapshots = sorted(directory.glob("step_*.pt"), key=lambda p: int(_STEP_FILE.search(p.name).group(1)))
        for old in snapshots[:-keep]:
            old.unlink(missing_ok=True)
    return latest


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strictly load ``state`` into ``module``; a mismatch becomes one :class:`CheckpointLoadError` that says
    the configured model size and the checkpoint disagree."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointLoadError(
            f"{source} does not fit the model built from the config (sizes must match): {detail}"
        ) from None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu", kind: str | None = None) -> dict:
    """Load a checkpoint safely (``weights_only=True``); ``kind`` checks the run type stored in it."""
    try:
        check_readable_file(path, what="checkpoint")
    except FileCheckError as err:
        raise CheckpointLoadError(str(err)) from None
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling errors come in many types; torch's advice to unpickle anyway is dropped
        raise CheckpointLoadError(
            f"checkpoint {path} is refused: not a safe training checkpoint ({torch_error_text(err)}). Delete it or "
            "its run directory to start over, or restore the file."
        ) from None
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointLoadError(f"{path} is not a vjepa2_training checkpoint (no 'step' entry)")
    if kind is not None and state.get("kind") != kind:
        raise CheckpointLoadError(f"{path} is a {state.get('kind')!r} checkpoint, expected {kind!r}")
    return state
