"""Image messages <-> numpy without cv_bridge: every encoding, padding, and each kind of bad message."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from vjepa2_common.image import ImageConversionError, compressed_to_rgb, image_to_rgb, rgb_to_image
from vjepa2_common.image_decoding import ImageDecodeError, compressed_size, decode_jpeg_png

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def make_image(pixels: np.ndarray, encoding: str, pad: int = 0) -> Image:
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1)
    rows = np.concatenate([rows, np.zeros((h, pad), np.uint8)], axis=1)
    return Image(height=h, width=w, encoding=encoding, step=rows.shape[1], data=rows.tobytes())


@pytest.mark.parametrize(
    "encoding,pixels",
    [
        ("rgb8", RGB),
        ("bgr8", RGB[:, :, ::-1]),
        ("rgba8", np.dstack([RGB, np.full((5, 7), 9, np.uint8)])),
        ("bgra8", np.dstack([RGB[:, :, ::-1], np.full((5, 7), 9, np.uint8)])),
    ],
)
def test_colour_encodings_give_rgb(encoding: str, pixels: np.ndarray) -> None:
    assert np.array_equal(image_to_rgb(make_image(pixels, encoding)), RGB)
    assert np.array_equal(image_to_rgb(make_image(pixels, encoding, pad=5)), RGB)  # row padding


def test_mono8_is_replicated() -> None:
    gray = RGB[:, :, 0]
    assert np.array_equal(image_to_rgb(make_image(gray[:, :, None], "mono8")), np.repeat(gray[:, :, None], 3, axis=2))


def test_round_trip_through_rgb8() -> None:
    msg = rgb_to_image(RGB, frame_id="cam")
    assert (msg.width, msg.height, msg.step, msg.header.frame_id) == (7, 5, 21, "cam")
    assert np.array_equal(image_to_rgb(msg), RGB)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda m: setattr(m, "encoding", "16UC1"), "unsupported image encoding '16UC1'"),
        (lambda m: setattr(m, "step", 10), "step 10 is shorter than one row"),
        (lambda m: setattr(m, "data", m.data[:-3]), "has 102 bytes but step x height"),
        (lambda m: (setattr(m, "width", 0), setattr(m, "step", 0), setattr(m, "data", b"")), "zero size"),
    ],
)
def test_bad_images_are_rejected_with_a_reason(mutate, message: str) -> None:
    msg = make_image(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(msg)


def test_compressed_png_and_jpeg() -> None:
    ok, png = cv2.imencode(".png", RGB[:, :, ::-1])
    assert ok and np.array_equal(compressed_to_rgb(CompressedImage(format="png", data=png.tobytes())), RGB)
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))
    ok, jpg = cv2.imencode(".jpg", smooth, [cv2.IMWRITE_JPEG_QUALITY, 95])
    decoded = compressed_to_rgb(CompressedImage(format="rgb8; jpeg compressed bgr8", data=jpg.tobytes()))
    assert decoded.shape == (32, 32, 3) and np.abs(decoded.astype(int) - smooth).max() <= 8


def test_truncated_jpeg_is_rejected() -> None:
    _, jpg = cv2.imencode(".jpg", RGB)
    with pytest.raises(ImageConversionError, match="truncated or corrupt"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=jpg.tobytes()[:20]))
    with pytest.raises(ImageConversionError, match="unsupported compressed format"):
        compressed_to_rgb(CompressedImage(format="tiff", data=b"xx"))


def png_header_claiming(width: int, height: int) -> bytes:
    """A few dozen bytes of PNG whose header declares width x height (what a decompression bomb sends)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_decoders_bound_the_decoded_pixel_count() -> None:
    """The size is read from the header before anything is decoded: a small message that declares a huge
    image is refused with its size, for PNG and JPEG, and non-JPEG/PNG data is refused unread."""
    bomb = png_header_claiming(60_000, 60_000) + b"\x00" * 64
    with pytest.raises(ImageConversionError, match=r"declares 60000x60000 = 3600000000 pixels, more than the"):
        compressed_to_rgb(CompressedImage(format="png", data=bomb))
    _, jpg = cv2.imencode(".jpg", np.zeros((48, 40, 3), np.uint8))
    assert compressed_size(jpg.tobytes()) == (40, 48)
    with pytest.raises(ImageConversionError, match=r"declares 40x48 = 1920 pixels, more than the 1000 allowed"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=jpg.tobytes()), max_pixels=1000)
    assert compressed_to_rgb(CompressedImage(format="jpeg", data=jpg.tobytes()), max_pixels=1920).shape == (48, 40, 3)
    # a JPEG header patched to claim 65000x65000 (the rest is a 40x48 image)
    data = bytearray(jpg.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (65000).to_bytes(2, "big") * 2
    with pytest.raises(ImageDecodeError, match="declares 65000x65000"):
        decode_jpeg_png(bytes(data))
    _, bmp = cv2.imencode(".bmp", RGB)
    with pytest.raises(ImageConversionError, match="not JPEG or PNG data"):
        compressed_to_rgb(CompressedImage(format="png", data=bmp.tobytes()))
