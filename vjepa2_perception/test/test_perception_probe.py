"""Probe loading in the real encoder node over DDS: a released-layout probe file and one of ours through the
same path (labels from a label file, or from our probe's own metadata), and a corrupt probe file that fails
configure with one clear error while the node stays up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Time
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from vjepa2_common.image import rgb_to_image
from vjepa2_common.lifecycle_client import LifecycleClient, TransitionFailed
from vjepa2_common.testing import RosHarness, wait_until
from vjepa2_common.tools.image_publisher import test_pattern as pattern
from vjepa2_core.checkpoint import load_classifier, save_pretrained
from vjepa2_core.inference import FrameEncoder
from vjepa2_core.models import AttentiveClassifier, ClassifierConfig, EncoderConfig, VisionEncoder
from vjepa2_msgs.msg import Classification
from vjepa2_perception.labels import LabelFileError, checkpoint_labels

NODE = "/vjepa2_encoder"
CROP = 64
OFFICIAL_LABELS = ["opening", "closing", "holding"]
OUR_LABELS = ["+x", "-x", "+y", "-y"]
START_TIMEOUT_S = 45.0


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("probes")
    torch.manual_seed(0)
    encoder = VisionEncoder(EncoderConfig(embed_dim=32, depth=2, num_heads=2, img_size=CROP, name="vit_tiny"))
    official = AttentiveClassifier(ClassifierConfig(embed_dim=32, num_classes=3, num_heads=2, depth=2))
    ours = AttentiveClassifier(ClassifierConfig(embed_dim=32, num_classes=4, num_heads=2, depth=2))
    for probe in (official, ours):
        torch.nn.init.normal_(probe.linear.weight, std=1.0)  # far from uniform scores
    # the released probe-file layout (ssv2-vitl-16x2x3.pt): classifiers[0] with DDP's 'module.' prefix
    torch.save(
        {"classifiers": [{f"module.{k}": v for k, v in official.state_dict().items()}], "epoch": 20},
        root / "ssv2-tiny.pt",
    )
    (root / "labels.txt").write_text("\n".join(OFFICIAL_LABELS) + "\n")
    save_pretrained(ours, root / "probe.safetensors", metadata={"labels": OUR_LABELS})
    corrupt = root / "corrupt.safetensors"  # a probe whose weights file is truncated
    save_pretrained(ours, corrupt, metadata={"labels": OUR_LABELS})
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    return {
        "encoder": save_pretrained(encoder, root / "encoder"),
        "official": root / "ssv2-tiny.pt",
        "labels": root / "labels.txt",
        "ours": root / "probe.safetensors",
        "corrupt": corrupt,
    }


def test_checkpoint_labels(files: dict[str, Path], tmp_path: Path) -> None:
    assert checkpoint_labels(files["ours"], 4) == OUR_LABELS
    assert checkpoint_labels(files["official"], 3) is None  # released probes carry no names
    with pytest.raises(LabelFileError, match="names 4 labels in its metadata but has 5 classes"):
        checkpoint_labels(files["ours"], 5)


def set_parameters(ros: RosHarness, values: dict[str, Any]) -> None:
    request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    results = ros.call(SetParameters, f"{NODE}/set_parameters", request).results
    assert all(r.successful for r in results), [r.reason for r in results]


def test_released_and_our_probe_load_alike_and_a_corrupt_one_fails_cleanly(
    ros: RosHarness, launcher: Any, files: dict[str, Path]
) -> None:
    classes = ros.collect(Classification, "/classification")
    node = launcher.node(
        "vjepa2_perception",
        "encoder_node",
        params={
            "model.checkpoint": str(files["encoder"]),
            "crop_size": CROP,
            "qos": "reliable",
            "probe.checkpoint": str(files["official"]),
            "probe.labels": str(files["labels"]),
            "probe.num_heads": 2,
            "probe.top_k": 2,
        },
    )
    lifecycle = LifecycleClient(ros.node, NODE, timeout=START_TIMEOUT_S)
    camera = ros.publisher(Image, "/image", QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    rgb = pattern(3, CROP, CROP)
    reference = FrameEncoder.from_pretrained(files["encoder"], transform="ac", size=CROP)  # per_frame: ac (auto)

    def classify_through_node(probe_file: Path, num_heads: int | None, labels: list[str]) -> None:
        assert lifecycle.change("configure") == "inactive"
        assert lifecycle.change("activate") == "active"
        wait_until(lambda: camera.get_subscription_count() > 0, 10.0, "the node to subscribe")
        classes.messages.clear()
        wait_until(
            lambda: camera.publish(rgb_to_image(rgb, Time(sec=7))) or classes.messages,
            20.0,
            "a classification",
            poll_s=0.2,
        )
        probe = load_classifier(probe_file, num_heads=num_heads).eval()
        with torch.inference_mode():
            expected = probe(reference.encode_frames([rgb])).softmax(-1)[0].topk(2)
        msg = classes.messages[0]
        assert list(msg.class_ids) == expected.indices.tolist()
        assert list(msg.labels) == [labels[i] for i in expected.indices.tolist()]
        np.testing.assert_allclose(msg.scores, expected.values.numpy(), rtol=1e-5)
        assert msg.model_id.endswith(f"+{probe_file.name}")
        assert lifecycle.change("deactivate") == "inactive"
        assert lifecycle.change("cleanup") == "unconfigured"

    classify_through_node(files["official"], 2, OFFICIAL_LABELS)
    set_parameters(ros, {"probe.checkpoint": str(files["ours"]), "probe.labels": "", "probe.num_heads": 0})
    classify_through_node(files["ours"], None, OUR_LABELS)  # label names from the probe's own metadata

    not_a_probe = files["official"].with_name("not_a_probe.pt")
    not_a_probe.write_bytes(b"PK\x03\x04 truncated download")
    for bad in (files["corrupt"], not_a_probe):
        set_parameters(ros, {"probe.checkpoint": str(bad)})
        with pytest.raises(TransitionFailed, match="'configure' failed; the node is now 'unconfigured'"):
            lifecycle.change("configure")
        node.wait_for_output(f"cannot load the probe from probe.checkpoint '{bad}'", 10.0)
    assert "Traceback" not in node.output(), node.output()
    assert lifecycle.state() == "unconfigured" and node.alive()
    set_parameters(ros, {"probe.checkpoint": str(files["ours"])})  # fixed: the same process configures again
    assert lifecycle.change("configure") == "inactive"
    assert node.alive()
