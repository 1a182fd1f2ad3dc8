"""The one dtype spelling set and device parser."""

from __future__ import annotations

import pytest
import torch

from vjepa2_core.devices import CANONICAL_DTYPES, canonical_dtype_name, parse_dtype, resolve_device


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("float32", torch.float32),
        ("fp32", torch.float32),
        ("BF16", torch.bfloat16),
        ("bfloat16", torch.bfloat16),
        ("fp16", torch.float16),
        ("float16", torch.float16),
    ],
)
def test_dtype_spellings(name: str, dtype: torch.dtype) -> None:
    assert parse_dtype(name) == dtype
    assert canonical_dtype_name(name) in CANONICAL_DTYPES == ("float32", "bfloat16", "float16")


def test_bad_values_name_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown dtype 'float64': use one of float32, fp32, bfloat16"):
        parse_dtype("float64")
    with pytest.raises(ValueError, match=r"unknown device 'tpu': use one of auto, cpu, cuda, cuda:N, mps"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="unknown device 'cuda:x'"):
        resolve_device("cuda:x")


def test_devices_that_exist_here() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available here"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="CUDA is not available here"):
            resolve_device("cuda:1")
    else:
        count = torch.cuda.device_count()
        assert resolve_device("cuda:0") == torch.device("cuda", 0)
        with pytest.raises(ValueError, match="GPU"):
            resolve_device(f"cuda:{count}")
