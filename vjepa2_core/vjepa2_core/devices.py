"""One spelling set for dtypes and one device parser, for every package (torch is imported when called).

``parse_dtype("bf16")`` -> ``torch.bfloat16``; :data:`DTYPE_NAMES` maps each accepted spelling to its canonical
name (``float32``, ``bfloat16``, ``float16``). ``resolve_device("auto")`` -> CUDA if available, else MPS, else
CPU. Bad values raise one ``ValueError`` naming the value and the choices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: accepted spelling -> canonical name
DTYPE_NAMES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}
DTYPE_CHOICES = tuple(DTYPE_NAMES)  # every accepted spelling
CANONICAL_DTYPES = tuple(dict.fromkeys(DTYPE_NAMES.values()))  # ("float32", "bfloat16", "float16")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def canonical_dtype_name(name: str) -> str:
    """The canonical name (``float32`` | ``bfloat16`` | ``float16``) of any accepted dtype spelling."""
    canonical = DTYPE_NAMES.get(str(name).strip().lower())
    if canonical is None:
        raise ValueError(f"unknown dtype {name!r}: use one of {', '.join(DTYPE_CHOICES)}")
    return canonical


def parse_dtype(name: str) -> torch.dtype:
    """``float32|fp32|bfloat16|bf16|float16|fp16`` -> the torch dtype."""
    import torch

    return getattr(torch, canonical_dtype_name(name))


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto|cpu|cuda|cuda:N|mps`` -> a torch device that exists here.

    ``auto`` picks CUDA (GPU ``local_rank`` modulo the GPU count, for torchrun), else MPS, else CPU; plain
    ``cuda`` is GPU ``local_rank`` modulo the count as well. A device that is not available raises ValueError.
    """
    import torch

    text = str(spec).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            text = "cuda"
        elif torch.backends.mps.is_available():
            text = "mps"
        else:
            text = "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {spec!r}: MPS is not available on this machine; use cpu")
        return torch.device("mps")
    kind, _, index = text.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ValueError(f"unknown device {spec!r}: use one of {', '.join(DEVICE_CHOICES)}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r}: CUDA is not available here (torch {torch.__version__}); use cpu")
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise ValueError(f"device {spec!r}: only {count} GPU(s) exist (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", int(index) if index else local_rank % count)


__all__ = [
    "CANONICAL_DTYPES",
    "DEVICE_CHOICES",
    "DTYPE_CHOICES",
    "DTYPE_NAMES",
    "canonical_dtype_name",
    "parse_dtype",
    "resolve_device",
]
