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
            dict(checkpoint="package://vjepa2/models/demo/nope.safetensors"),
            r"model.checkpoint 'package://vjepa2/models/demo/nope.safetensors': package 'vjepa2' has no file "
            r"'models/demo/nope.safetensors' \(looked at .*share/vjepa2/models/demo/nope.safetensors",
        ),
        (dict(checkpoint="package://no_such_package/x.pt"), r"package 'no_such_package' is neither installed"),
        (dict(checkpoint="package://vjepa2/../x.pt"), r"model.checkpoint 'package://vjepa2/../x.pt' is malformed"),
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


def test_auto_preset_names_the_size_of_the_weights(tmp_path: Path) -> None:
    """A tiny checkpoint loads under the default preset and is published with its own size, never as
    vit_large; a named preset the weights do not match is one clear error."""
    torch.manual_seed(2)
    unnamed = save_pretrained(
        VisionEncoder(EncoderConfig(embed_dim=32, depth=1, num_heads=2, img_size=32)), tmp_path / "a"
    )
    # a training run that started from the vit_large preset but shrank it keeps the name: the sizes decide
    relabelled = VisionEncoder(EncoderConfig(embed_dim=32, depth=2, num_heads=2, img_size=32, name="vit_large"))
    relabelled = save_pretrained(relabelled, tmp_path / "b")
    for path, size in ((unnamed, "vit_d32x1"), (relabelled, "vit_d32x2")):
        model = PerceptionModel(ModelSpec(str(path), crop_size=32))
        assert model.model_id == f"{size}:{path.name}"
        with pytest.raises(ModelLoadError, match=r"model.preset 'vit_large' does not match .*embed_dim 1024 vs 32"):
            PerceptionModel(ModelSpec(str(path), preset="vit_large", crop_size=32))
    assert PerceptionModel(ModelSpec("random", crop_size=32)).model_id.startswith("vit_large:")


def test_auto_preset_on_an_official_layout_file(tmp_path: Path) -> None:
    """An official-layout file (``module.backbone.`` keys, as vitl.pt/vitg.pt): the size is inferred from its
    weight shapes, so a pinned vit_large no longer stands in the way; a size that is no released one needs
    its head count, which the error says how to give."""
    encoder = VisionEncoder(EncoderConfig(embed_dim=64, depth=2, num_heads=4, img_size=32))
    path = tmp_path / "vitg.pt"
    torch.save({"encoder": {f"module.backbone.{k}": v for k, v in encoder.state_dict().items()}}, path)
    with pytest.raises(ModelLoadError, match="preset 'vit_large' does not match the checkpoint"):
        PerceptionModel(ModelSpec(str(path), preset="vit_large", crop_size=32))
    with pytest.raises(ModelLoadError, match="not a released size") as auto:
        PerceptionModel(ModelSpec(str(path), crop_size=32))
    assert "does not match" not in str(auto.value)
