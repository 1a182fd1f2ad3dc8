"""Publish an image file, a folder of images or a moving test pattern as sensor_msgs/Image at a fixed rate.

The stand-in for a camera driver in tests and demos (like image_pipeline's image_publisher).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image

from vjepa2_common.image import rgb_to_image
from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, param
from vjepa2_common.qos import QOS_CHOICES, qos_from_name

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def test_pattern(index: int, height: int, width: int) -> np.ndarray:
    """A deterministic moving colour pattern: frame ``index`` differs from its neighbours."""
    yy, xx = np.mgrid[0:height, 0:width]
    shift = index * 4
    rgb = np.stack([(xx + shift) % 256, (yy + 2 * shift) % 256, ((xx + yy) // 2 + 3 * shift) % 256], axis=-1)
    return rgb.astype(np.uint8)


test_pattern.__test__ = False  # a frame generator, not a pytest test


@dataclass
class ImagePublisherParams:
    """Parameters of ``image_publisher`` (read at start-up)."""

    source: str = param(
        "pattern", "'pattern' (a moving test pattern) or a path to an image file or a folder of images", read_only=True
    )
    rate_hz: float = param(30.0, "Publishing rate [Hz]", min=0.1, max=1000.0, read_only=True)
    height: int = param(256, "Pattern height [px]", min=1, max=8192, read_only=True)
    width: int = param(256, "Pattern width [px]", min=1, max=8192, read_only=True)
    frame_id: str = param("camera_optical_frame", "header.frame_id of the images", read_only=True)
    qos: str = param("sensor_data", "QoS profile of the image topic", choices=QOS_CHOICES, read_only=True)


class ImagePublisher(Node):
    """Publishes ``image`` (rgb8) from ``source`` at ``rate_hz``."""

    def __init__(self, **kwargs) -> None:
        super().__init__("image_publisher", **kwargs)
        settings = declare_parameters(self, ImagePublisherParams)
        self._height, self._width, self._frame_id = settings.height, settings.width, settings.frame_id
        self._frames = self._load(settings.source)
        self._index = 0
        self._pub = self.create_publisher(Image, "image", qos_from_name(settings.qos))
        self.create_timer(1.0 / settings.rate_hz, self._publish)

    def _load(self, source: str) -> list[np.ndarray] | None:
        if source == "pattern":
            return None
        import cv2

        path = Path(source).expanduser()
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES) if path.is_dir() else [path]
        frames = []
        for file in files:
            bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"cannot read image '{file}'; give a png/jpg file, a folder of them, or 'pattern'")
            frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
        if not frames:
            raise ValueError(f"no png/jpg images in '{path}'")
        return frames

    def _publish(self) -> None:
        # SIGINT/SIGTERM shut the context down while the executor may still fire this timer: publish nothing then.
        if not self.context.ok():
            return
        if self._frames is None:
            rgb = test_pattern(self._index, self._height, self._width)
        else:
            rgb = self._frames[self._index % len(self._frames)]
        try:
            self._pub.publish(rgb_to_image(rgb, self.get_clock().now().to_msg(), self._frame_id))
        except Exception:
            if self.context.ok():
                raise
            return  # the context went away (SIGINT/SIGTERM) after the check above: nothing to publish to
        self._index += 1


def main(args: list[str] | None = None) -> int:
    return run_node(ImagePublisher, args)


if __name__ == "__main__":
    raise SystemExit(main())
