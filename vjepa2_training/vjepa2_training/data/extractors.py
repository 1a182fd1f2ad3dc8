"""Pluggable registry of message extractors: ROS message -> image / pose / gripper value.

Messages are the plain objects that ``rosbags`` deserialises (attribute access like rclpy messages), so
this module is ROS-free. Built-in extractors cover ``sensor_msgs/msg/Image``,
``sensor_msgs/msg/CompressedImage``, ``geometry_msgs/msg/{PoseStamped, Pose, TransformStamped}``,
``sensor_msgs/msg/JointState`` and ``std_msgs/msg/{Float32, Float64}``.

Adding a robot-specific type (e.g. a Franka robot-state message)::

    from vjepa2_training.data.extractors import register_extractor, PoseSample

    @register_extractor("pose", "franka_msgs/msg/FrankaState")
    def franka_pose(msg, options):
        m = np.asarray(msg.o_t_ee).reshape(4, 4).T          # column-major 4x4
        return PoseSample(m[:3, 3], Rotation.from_matrix(m[:3, :3]).as_quat())

Put that in a module and name it in the conversion config's ``plugins`` list (or ``--plugin``), or expose it
through the ``vjepa2_training.extractors`` entry-point group; both are imported before conversion starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from vjepa2_common.image_decoding import ImageDecodeError, decode_jpeg_png

KINDS = ("image", "pose", "gripper")
ENTRY_POINT_GROUP = "vjepa2_training.extractors"


class ExtractorError(ValueError):
    """A message could not be turned into the requested value (bad encoding, missing joint, ...)."""


@dataclass(frozen=True)
class PoseSample:
    """End-effector pose in the robot base frame: position (m) and unit quaternion (x, y, z, w)."""

    position: np.ndarray
    quat_xyzw: np.ndarray


Extractor = Callable[[Any, Mapping[str, Any]], Any]
_REGISTRY: dict[tuple[str, str], Extractor] = {}


def register_extractor(kind: str, msgtype: str) -> Callable[[Extractor], Extractor]:
    """Decorator registering ``fn(msg, options) -> value`` for ``msgtype`` (e.g. ``pkg/msg/Name``).

    ``kind`` is ``image`` (returns an ``HxWx3`` uint8 RGB array), ``pose`` (returns :class:`PoseSample`) or
    ``gripper`` (returns a float, normalised so that 0 = open and 1 = closed).
    """
    if kind not in KINDS:
        raise ValueError(f"register_extractor: unknown kind {kind!r}; expected one of {KINDS}")
    if msgtype.count("/") != 2:
        raise ValueError(f"register_extractor: message type must look like 'pkg/msg/Name', got {msgtype!r}")

    def decorator(fn: Extractor) -> Extractor:
        _REGISTRY[(kind, msgtype)] = fn
        return fn

    return decorator


def get_extractor(kind: str, msgtype: str) -> Extractor:
    """The extractor for ``(kind, msgtype)``; raises with the list of supported types when there is none."""
    try:
        return _REGISTRY[(kind, msgtype)]
    except KeyError:
        known = sorted(t for k, t in _REGISTRY if k == kind)
        raise ExtractorError(
            f"no {kind} extractor for message type {msgtype!r}; supported: {known}. Register one with "
            f"vjepa2_training.data.extractors.register_extractor({kind!r}, {msgtype!r}) in a plugin module."
        ) from None


def load_plugins(modules: list[str] | tuple[str, ...] = ()) -> None:
    """Import extractor plugins: the given modules plus all ``vjepa2_training.extractors`` entry points."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ImportError(f"extractor plugin module {name!r} could not be imported: {err}") from err
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()


# ----------------------------------------------------------------------------------------------- images

_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3}


@register_extractor("image", "sensor_msgs/msg/Image")
def image_from_raw(msg: Any, options: Mapping[str, Any]) -> np.ndarray:
    """RGB uint8 array from a raw ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8)."""
    encoding = str(msg.encoding)
    if encoding not in _CHANNELS:
        raise ExtractorError(f"unsupported image encoding {encoding!r}; supported: {sorted(_CHANNELS)}")
    channels = _CHANNELS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8)
    if step < width * channels or data.size < height * step:
        raise ExtractorError(
            f"image buffer too small: {data.size} bytes for {height}x{width} {encoding} with step {step}"
        )
    rows = data[: height * step].reshape(height, step)[:, : width * channels]
    img = rows.reshape(height, width, channels)
    if encoding in ("bgr8", "8UC3"):
        return np.ascontiguousarray(img[..., ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(img[..., :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(img[..., 2::-1])
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img)


@register_extractor("image", "sensor_msgs/msg/CompressedImage")
def image_from_compressed(msg: Any, options: Mapping[str, Any]) -> np.ndarray:
    """RGB uint8 array from a JPEG/PNG ``sensor_msgs/CompressedImage``."""
    try:
        return decode_jpeg_png(msg.data)  # bounded: the header's size is checked before decoding
    except ImageDecodeError as exc:
        raise ExtractorError(f"could not decode compressed image (format {msg.format!r}): {exc}") from None


# ------------------------------------------------------------------------------------------------ poses


def _pose_sample(position: Any, orientation: Any) -> PoseSample:
    pos = np.array([position.x, position.y, position.z], dtype=np.float64)
    quat = np.array([orientation.x, orientation.y, orientation.z, orientation.w], dtype=np.float64)
    return PoseSample(pos, quat)


@register_extractor("pose", "geometry_msgs/msg/PoseStamped")
def pose_from_pose_stamped(msg: Any, options: Mapping[str, Any]) -> PoseSample:
    """End-effector pose from ``geometry_msgs/PoseStamped`` (assumed expressed in the robot base frame)."""
    return _pose_sample(msg.pose.position, msg.pose.orientation)


@register_extractor("pose", "geometry_msgs/msg/Pose")
def pose_from_pose(msg: Any, options: Mapping[str, Any]) -> PoseSample:
    """End-effector pose from an unstamped ``geometry_msgs/Pose``."""
    return _pose_sample(msg.position, msg.orientation)


@register_extractor("pose", "geometry_msgs/msg/TransformStamped")
def pose_from_transform(msg: Any, options: Mapping[str, Any]) -> PoseSample:
    """End-effector pose from ``geometry_msgs/TransformStamped`` (base -> end-effector transform)."""
    return _pose_sample(msg.transform.translation, msg.transform.rotation)


# ---------------------------------------------------------------------------------------------- gripper


def normalise_gripper(value: float, options: Mapping[str, Any]) -> float:
    """Map a raw gripper reading to [0, 1] with ``options['open_value']`` -> 0 and ``['closed_value']`` -> 1.

    The result is not clipped, so the converter can report out-of-range readings.
    """
    open_value = float(options.get("open_value", 0.0))
    closed_value = float(options.get("closed_value", 1.0))
    if open_value == closed_value:
        raise ExtractorError("gripper options: open_value and closed_value must differ")
    return (float(value) - open_value) / (closed_value - open_value)


@register_extractor("gripper", "sensor_msgs/msg/JointState")
def gripper_from_joint_state(msg: Any, options: Mapping[str, Any]) -> float:
    """Mean position of the gripper joints, normalised by :func:`normalise_gripper`.

    ``options['joints']`` names them; when absent or empty, every joint whose name contains ``finger``.
    """
    names = list(msg.name)
    positions = np.asarray(msg.position, dtype=np.float64)
    wanted = list(options.get("joints") or [n for n in names if "finger" in n])
    missing = [j for j in wanted if j not in names]
    if missing or not wanted:
        raise ExtractorError(
            f"JointState lacks the gripper joint(s) {missing or '(no name contains finger)'}; it has {names}. "
            "Set the gripper extractor option 'joints'."
        )
    value = float(np.mean([positions[names.index(j)] for j in wanted]))
    return normalise_gripper(value, options)


@register_extractor("gripper", "std_msgs/msg/Float64")
@register_extractor("gripper", "std_msgs/msg/Float32")
def gripper_from_float(msg: Any, options: Mapping[str, Any]) -> float:
    """Gripper reading from a bare float, normalised with :func:`normalise_gripper`."""
    return normalise_gripper(float(msg.data), options)
