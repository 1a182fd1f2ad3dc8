"""The node's model wrapper (no ROS): vjepa2_core's numbers, and one clear error for each bad setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vjepa2_common.tools.image_publisher import test_pattern as pattern
from vjepa2_core.checkpoint import save_pretrained
from vjepa2_core.inference import FrameEncoder
from vjepa2_core.models import AttentiveClassifier, ClassifierConfig, EncoderConfig, VisionEncoder
from vjepa2_perception.model import ModelLoadError, ModelSpec, PerceptionModel


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("model")
    torch.manual_seed(1)
    encoder = VisionEncoder(EncoderConfig(embed_dim=32, depth=1, num_heads=2, img_size=32, name="vit_tiny"))
    wide_probe = AttentiveClassifier(ClassifierConfig(embed_dim=48, num_classes=2, num_heads=2, depth=1))
    probe = AttentiveClassifier(ClassifierConfig(embed_dim=32, num_classes=2, num_heads=2, depth=1))
    (root / "labels.txt").write_text("a\nb\nc\n")
    (root / "garbage.pt").write_bytes(b"PK\x03\x04 a broken zip archive")  # a truncated torch.save
    return {
        "encoder": save_pretrained(encoder, root / "enc"),
        "wide_probe": save_pretrained(wide_probe, root / "wp"),
        "probe": save_pretrained(probe, root / "probe"),
        "labels": root / "labels.txt",
        "garbage": root / "garbage.pt",
        "root": root,
    }


def test_bfloat16_per_frame_batches_equal_vjepa2_core(files: dict[str, Path]) -> None:
    model = PerceptionModel(ModelSpec(str(files["encoder"]), dtype="bfloat16", preprocessing="video", crop_size=32))
    reference = FrameEncoder.from_pretrained(files["encoder"], transform="video", size=32, dtype=torch.bfloat16)
    frames = [pattern(0, 40, 40), pattern(1, 40, 40), pattern(2, 24, 50)]  # the camera changed resolution
    tokens = model.encode_frames(frames)
    assert tokens.shape == (3, 4, 32) and tokens.dtype == np.float32
    np.testing.assert_array_equal(tokens[:2], reference.encode_frames(frames[:2]).numpy())
    np.testing.assert_array_equal(tokens[2], reference.encode_frames(frames[2:])[0].numpy())
    assert model.grid(1) == (1, 2, 2) and model.grid(4) == (2, 2, 2)
    with pytest.raises(ValueError, match="multiple of 2 frames"):
        model.encode_clip(frames[:1] * 3)
    with pytest.raises(ValueError, match="must have one size"):
        model.encode_clip(frames[1:])


@pytest.mark.parametrize(
    "spec,match",
    [
        (dict(checkpoint=""), "model.checkpoint is empty"),
        (dict(checkpoint="{root}/nope.pt"), r"model.checkpoint '.*nope.pt' does not exist"),
        (
            dict(checkpoint="{garbage}"),
            r"cannot load the encoder from .*garbage.pt': .*not a readable torch checkpoint",
        ),
        (dict(checkpoint="{root}"), r"cannot load the encoder .*neither vjepa2_config.json"),
        (dict(checkpoint="{encoder}", device="cuda:0" if not torch.cuda.is_available() else "tpu"), "model.device"),
        (dict(checkpoint="{encoder}", crop_size=40), "crop_size 40 must be a multiple of the patch size 16"),
        (dict(checkpoint="{encoder}", dtype="float64"), "model.dtype 'float64' is not one of"),
        (dict(checkpoint="random", preset="vit_tiny"), "model.preset: unknown encoder preset 'vit_tiny'"),
        (
            dict(checkpoint="{encoder}", probe_checkpoint="{wide_probe}"),
            "expects 48-dim tokens but the encoder gives 32",
        ),
        (
            dict(checkpoint="{encoder}", probe_checkpoint="{probe}", probe_labels="{labels}"),
            "has 3 labels but the classifier has 2 classes",
        ),
    ],
)
def test_each_bad_setting_gives_one_clear_error(files: dict[str, Path], spec: dict, match: str) -> None:
    names = {k: str(v) for k, v in files.items()}
    spec = {k: v.format(**names) if isinstance(v, str) else v for k, v in spec.items()}
    with pytest.raises(ModelLoadError, match=match):
        PerceptionModel(ModelSpec(**{"crop_size": 32, **spec}))
