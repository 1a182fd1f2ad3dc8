"""Parameters are declared with descriptions and enforced ranges; QoS profiles are chosen by name."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

from vjepa2_common.params import declare
from vjepa2_common.qos import qos_from_name
from vjepa2_common.testing import RosHarness


def test_declared_parameters_carry_descriptions_and_ranges(ros: RosHarness) -> None:
    node = ros.node
    assert declare(node, "rate_hz", 30.0, "Frame rate", min_value=1.0, max_value=60.0) == 30.0
    assert declare(node, "depth", 4, "Queue depth", min_value=1, max_value=10) == 4
    descriptor = node.describe_parameter("rate_hz")
    assert descriptor.description == "Frame rate"
    assert descriptor.floating_point_range[0].to_value == 60.0
    result = node.set_parameters([Parameter("rate_hz", value=120.0)])[0]
    assert not result.successful and "range" in result.reason.lower()
    assert node.set_parameters([Parameter("depth", value=8)])[0].successful


def test_choices_are_checked(ros: RosHarness) -> None:
    assert declare(ros.node, "qos", "sensor_data", "QoS", choices=("sensor_data", "reliable")) == "sensor_data"
    with pytest.raises(ValueError, match="must be one of: a, b"):
        declare(ros.node, "mode", "c", "Mode", choices=("a", "b"))


def test_qos_profiles_by_name() -> None:
    assert qos_from_name("sensor_data").reliability == ReliabilityPolicy.BEST_EFFORT
    assert qos_from_name("reliable", depth=3).depth == 3
    assert qos_from_name("transient_local").durability == DurabilityPolicy.TRANSIENT_LOCAL
    with pytest.raises(ValueError, match="unknown QoS profile 'fast'"):
        qos_from_name("fast")
    assert rclpy  # the harness above uses a private context; nothing global is left initialised
