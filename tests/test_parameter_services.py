"""Every parameter of every node survives describe_parameters, get_parameters and list_parameters over DDS.

The requests rqt_reconfigure and ``ros2 param`` send; a one-sided integer range (to_value = int(1e308)) used
to raise OverflowError inside the node's executor and end the node, and a valueless declaration answered
nothing to get_parameters.
"""

from __future__ import annotations

import pytest
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters

from vjepa2_common.testing import ProcessLauncher, RosHarness

START_TIMEOUT_S = 90.0  # rclpy + MuJoCo compile / torch import on a busy 2-core machine
SIM_PARAMS = {"image_width": 32, "image_height": 32, "camera_rate": 5.0}

NODES = {
    "encoder_node": ("vjepa2_perception", "encoder_node", "vjepa2_encoder", {}, ()),
    "sim_node": ("vjepa2_sim", "sim_node", "franka_sim", SIM_PARAMS, ()),
    "recorder": ("vjepa2_training", "vjepa2-record", "vjepa2_recorder", {}, ("-o", "{tmp}/bag")),
    "image_publisher": ("vjepa2_common", "image_publisher", "image_publisher", {"rate_hz": 5.0}, ()),
    "relay": ("vjepa2_common", "relay", "relay", {}, ()),
}


def check_parameter_services(ros: RosHarness, node: str) -> int:
    """List, describe and get every parameter of ``/node``; return how many it has."""
    listed = ros.call(ListParameters, f"/{node}/list_parameters", ListParameters.Request(), timeout=30.0)
    names = list(listed.result.names)
    assert "use_sim_time" in names and len(names) > 1, names
    described = ros.call(
        DescribeParameters, f"/{node}/describe_parameters", DescribeParameters.Request(names=names), timeout=30.0
    )
    assert [d.name for d in described.descriptors] == names
    for descriptor in described.descriptors:
        assert descriptor.type != ParameterType.PARAMETER_NOT_SET, f"{descriptor.name} has no type"
        for r in descriptor.integer_range:
            assert -(2**63) < r.from_value <= r.to_value < 2**63
        for r in descriptor.floating_point_range:
            assert r.from_value <= r.to_value
    values = ros.call(GetParameters, f"/{node}/get_parameters", GetParameters.Request(names=names), timeout=30.0)
    assert len(values.values) == len(names), f"get_parameters answered {len(values.values)} of {len(names)}"
    missing = [n for n, v in zip(names, values.values) if v.type == ParameterType.PARAMETER_NOT_SET]
    assert not missing, f"parameters without a value: {missing}"
    return len(names)


@pytest.mark.parametrize("which", sorted(NODES))
def test_every_parameter_survives_the_parameter_services(
    which: str, launcher: ProcessLauncher, ros: RosHarness, tmp_path
) -> None:
    package, executable, node, params, args = NODES[which]
    proc = launcher.node(package, executable, params=params, args=[a.format(tmp=tmp_path) for a in args])
    ros.wait_for_node(node, timeout=START_TIMEOUT_S)
    count = check_parameter_services(ros, node)
    assert proc.alive(), proc.output()[-3000:]
    assert check_parameter_services(ros, node) == count  # still answering after the describe
    assert proc.alive()
    assert "Traceback" not in proc.output()
