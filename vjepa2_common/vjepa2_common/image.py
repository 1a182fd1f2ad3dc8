"""sensor_msgs/Image and CompressedImage <-> numpy without cv_bridge (absent from the PyPI ROS 2 wheels)."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from .image_decoding import MAX_DECODED_PIXELS, ImageDecodeError, decode_jpeg_png

#: channels and channel order of the encodings we read; all are 8-bit.
_ENCODINGS: dict[str, tuple[int, tuple[int, ...] | None]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, None),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


class ImageConversionError(ValueError):
    """An image message that cannot be turned into an RGB array; the message says why and what to do."""


def image_to_rgb(msg: Image) -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB array for an rgb8/bgr8/rgba8/bgra8/mono8 ``sensor_msgs/Image``.

    Rows are read with the message's ``step`` (row padding allowed). Raises ImageConversionError for an
    unsupported encoding, zero size, a step shorter than a row or a data length that does not match.
    """
    encoding = msg.encoding.lower()
    if encoding not in _ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding '{msg.encoding}'; publish one of {', '.join(SUPPORTED_ENCODINGS)} "
            "(or CompressedImage jpeg/png)"
        )
    channels, order = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"image has zero size ({width}x{height})")
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageConversionError(
            f"image step {step} is shorter than one row ({width} px x {channels} B = {row_bytes} B)"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != step * height:
        raise ImageConversionError(
            f"image data has {data.size} bytes but step x height = {step} x {height} = {step * height}"
        )
    pixels = data.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if order is None:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, list(order)])


def compressed_to_rgb(msg: CompressedImage, max_pixels: int = MAX_DECODED_PIXELS) -> np.ndarray:
    """Decode a jpeg/png ``sensor_msgs/CompressedImage`` to an (H, W, 3) uint8 RGB array.

    The size is read from the header first: data that would decode to more than ``max_pixels`` pixels is an
    ImageConversionError, as are other formats and corrupt data.
    """
    fmt = msg.format.lower()
    if not any(kind in fmt for kind in ("jpeg", "jpg", "png")):
        raise ImageConversionError(f"unsupported compressed format '{msg.format}'; use jpeg or png")
    try:
        return decode_jpeg_png(msg.data, max_pixels)
    except ImageDecodeError as exc:
        raise ImageConversionError(str(exc)) from None


def rgb_to_image(rgb: np.ndarray, stamp: Time | None = None, frame_id: str = "") -> Image:
    """Wrap an (H, W, 3) uint8 RGB array in an rgb8 ``sensor_msgs/Image``."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageConversionError(f"expected an (H, W, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
    msg = Image(header=Header(stamp=stamp or Time(), frame_id=frame_id))
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return msg
