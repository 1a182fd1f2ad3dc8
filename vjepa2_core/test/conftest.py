"""Shared fixtures for vjepa2_core tests: tiny random models only (fast on 2 CPU cores)."""

from __future__ import annotations

import pytest
import torch

TINY_HF = dict(
    patch_size=16,
    crop_size=32,
    frames_per_clip=4,
    tubelet_size=2,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    mlp_ratio=4.0,
    pred_hidden_size=32,
    pred_num_hidden_layers=2,
    pred_num_attention_heads=4,
    pred_num_mask_tokens=10,
    pred_mlp_ratio=4.0,
    num_pooler_layers=1,
)


@pytest.fixture(autouse=True)
def _fixed_seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield


@pytest.fixture
def tiny_hf_config():
    """A random tiny HF VJEPA2Config (hidden 64, 2 layers, 4 heads, 32 px, predictor 32/2/4)."""
    transformers = pytest.importorskip("transformers", reason="transformers is a test-only dependency")
    return transformers.VJEPA2Config(**TINY_HF)
