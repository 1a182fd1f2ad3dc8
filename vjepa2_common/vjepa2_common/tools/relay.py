"""Republish sensor_msgs/Image from ``input`` to ``output`` (remap both), optionally every n-th frame.

Works on serialized messages, so relaying costs no (de)serialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node
from sensor_msgs.msg import Image

from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, param
from vjepa2_common.qos import QOS_CHOICES, qos_from_name


@dataclass
class RelayParams:
    """Parameters of ``relay`` (read at start-up)."""

    every_nth: int = param(1, "Forward every n-th message", min=1, max=1000, read_only=True)
    qos: str = param("sensor_data", "QoS of both topics", choices=QOS_CHOICES, read_only=True)


class ImageRelay(Node):
    """Forwards every ``every_nth`` serialized message from ``input`` to ``output``."""

    def __init__(self, **kwargs) -> None:
        super().__init__("relay", **kwargs)
        settings = declare_parameters(self, RelayParams)
        self._every = settings.every_nth
        qos = qos_from_name(settings.qos)
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
