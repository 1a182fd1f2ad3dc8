"""relay under seeded fuzzing over DDS: malformed images, random bytes (not valid CDR), bursts and refused
parameter sets. Afterwards the node is up and relays a valid frame."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from vjepa2_common.fuzzing import RequestStream, malformed_image, parameter_attacks, random_bytes, valid_image
from vjepa2_common.params import schema_specs
from vjepa2_common.testing import RosHarness, wait_until
from vjepa2_common.tools.relay import RelayParams

SEED = 20261203
EVENTS = 400
QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def test_fuzzed_input_leaves_the_relay_up_and_relaying(ros: RosHarness, launcher) -> None:
    rng = np.random.default_rng(SEED)
    node = launcher.node(
        "vjepa2_common", "relay", params={"qos": "reliable"}, remaps={"input": "/in", "output": "/out"}
    )
    relayed = ros.collect(Image, "/out", QOS)
    pub = ros.publisher(Image, "/in", QOS, subscribers=1)
    set_params = ros.node.create_client(SetParameters, "/relay/set_parameters")
    assert set_params.wait_for_service(timeout_sec=60.0)
    specs = schema_specs(RelayParams)
    requests = RequestStream()
    for kind in rng.choice(("image", "garbage", "burst", "parameters"), size=EVENTS, p=(0.6, 0.2, 0.05, 0.15)):
        if kind == "image":
            pub.publish(malformed_image(rng))
        elif kind == "garbage":
            pub.publish(random_bytes(rng, 1024))
        elif kind == "burst":
            for _ in range(30):
                pub.publish(valid_image(rng))
        else:
            attacks = parameter_attacks(rng, specs, int(rng.integers(1, 3)))
            requests.send(
                "parameters", set_params, SetParameters.Request(parameters=[p.to_parameter_msg() for p in attacks])
            )
    for _, response in requests.replies():
        assert not any(r.successful for r in response.results), [r.reason for r in response.results]
    assert node.alive(), node.output()[-3000:]
    frame = valid_image(rng, 24, 24)
    frame.header.stamp = Time(sec=515151)
    wait_until(
        lambda: pub.publish(frame) or any(m.header.stamp.sec == 515151 for m in relayed.messages),
        30.0,
        "a valid frame relayed after the fuzzing",
        poll_s=0.2,
    )
    assert node.alive() and "Traceback" not in node.output(), node.output()[-3000:]
