"""QoS profiles chosen by name from a parameter (sensor data by default for camera streams)."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

QOS_CHOICES = ("sensor_data", "reliable", "transient_local")


def qos_from_name(name: str, depth: int = 5) -> QoSProfile:
    """Return the QoS profile ``name`` (one of ``QOS_CHOICES``) with history depth ``depth``.

    ``sensor_data``: best effort, volatile (drops stale frames; matches camera drivers).
    ``reliable``: reliable, volatile (matches rosbag replay and most publishers).
    ``transient_local``: reliable and latched (goals, static data for late joiners).
    """
    if depth < 1:
        raise ValueError(f"QoS depth must be >= 1, got {depth}")
    if name == "sensor_data":
        profile = QoSProfile(
            **{k: getattr(qos_profile_sensor_data, k) for k in ("reliability", "durability")},
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
        )
    elif name == "reliable":
        profile = QoSProfile(
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
        )
    elif name == "transient_local":
        profile = QoSProfile(
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
        )
    else:
        raise ValueError(f"unknown QoS profile '{name}'; use one of: {', '.join(QOS_CHOICES)}")
    return profile
