"""vjepa2-launch starts a graph as processes that talk, and leaves no process behind when stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from sensor_msgs.msg import Image

from vjepa2.graphs import GRAPHS, get_graph
from vjepa2.runner import main, node_command
from vjepa2_common.qos import qos_from_name
from vjepa2_common.testing import DISCOVERY_TIMEOUT_S, RosHarness, wait_until


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
    wait_until(
        lambda: {("camera", "/demo"), ("camera_relay", "/demo")} <= set(ros.node.get_node_names_and_namespaces()),
        DISCOVERY_TIMEOUT_S,
        "both node names in the ROS graph",
    )

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


#: graphs whose nodes come from packages `make setup` does not install (the runner refuses them with one line)
NOT_INSTALLABLE_HERE = {"franka"}


def test_every_graph_resolves_with_its_defaults_and_has_its_launch_file(tmp_path: Path) -> None:
    assert {name: g.name for name, g in GRAPHS.items()} == {name: name for name in GRAPHS}
    for graph in GRAPHS.values():
        specs = graph.nodes()
        assert bool(graph.not_installed(specs)) == (graph.name in NOT_INSTALLABLE_HERE), graph.not_installed(specs)
        if graph.name not in NOT_INSTALLABLE_HERE:
            for spec in specs:
                assert node_command(spec, tmp_path)  # executables and parameter files exist
    launch_dir = Path(__file__).resolve().parents[1] / "launch"
    files = {path.name: path.read_text() for path in launch_dir.glob("*.launch.py")}
    assert sorted(files) == sorted(f"{name}.launch.py" for name in GRAPHS)
    for name in GRAPHS:  # each one line: the adapter on its graph
        assert f'return launch_description("{name}")' in files[f"{name}.launch.py"], name


def started_pids(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"started \w+ \(pid (\d+)\)", output)]


def test_sigkill_of_the_runner_leaves_no_node_running(launcher, ros: RosHarness) -> None:
    runner = launcher.start(["vjepa2-launch", "camera_relay", "rate_hz:=20.0"], label="runner")
    wait_until(lambda: len(started_pids(runner.output())) == 2 or not runner.alive(), 30.0, "both nodes started")
    pids = started_pids(runner.output())
    ros.wait_for_node("camera_relay")  # the nodes are up (not still importing)
    os.kill(runner.pid, signal.SIGKILL)  # only the runner: it cannot forward anything
    runner.proc.wait(10)
    try:
        wait_until(lambda: all(process_gone(pid) for pid in pids), 20.0, "the nodes to die with their runner")
    finally:
        for pid in pids:  # do not leave orphans behind when this fails
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_launch_argument_of_the_wrong_type_is_one_line_and_exit_2() -> None:
    result = subprocess.run(
        ["vjepa2-launch", "camera_relay", "rate_hz:=abc"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "vjepa2-launch: launch argument rate_hz:='abc' must be a number (e.g. 10.0): Camera frame rate [Hz]"
    ]
    for argv in (["nope"], ["camera_relay", "ratehz:=3"], ["camera_relay", "rate_hz=3"]):
        assert main(argv) == 2


def test_dry_run_commands_keep_their_parameter_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["camera_relay", "rate_hz:=12.5", "--dry-run"]) == 0
    out = capsys.readouterr().out
    param_dir = Path(re.search(r"^# parameter files of these commands \(kept\): (\S+)$", out, re.M).group(1))
    files = re.findall(r"--params-file (\S+)", out)
    assert files and all(Path(f).parent == param_dir and Path(f).is_file() for f in files)  # still there
    camera = yaml.safe_load(Path(files[0]).read_text())
    assert camera == {"/**": {"ros__parameters": {"rate_hz": 12.5}}}
    for f in files:
        Path(f).unlink()
    param_dir.rmdir()


#: How a graph description names the node that each (package, executable) starts.
NODE_WORDS = {
    ("vjepa2_common", "image_publisher"): "test-pattern camera",
    ("vjepa2_common", "relay"): "relay",
    ("vjepa2_sim", "sim_node"): "simulated Franka",
    ("vjepa2_perception", "encoder_node"): "V-JEPA 2 encoder node",
    ("vjepa2_planner", "planner_node"): "planner node",
    ("vjepa2_training", "bag_player"): "bag player",
    ("vjepa2_franka", "franky_bridge"): "franky bridge",
    ("vjepa2_training", "vjepa2-record"): "recorder",
    ("vjepa2", "call_service"): "one-shot service call",
    ("moveit_servo", "servo_node"): "MoveIt Servo",
    ("robot_state_publisher", "robot_state_publisher"): "robot_state_publisher",
    ("controller_manager", "ros2_control_node"): "ros2_control",
    ("controller_manager", "spawner"): "controller spawners",
    ("joint_state_publisher", "joint_state_publisher"): "joint_state_publisher",
    ("franka_gripper", "franka_gripper_node"): "franka_gripper",
    ("franka_gripper", "fake_gripper_state_publisher.py"): "franka_gripper",
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_descriptions_name_the_nodes_they_start(name: str) -> None:
    """`vjepa2-launch --list` says what runs: every node of the graph is named, and a node that the graph does
    not start is only mentioned in a sentence that says it is coming."""
    graph = GRAPHS[name]
    started = {(spec.package, spec.executable) for spec in graph.nodes()}
    assert started <= set(NODE_WORDS), f"add the new node(s) {started - set(NODE_WORDS)} to NODE_WORDS"
    sentences = re.split(r"(?<=\.) ", graph.description)
    started_words = {NODE_WORDS[node] for node in started}
    for words in set(NODE_WORDS.values()):
        mentions = [s for s in sentences if words.lower() in s.lower()]
        if words in started_words:
            assert mentions and not all(s.startswith("Coming") for s in mentions), f"{name}: {words} not described"
        else:
            assert all(s.startswith("Coming") for s in mentions), f"{name} does not start a {words}: {mentions}"


def test_perception_graph_publishes_a_tiny_checkpoint_under_its_own_size(
    launcher, ros: RosHarness, tmp_path: Path
) -> None:
    """`vjepa2-launch perception checkpoint:=<tiny>` works with the default preset (auto) and names the size
    that was loaded, not the vit_large a pinned preset used to claim."""
    import torch

    from vjepa2_core.checkpoint import save_pretrained
    from vjepa2_core.models import EncoderConfig, VisionEncoder
    from vjepa2_msgs.msg import Embedding

    torch.manual_seed(0)
    tiny = save_pretrained(VisionEncoder(EncoderConfig(embed_dim=32, depth=1, num_heads=2)), tmp_path / "tiny")
    embeddings = ros.collect(Embedding, "/p/embedding")
    launcher.start(["vjepa2-launch", "perception", f"checkpoint:={tiny}", "namespace:=p"], label="runner")
    (first, *_) = embeddings.wait_for(1, timeout=90.0)
    assert first.model_id == f"vit_d32x1:{tiny.name}"
    assert (first.dim, list(first.grid)) == (32, [1, 16, 16])


def test_graph_parameter_files_apply_in_any_namespace() -> None:
    """`namespace:=...` must not detach a node from its parameters: every block of a graph's parameter files
    is a /** pattern (a plain `vjepa2_encoder:` only matches the node in the root namespace)."""
    for graph in GRAPHS.values():
        for spec in graph.nodes({"namespace": "robot1"} if any(a.name == "namespace" for a in graph.arguments) else {}):
            for params in spec.parameters:
                if isinstance(params, str):
                    keys = yaml.safe_load(Path(params).read_text())
                    assert all(key.startswith("/**") for key in keys), f"{params}: {sorted(keys)}"


def test_call_service_calls_once_and_exits_with_the_answer(launcher, ros: RosHarness) -> None:
    """The franka graph's one-shot step (Servo's switch to twists), against a std_srvs/SetBool served here."""
    from std_srvs.srv import SetBool

    requests: list[bool] = []

    def serve(request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        requests.append(request.data)
        response.success, response.message = True, "switched"
        return response

    ros.node.create_service(SetBool, "/robot1/servo_node/switch", serve)
    params = {"service": "servo_node/switch", "type": "std_srvs/srv/SetBool", "request": "{data: true}"}
    call = launcher.node("vjepa2", "call_service", name="servo_twist_mode", namespace="/robot1", params=params)
    assert call.proc.wait(60) == 0, call.output()[-2000:]
    assert requests == [True]
    assert "/robot1/servo_node/switch answered" in call.output() and "switched" in call.output()

    bad = launcher.node("vjepa2", "call_service", params={**params, "request": "{command_type: 1}"})
    assert bad.proc.wait(60) == 2
    assert "the request has no field 'command_type'; its fields: data" in bad.output(), bad.output()[-2000:]
    assert "Traceback" not in bad.output() and requests == [True]
