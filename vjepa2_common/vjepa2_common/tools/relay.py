"""Republish sensor_msgs/Image from ``input`` to ``output`` (remap both), optionally every n-th frame.

Works on serialized messages, so relaying costs no (de)serialisation.
"""

from __future__ import annotations

from rclpy.node import Node
from sensor_msgs.msg import Image

from vjepa2_common.node import run_node
from vjepa2_common.params import declare
from vjepa2_common.qos import QOS_CHOICES, qos_from_name


class ImageRelay(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("relay", **kwargs)
        self._every = declare(self, "every_nth", 1, "Forward every n-th message", min_value=1, max_value=1000)
        qos = qos_from_name(declare(self, "qos", "sensor_data", "QoS of both topics", choices=QOS_CHOICES))
        self._count = 0
        self._pub = self.create_publisher(Image, "output", qos)
        self.create_subscription(Image, "input", self._forward, qos, raw=True)

    def _forward(self, raw: bytes) -> None:
        if self._count % self._every == 0:
            self._pub.publish(raw)
        self._count += 1


def main(args: list[str] | None = None) -> int:
    return run_node(ImageRelay, args)


if __name__ == "__main__":
    raise SystemExit(main())
