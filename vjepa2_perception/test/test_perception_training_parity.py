"""Train/serve agreement: the frames `vjepa2-train-ac` learns from and the frames the encoder node serves
give the same tokens (same weights, fp32), for a simulator frame and two camera sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Time

from vjepa2_common.image import rgb_to_image
from vjepa2_common.testing import RosHarness
from vjepa2_common.tools.image_publisher import test_pattern as pattern
from vjepa2_core.checkpoint import save_pretrained
from vjepa2_core.models import EncoderConfig, VisionEncoder
from vjepa2_msgs.srv import EncodeImage
from vjepa2_training.augment import ACClipTransform
from vjepa2_training.configs import ACData, FrozenEncoderSpec
from vjepa2_training.frozen_encoder import encode_frames, load_frozen_encoder

CROP = 64
FIRST_OUTPUT_TIMEOUT_S = 45.0  # process start, torch import and model load on a busy 2-core machine


@pytest.fixture(scope="module")
def frames() -> dict[str, np.ndarray]:
    """A 256x256 frame of the simulator's exterior camera and 480x640 / 720x1280 camera-sized frames."""
    from vjepa2_sim.sim import FrankaSim

    with FrankaSim(seed=0, image_size=(256, 256), render_geometry="collision") as sim:
        sim_frame = sim.render()
    return {"sim_256x256": sim_frame, "camera_480x640": pattern(3, 480, 640), "camera_720x1280": pattern(5, 720, 1280)}


def test_training_ac_features_equal_encoder_node_tokens(
    ros: RosHarness, launcher, tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    torch.manual_seed(0)
    encoder = VisionEncoder(EncoderConfig(embed_dim=32, depth=2, num_heads=2, img_size=CROP, name="vit_tiny"))
    checkpoint = save_pretrained(encoder, tmp_path / "tiny_encoder")
    node = launcher.node(
        "vjepa2_perception",
        "encoder_node",
        params={
            "model.checkpoint": str(checkpoint),
            "crop_size": CROP,
            "preprocessing": "ac",
            "model.dtype": "float32",
            "autostart": True,
        },
    )
    node.wait_for_output("active: encoding", FIRST_OUTPUT_TIMEOUT_S)
    # the training side: what vjepa2-train-ac runs (train_ac.build_dataset + ACTask.features)
    frozen = load_frozen_encoder(FrozenEncoderSpec(str(checkpoint), "core"), torch.device("cpu"))
    transform = ACClipTransform(CROP, ACData(roots=["unused"]).crop_aspect)
    for name, rgb in frames.items():
        assert rgb.dtype == np.uint8 and rgb.ndim == 3, name
        video = transform(rgb[None], None).unsqueeze(0)  # [1, 3, 1, S, S]
        trained_on = encode_frames(frozen, video)[0].numpy()  # [Npf, D], layer-normed
        request = EncodeImage.Request(images=[rgb_to_image(rgb, Time(sec=1))], tokens=True, normalized=True)
        response = ros.call(EncodeImage, "/vjepa2_encoder/encode_image", request)
        assert response.success, response.message
        served = np.asarray(response.embedding.tokens, np.float32).reshape(trained_on.shape)
        diff = float(np.abs(served - trained_on).max())
        print(f"{name}: max |diff| {diff:.3g}")
        assert diff <= 1e-6, f"{name}: training and the encoder node disagree by {diff}"
