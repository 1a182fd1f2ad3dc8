"""Bounded JPEG/PNG decoding (numpy + OpenCV, no ROS): the size is read from the header before decoding.

A few hundred bytes of compressed data can declare a 65535 x 65535 image that OpenCV would expand into
gigabytes; :func:`decode_jpeg_png` refuses anything above ``max_pixels`` with one clear error instead.
Used for CompressedImage topics (perception), bag conversion and stored episode frames (training).
"""

from __future__ import annotations

import struct

import numpy as np

#: default bound on decoded pixels: 40 MP (an 8K frame is 33 MP), about 120 MB as RGB
MAX_DECODED_PIXELS = 40_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (baseline, progressive, lossless, ...); C4, C8 and CC are other segments
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
#: JPEG markers without a length field
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}


class ImageDecodeError(ValueError):
    """Compressed image data that is not decoded: not JPEG/PNG, corrupt, or too large once decoded."""


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageDecodeError("PNG data without an IHDR header (truncated?)")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageDecodeError(f"JPEG data is corrupt (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker == 0xDA or length < 2:  # image data before any frame header
            break
        pos += 2 + length
    raise ImageDecodeError("JPEG data without a frame header (truncated or corrupt?)")


def compressed_size(data: bytes) -> tuple[int, int]:
    """(width, height) that JPEG or PNG ``data`` declares in its header, without decoding it."""
    if data.startswith(_PNG_SIGNATURE):
        return _png_size(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    raise ImageDecodeError(f"not JPEG or PNG data (starts with {data[:8].hex()}); use jpeg or png")


def decode_jpeg_png(data: bytes | np.ndarray, max_pixels: int = MAX_DECODED_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG bytes into an (H, W, 3) uint8 RGB array; ImageDecodeError (naming the size and the
    bound) for data that is not JPEG/PNG, is corrupt, or would decode to more than ``max_pixels`` pixels."""
    import cv2

    raw = bytes(data) if not isinstance(data, bytes) else data
    if not raw:
        raise ImageDecodeError("compressed image has no data")
    width, height = compressed_size(raw)
    if width == 0 or height == 0:
        raise ImageDecodeError(f"compressed image declares zero size ({width}x{height})")
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"compressed image of {len(raw)} B declares {width}x{height} = {width * height} pixels, more than "
            f"the {max_pixels} allowed; send a smaller image"
        )
    bgr = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        kind = "png" if raw.startswith(_PNG_SIGNATURE) else "jpeg"
        raise ImageDecodeError(
            f"could not decode the {kind} data ({len(raw)} B, {width}x{height} in its header); truncated or corrupt?"
        )
    if bgr.shape[:2] != (height, width):  # the decoder read another size than the header: refuse the surprise
        raise ImageDecodeError(f"image decoded to {bgr.shape[1]}x{bgr.shape[0]} but its header says {width}x{height}")
    return np.ascontiguousarray(bgr[:, :, ::-1])
