"""vjepa2-launch starts a graph as processes that talk, and leaves no process behind when stopped."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from sensor_msgs.msg import Image

from vjepa2.graphs import get_graph
from vjepa2.runner import node_command
from vjepa2_common.qos import qos_from_name
from vjepa2_common.testing import RosHarness, wait_until


def process_gone(pid: int) -> bool:
    """True if ``pid`` no longer exists (or is a zombie nobody has reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_runner_starts_two_talking_nodes_and_stops_them(launcher, ros: RosHarness) -> None:
    relayed = ros.collect(Image, "/demo/camera/image_relayed", qos_from_name("sensor_data"))
    runner = launcher.start(["vjepa2-launch", "camera_relay", "rate_hz:=20.0", "namespace:=demo"], label="runner")
    # The pattern camera publishes, the relay forwards: frames arriving here prove both nodes talk.
    frames = relayed.wait_for(5)
    assert {(f.width, f.height, f.encoding) for f in frames} == {(256, 256, "rgb8")}
    names = ros.node.get_node_names_and_namespaces()
    assert ("camera", "/demo") in names and ("camera_relay", "/demo") in names

    pids = [int(p) for p in re.findall(r"started \w+ \(pid (\d+)\)", runner.output())]
    assert len(pids) == 2
    os.kill(runner.pid, signal.SIGINT)  # what Ctrl-C does
    assert runner.proc.wait(30) == 0
    assert "all nodes stopped" in runner.output()
    wait_until(lambda: all(process_gone(pid) for pid in pids), 5.0, "node processes to disappear")


def test_graph_arguments_are_validated() -> None:
    graph = get_graph("camera_relay")
    with pytest.raises(ValueError, match=r"no argument.*ratehz"):
        graph.nodes({"ratehz": "3"})
    with pytest.raises(KeyError, match="unknown graph 'nope'"):
        get_graph("nope")


def test_node_command_matches_launch_ros_arguments(tmp_path: Path) -> None:
    camera, relay = get_graph("camera_relay").nodes({"rate_hz": "7.5", "namespace": "robot1"})
    cmd = node_command(camera, tmp_path)
    assert cmd[0].endswith("lib/vjepa2_common/image_publisher")
    assert cmd[1:] == [
        "--ros-args",
        "-r",
        "__node:=camera",
        "-r",
        "__ns:=/robot1",
        "--params-file",
        str(tmp_path / "camera_0.yaml"),
        "-r",
        "image:=camera/image_raw",
    ]
    assert "rate_hz: 7.5" in (tmp_path / "camera_0.yaml").read_text()
    assert node_command(relay, tmp_path)[-4:] == ["-r", "input:=camera/image_raw", "-r", "output:=camera/image_relayed"]


def test_every_graph_resolves_with_its_defaults(tmp_path: Path) -> None:
    from vjepa2.graph import GRAPHS

    for graph in GRAPHS.values():
        for spec in graph.nodes():
            assert node_command(spec, tmp_path)  # executables and parameter files exist
