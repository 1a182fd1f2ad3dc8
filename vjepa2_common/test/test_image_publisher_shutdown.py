"""The test-pattern camera under hostile use: clean shutdown while publishing fast, and a fuzzed parameter set."""

from __future__ import annotations

from sensor_msgs.msg import Image

from vjepa2_common.qos import qos_from_name
from vjepa2_common.testing import ProcessLauncher, RosHarness

SHUTDOWNS = 6  # the race showed in about one shutdown in three


def test_sigint_while_publishing_exits_without_publish_errors(launcher: ProcessLauncher, ros: RosHarness) -> None:
    received = ros.collect(Image, "image", qos_from_name("sensor_data"))
    for _ in range(SHUTDOWNS):
        proc = launcher.node(
            "vjepa2_common", "image_publisher", params={"rate_hz": 1000.0, "height": 480, "width": 640}
        )
        received.wait_for(len(received.messages) + 3)  # publishing flat out when the signal arrives
        assert proc.stop() == 0
        out = proc.output()
        assert "Failed to publish" not in out and "context is invalid" not in out and "Traceback" not in out, out
