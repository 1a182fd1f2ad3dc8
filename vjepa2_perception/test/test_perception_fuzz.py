"""encoder_node under seeded fuzzing over DDS: malformed images and JPEGs, random bytes, nasty stamps, bursts,
malformed ~/encode_image requests, random lifecycle transitions and refused parameter sets. Afterwards the node
is up, answers a valid ~/encode_image and encodes a valid camera frame."""

from __future__ import annotations

import re
import time

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from test_perception_node import FIRST_OUTPUT_TIMEOUT_S, NODE, checkpoints, node_params  # noqa: F401 - fixture

from vjepa2_common.fuzzing import (
    RequestStream,
    lifecycle_requests,
    malformed_compressed,
    malformed_image,
    parameter_attacks,
    pick,
    random_bytes,
    valid_image,
)
from vjepa2_common.lifecycle import LifecycleParams
from vjepa2_common.lifecycle_client import LifecycleClient
from vjepa2_common.params import schema_specs
from vjepa2_common.testing import RosHarness, wait_until
from vjepa2_msgs.msg import Embedding
from vjepa2_msgs.srv import EncodeImage
from vjepa2_perception.encoder_node import EncoderParams

SEED = 20261201
EVENTS = 500
BURST = 40


def test_fuzzed_input_leaves_the_encoder_up_and_encoding(ros: RosHarness, launcher, checkpoints) -> None:  # noqa: F811
    rng = np.random.default_rng(SEED)
    embeddings = ros.collect(Embedding, "/embedding")
    node = launcher.node(
        "vjepa2_perception",
        "encoder_node",
        params=node_params(checkpoints, input="both", qos="reliable", qos_depth=100, release_on_deactivate=False),
    )
    lifecycle = LifecycleClient(ros.node, NODE, timeout=FIRST_OUTPUT_TIMEOUT_S)
    wait_until(lambda: lifecycle.state() == "active", FIRST_OUTPUT_TIMEOUT_S, "the encoder to autostart")
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    raw = ros.publisher(Image, "/image", qos, subscribers=1)
    compressed = ros.publisher(CompressedImage, "/image/compressed", qos, subscribers=1)
    encode = ros.node.create_client(EncodeImage, f"{NODE}/encode_image")
    change = ros.node.create_client(ChangeState, f"{NODE}/change_state")
    set_params = ros.node.create_client(SetParameters, f"{NODE}/set_parameters")
    for client in (encode, change, set_params):
        assert client.wait_for_service(timeout_sec=FIRST_OUTPUT_TIMEOUT_S), client.srv_name
    ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    assert ok
    specs = [*schema_specs(EncoderParams), *schema_specs(LifecycleParams)]

    requests = RequestStream()
    expected: list[tuple[int, int]] = []  # (refused, accepted) parameters of each set_parameters request
    kinds = ("image", "compressed", "garbage", "burst", "encode", "transition", "parameters")
    weights = np.array([0.42, 0.22, 0.05, 0.02, 0.13, 0.07, 0.09])
    started = time.monotonic()
    for kind in rng.choice(kinds, size=EVENTS, p=weights / weights.sum()):
        if kind == "image":
            raw.publish(malformed_image(rng))
        elif kind == "compressed":
            compressed.publish(malformed_compressed(rng, jpeg.tobytes()))
        elif kind == "garbage":  # bytes that are not a valid CDR Image
            pick(rng, (raw, compressed)).publish(random_bytes(rng, 512))
        elif kind == "burst":
            for _ in range(BURST):
                raw.publish(valid_image(rng) if rng.random() < 0.5 else malformed_image(rng))
        elif kind == "encode":
            images = [valid_image(rng) if rng.random() < 0.4 else malformed_image(rng) for _ in range(rng.integers(4))]
            flags = {name: bool(rng.random() < 0.6) for name in ("tokens", "pooled", "normalized")}
            requests.send("encode", encode, EncodeImage.Request(images=images, **flags))
        elif kind == "transition":
            (request,) = lifecycle_requests(rng, 1)
            requests.send("transition", change, request)
        else:
            attacks = parameter_attacks(rng, specs, int(rng.integers(1, 4)))
            live = [Parameter("output.normalize", value=bool(rng.random() < 0.5))] if rng.random() < 0.3 else []
            request = SetParameters.Request(parameters=[p.to_parameter_msg() for p in attacks + live])
            requests.send("parameters", set_params, request)
            expected.append((len(attacks), len(live)))
    replies = requests.replies()
    for (attacks, _), (_, response) in zip(expected, [r for r in replies if r[0] == "parameters"], strict=True):
        results = list(response.results)
        assert not any(r.successful for r in results[:attacks]), [r.reason for r in results]
        assert all(r.successful for r in results[attacks:]), [r.reason for r in results]
    fuzz_s = time.monotonic() - started
    assert node.alive(), node.output()[-3000:]

    assert lifecycle.up() == "active"
    good = EncodeImage.Request(images=[valid_image(rng, 48, 64)], tokens=True, pooled=True)
    answer = ros.call(EncodeImage, f"{NODE}/encode_image", good)
    assert answer.success, answer.message
    assert (answer.embedding.num_tokens, answer.embedding.dim, len(answer.embedding.tokens)) == (16, 32, 16 * 32)
    frame = valid_image(rng, 40, 40)
    frame.header.stamp = Time(sec=424242)
    wait_until(
        lambda: raw.publish(frame) or any(m.header.stamp.sec == 424242 for m in embeddings.messages),
        30.0,
        "an embedding of a valid frame after the fuzzing",
        poll_s=0.2,
    )
    assert node.alive()
    out = node.output()
    assert "Traceback" not in out, out[-3000:]
    warnings = re.findall(r"rejected an image on", out)
    assert warnings and len(warnings) <= 2 + 2 * (time.monotonic() - started) / 5.0, "warnings must be throttled"
    print(f"fuzzed for {fuzz_s:.1f} s: {EVENTS} events, {len(replies)} requests, {len(warnings)} rejection warnings")
