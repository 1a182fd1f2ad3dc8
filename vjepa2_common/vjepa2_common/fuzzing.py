"""Seeded hostile input for the suite's fuzz tests: malformed images, stamps, parameter sets, lifecycle requests.

Every generator takes a ``numpy.random.Generator``, so a seed reproduces the whole attack. What a node must do
with each: refuse it (one clear, throttled warning or a ``success: false`` answer), stay up, and keep serving
valid input afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from vjepa2_common.image import SUPPORTED_ENCODINGS
from vjepa2_common.params import INT64_MAX, ParamSpec

NASTY_FLOATS = (math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308, 5e-324)
NASTY_INTS = (-1, -(2**31), 2**31 - 1, 2**32, INT64_MAX, -INT64_MAX)
NASTY_STRINGS = ("", " ", "\x00", "ü" * 40, "x" * 5000, "../../../etc/passwd", "%s%n{0}", "rgb8 ")
BAD_ENCODINGS = ("16UC1", "32FC1", "yuv422", "bayer_rggb8", "RGB16", "mono16", "jpeg")
#: lifecycle transitions a fuzzer may request: all but shutdown/destroy (those end a node by design)
TRANSITION_IDS = tuple(
    v for k, v in vars(Transition).items() if k.startswith("TRANSITION_") and "SHUTDOWN" not in k and "DESTROY" not in k
)
TRANSITION_LABELS = ("", "configure", "activate", "deactivate", "cleanup", "bogus", "Configure", "x" * 300)


def pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One of ``options`` (keeps Python types, unlike ``rng.choice``)."""
    return options[int(rng.integers(len(options)))]


def random_bytes(rng: np.random.Generator, max_len: int) -> bytes:
    return rng.integers(0, 256, int(rng.integers(0, max_len + 1)), dtype=np.uint8).tobytes()


def nasty_stamp(rng: np.random.Generator) -> Time:
    """Extreme, zero, or invalid (nanosec >= 10^9) header stamps, or an ordinary one."""
    sec = pick(rng, (0, -1, -(2**31), 2**31 - 1, int(rng.integers(0, 2**31 - 1))))
    nanosec = pick(rng, (0, 999_999_999, 1_000_000_000, 2**32 - 1, int(rng.integers(0, 10**9))))
    return Time(sec=sec, nanosec=nanosec)


def valid_image(rng: np.random.Generator, height: int = 32, width: int = 32) -> Image:
    """A random rgb8 image of the given size."""
    msg = Image(height=height, width=width, encoding="rgb8", step=width * 3)
    msg.data = rng.integers(0, 256, height * width * 3, dtype=np.uint8).tobytes()
    return msg


def malformed_image(rng: np.random.Generator) -> Image:
    """A ``sensor_msgs/Image`` with any of: a wrong encoding, zero or huge dimensions, a step or data length that
    does not match, random bytes, a nasty stamp and frame id (sometimes it happens to be valid)."""
    height = pick(rng, (0, 1, int(rng.integers(1, 48)), 2**31 - 1, 2**32 - 1))
    width = pick(rng, (0, 1, int(rng.integers(1, 48)), 2**31 - 1, 2**32 - 1))
    encoding = pick(rng, (*SUPPORTED_ENCODINGS, *BAD_ENCODINGS, *NASTY_STRINGS))
    channels = 4 if "a8" in encoding else 1 if encoding == "mono8" else 3
    row = width * channels
    step = pick(rng, (0, row, row + int(rng.integers(1, 9)), max(row - 1, 0), 2**32 - 1))
    msg = Image(height=height, width=width, encoding=encoding, step=min(step, 2**32 - 1))
    msg.is_bigendian = int(pick(rng, (0, 1, 255)))
    consistent = step * height if step * height <= 64 * 64 * 4 else 0
    size = pick(rng, (consistent, consistent + 1, max(consistent - 1, 0), 0, int(rng.integers(0, 4096))))
    msg.data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    msg.header.stamp = nasty_stamp(rng)
    msg.header.frame_id = pick(rng, NASTY_STRINGS)
    return msg


def malformed_compressed(rng: np.random.Generator, valid_jpeg: bytes) -> CompressedImage:
    """A ``sensor_msgs/CompressedImage`` with random bytes, a truncated or corrupted copy of ``valid_jpeg``, no
    data, or a wrong format string."""
    data = pick(
        rng,
        (
            random_bytes(rng, 4096),
            valid_jpeg[: int(rng.integers(0, len(valid_jpeg)))],
            valid_jpeg[:20] + random_bytes(rng, 200),
            b"",
            b"\x89PNG\r\n\x1a\n" + random_bytes(rng, 300),
        ),
    )
    msg = CompressedImage(format=pick(rng, ("jpeg", "png", "jpg", "rgb8; jpeg compressed bgr8", *NASTY_STRINGS)))
    msg.data = data
    msg.header.stamp = nasty_stamp(rng)
    return msg


def parameter_attacks(rng: np.random.Generator, specs: Sequence[ParamSpec], count: int) -> list[Parameter]:
    """``count`` parameter changes that a node must refuse: wrong types, values out of range, outside the choices
    or not finite, read-only parameters, undeclared names."""
    attacks: list[Parameter] = []
    while len(attacks) < count:
        spec = pick(rng, specs)
        options: list[Any] = [pick(rng, ("1.5", 7, 2.5, True, ["a"], [1, 2]))]  # a wrong type (filtered below)
        if spec.type is float:
            options += [math.nan, math.inf, -math.inf]
        if spec.min is not None and spec.type in (int, float):
            options.append(spec.type(spec.min) - (1 if spec.type is int else abs(spec.min) + 1.0))
        if spec.max is not None and spec.type in (int, float) and spec.max < INT64_MAX:
            options.append(spec.type(spec.max) + (1 if spec.type is int else abs(spec.max) + 1.0))
        if spec.choices:
            options.append(pick(rng, [s for s in NASTY_STRINGS if s not in spec.choices]))
        if spec.read_only:
            options.append(spec.default)
        value = pick(rng, options)
        if _same_type(spec, value) and not _refused(spec, value):
            continue
        attacks.append(Parameter(spec.name, value=value))
        if rng.random() < 0.1:
            attacks.append(Parameter(f"no_such_parameter_{int(rng.integers(1000))}", value=pick(rng, NASTY_INTS)))
    return attacks[:count]


def _same_type(spec: ParamSpec, value: Any) -> bool:
    if spec.type is float:
        return isinstance(value, float)
    if spec.type is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type in (bool, str):
        return isinstance(value, spec.type)
    return (
        isinstance(value, list)
        and bool(value)
        and all(_same_type(ParamSpec("", spec.type.__args__[0], None, ""), v) for v in value)
    )


def _refused(spec: ParamSpec, value: Any) -> bool:
    return spec.read_only or spec.check(value) is not None or spec.out_of_range(value) is not None


def lifecycle_requests(rng: np.random.Generator, count: int) -> list[ChangeState.Request]:
    """Random ``change_state`` requests by id (valid, internal or unknown) or by label; never shutdown."""
    requests = []
    for _ in range(count):
        transition = Transition(id=int(pick(rng, (*TRANSITION_IDS, 9, 13, 100, 255))))
        if rng.random() < 0.3:
            transition.label = pick(rng, TRANSITION_LABELS)
        requests.append(ChangeState.Request(transition=transition))
    return requests


class RequestStream:
    """Asynchronous service calls with at most ``in_flight`` unanswered per kind.

    A service's request queue is KEEP_LAST 10 (rmw's services default): a client that sends more without
    waiting loses requests on any server, so a fuzzer must pace itself to tell a lost reply from a hung node.
    """

    def __init__(self, in_flight: int = 4, timeout_s: float = 60.0) -> None:
        self.in_flight = in_flight
        self.timeout_s = timeout_s
        self.sent: list[tuple[str, Any]] = []  # (kind, future)

    def send(self, kind: str, client: Any, request: Any) -> None:
        waiting = [f for k, f in self.sent if k == kind and not f.done()]
        if len(waiting) >= self.in_flight:
            self._wait(kind, waiting[0])
        self.sent.append((kind, client.call_async(request)))

    def replies(self) -> list[tuple[str, Any]]:
        """(kind, response) of every request sent, waiting for each (TimeoutError naming the kind)."""
        return [(kind, self._wait(kind, future)) for kind, future in self.sent]

    def _wait(self, kind: str, future: Any) -> Any:
        from vjepa2_common.testing import RosHarness

        return RosHarness.wait_future(future, self.timeout_s, f"the reply to a fuzzed {kind} request")
