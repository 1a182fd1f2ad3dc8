"""docker/ stays in step with `make setup` (no Docker daemon here: the images are never built on these machines).

Checked: the Dockerfile builds the workspace with scripts/setup.sh from the copied repository (so with
requirements.txt) and installs no Python package of its own; every build argument is documented with its
default; the compose file parses and names an existing Dockerfile, build arguments, graph, launch file and
paths; the entry point and the ``ros2`` wrapper exist, are executable, and (run here, the wrapper against a
stand-in /opt/ros) give a command the workspace's environment and the nodes of ``ros2 launch`` the workspace's
libraries and ament index, not /opt/ros's.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vjepa2.graphs import GRAPHS
from vjepa2.launch_ros_adapter import NODE_ENVIRONMENT, node_environment

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
#: graphs the parallel branches of the bringup work add (already named by docker/ and docs/); until they are
#: merged a check that needs one is an expected failure. Delete this set once GRAPHS has them all.
LANDING_GRAPHS = {"sim", "replay", "record", "franka", "franky"}


def require_graph(name: str) -> None:
    if name not in GRAPHS:
        if name in LANDING_GRAPHS:
            pytest.xfail(f"graph '{name}' lands with the bringup branches")
        pytest.fail(f"no graph '{name}'; known: {', '.join(sorted(GRAPHS))}")


def dockerfile() -> str:
    """The Dockerfile with comments dropped and continuation lines joined."""
    lines = [line for line in (DOCKER / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    return re.sub(r"\\\n", " ", "\n".join(lines))


def instructions(name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", dockerfile(), re.M)]


def build_args() -> dict[str, str | None]:
    """ARG name -> default (None when the ARG only re-declares one from before FROM)."""
    found: dict[str, str | None] = {}
    for text in instructions("ARG"):
        name, _, default = text.partition("=")
        found[name] = default or found.get(name)
    return found


def in_image(path: str) -> Path:
    """The repository file that an absolute path under the image's /vjepa2 (COPY . . in WORKDIR) is."""
    assert instructions("WORKDIR") == ["/vjepa2"] and ". ." in instructions("COPY")
    assert path.startswith("/vjepa2/"), path
    return ROOT / path.removeprefix("/vjepa2/")


def test_the_image_is_built_by_make_setups_script_from_the_copied_repository() -> None:
    runs = instructions("RUN")
    setup = [r for r in runs if "./scripts/setup.sh" in r]
    assert len(setup) == 1, "exactly one RUN runs scripts/setup.sh (what `make setup` runs)"
    assert re.search(r"^setup:.*\n\t@\./scripts/setup\.sh$", (ROOT / "Makefile").read_text(), re.M)
    # the whole repository (requirements.txt, scripts/, every package) is in the image before setup.sh runs
    copy_at = dockerfile().index("COPY . .")
    assert copy_at < dockerfile().index("./scripts/setup.sh")
    assert (ROOT / "scripts" / "setup.sh").stat().st_mode & 0o111
    assert "requirements.txt" in (ROOT / "scripts" / "setup.sh").read_text()
    # no second dependency list: the image installs no Python package itself (apt only adds ROS CLI/EGL/compilers)
    for run in runs:
        assert not re.search(r"\bpip3?\b.*\binstall\b", run), f"a pip install outside setup.sh: {run}"
        for package in re.findall(r"\bpython3-[\w.-]+", run):
            assert package in ("python3-venv", "python3-dev"), f"an apt Python package: {package}"
    assert re.search(r"^torch==\d+\.\d+\.\d+$", (ROOT / "requirements.txt").read_text(), re.M)


def test_dockerignore_keeps_host_build_state_out_of_the_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    # a copied .venv (host interpreter paths) or stamp would make setup.sh skip or break steps in the image
    assert {".venv", ".stamps", "build", "install", "log"} <= ignored


def test_default_command_entrypoint_and_ros2_wrapper_exist() -> None:
    assert instructions("CMD") == ['["ros2", "launch", "vjepa2", "plan.launch.py"]']
    assert (ROOT / "vjepa2" / "launch" / "plan.launch.py").is_file()
    assert "plan" in GRAPHS
    (entrypoint,) = (json.loads(e) for e in instructions("ENTRYPOINT"))
    assert len(entrypoint) == 1 and os.access(in_image(entrypoint[0]), os.X_OK)
    links = re.findall(r"ln -s (\S+) /usr/local/bin/ros2", dockerfile())
    assert len(links) == 1 and os.access(in_image(links[0]), os.X_OK)


def test_every_build_argument_is_documented_with_its_default_and_values() -> None:
    docs = (DOCKER / "README.md").read_text()
    args = build_args()
    assert {"ROS_DISTRO", "TORCH_VARIANT", "TORCH_INDEX_URL"} <= set(args)
    for name, default in args.items():
        row = next((line for line in docs.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"docker/README.md has no row for build argument {name}"
        assert row.split("|")[2].strip() == f"`{default}`", f"{name}: README default differs from {default!r}"
        assert len(row.split("|")) >= 6 and row.split("|")[3].strip(), f"{name}: no documented values"
    # the variants the README names pass the Dockerfile's check; a bad one is refused
    patterns = re.search(r'case "\$TORCH_VARIANT" in (.*?) esac', dockerfile()).group(1)
    accepted = [p.strip() for p in re.findall(r"([\w\[\]*-]+)\)", patterns) if p.strip() != "*"]
    values_cell = next(line for line in docs.splitlines() if line.startswith("| `TORCH_VARIANT` |")).split("|")[3]
    for variant in re.findall(r"`(\w+)`", values_cell):
        assert any(fnmatch.fnmatchcase(variant, p) for p in accepted), variant
    assert not any(fnmatch.fnmatchcase("cuda", p) for p in accepted)


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with every variable unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_compose_file_names_what_exists() -> None:
    services = compose()["services"]
    assert "sim" in services
    args = build_args()
    for name, service in services.items():
        base = services[service["extends"]["service"]] if "extends" in service else {}
        merged = {**base, **service}
        build = merged["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile", name
        assert set(build.get("args", {})) <= set(args), f"{name}: unknown build argument"
        variant = build.get("args", {}).get("TORCH_VARIANT", args["TORCH_VARIANT"])
        assert merged["image"].endswith(f":{variant}"), f"{name}: the tag should name the torch variant"
        env = merged["environment"]
        assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
        if merged.get("network_mode") == "host":
            assert merged.get("ipc") == "host", f"{name}: Fast DDS shared memory needs the host's /dev/shm"
        for volume in merged["volumes"]:
            host, target = interpolate(volume).split(":")[:2]
            assert target.startswith("/"), volume
            if not host.startswith("/"):
                resolved = (DOCKER / host).resolve()
                assert resolved.is_relative_to(ROOT), f"{name}: {volume} leaves the repository"
                assert resolved.exists() or resolved.name + "/" in ROOT.joinpath(".gitignore").read_text()
        command = shlex.split(interpolate(merged["command"]))
        assert command[0] == "vjepa2-launch", command
        require_graph(command[1])
        assert (ROOT / "vjepa2" / "launch" / f"{command[1]}.launch.py").is_file()
    gpu = services["sim-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and gpu["profiles"] == ["gpu"]


def run_bash(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VJEPA2_", "AMENT_", "COLCON_"))}
    clean.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
    return subprocess.run(args, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_entrypoint_sets_up_the_workspace_and_keeps_a_chosen_discovery_range() -> None:
    script = str(DOCKER / "entrypoint.sh")
    printenv = ["bash", "-c", 'echo "$ROS_AUTOMATIC_DISCOVERY_RANGE|$VIRTUAL_ENV|$AMENT_PREFIX_PATH"; exit 7']
    default = run_bash([script, *printenv], {})
    assert default.returncode == 7, default.stderr  # the command's exit code comes through
    range_, venv, ament = default.stdout.strip().split("|")
    assert range_ == "LOCALHOST" and venv == str(ROOT / ".venv") and str(ROOT / "install") in ament
    chosen = run_bash([script, *printenv], {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"})
    assert chosen.stdout.startswith("SUBNET|")


def test_ros2_wrapper_gives_nodes_the_workspace_environment(tmp_path: Path) -> None:
    """docker/ros2 against a stand-in /opt/ros (the real one is apt's, absent here): the launch process gets
    /opt/ros overlaid by the workspace; the VJEPA2_NODE_* values it records (what the launch adapter gives
    each node) have no /opt/ros entry."""
    prefix = tmp_path / "opt_ros"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "setup.bash").write_text(
        f"export AMENT_PREFIX_PATH={prefix}:$AMENT_PREFIX_PATH\n"
        f"export LD_LIBRARY_PATH={prefix}/lib:$LD_LIBRARY_PATH\n"
        f"export PYTHONPATH={prefix}/lib/python3/site-packages:$PYTHONPATH\n"
        "export ROS_AUTOMATIC_DISCOVERY_RANGE=SYSTEM_DEFAULT\n"  # whatever /opt/ros does, the range is kept
    )
    out = tmp_path / "env.json"
    fake_ros2 = prefix / "bin" / "ros2"
    fake_ros2.write_text(
        f'#!/usr/bin/env bash\nexec {sys.executable} -c "import json, os, sys; '
        f"json.dump(dict(env=dict(os.environ), args=sys.argv[1:]), open('{out}', 'w'))\" \"$@\"\n"
    )
    fake_ros2.chmod(0o755)
    env = {"VJEPA2_ROS_PREFIX": str(prefix), "ROS_DISTRO": "jazzy", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    # as `docker exec` would run it (no entrypoint before it), then as the entrypoint runs the default command
    for runner in ([], [str(DOCKER / "entrypoint.sh")]):
        done = run_bash([*runner, str(DOCKER / "ros2"), "launch", "vjepa2", "plan.launch.py"], env)
        assert done.returncode == 0, done.stderr
        result = json.loads(out.read_text())
        launch_env = result["env"]
        assert result["args"] == ["launch", "vjepa2", "plan.launch.py"]
        assert launch_env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
        ament = launch_env["AMENT_PREFIX_PATH"].split(":")
        # apt's rclpy (the launch process) finds apt's rmw first; the workspace's packages are on the index too
        assert ament.index(str(prefix)) < ament.index(str(ROOT / ".venv")) and str(ROOT / "install" / "vjepa2") in ament
        assert f"{prefix}/lib" in launch_env["LD_LIBRARY_PATH"].split(":")
        nodes = node_environment(launch_env)
        assert nodes is not None and set(nodes) == set(NODE_ENVIRONMENT)
        for name, value in nodes.items():
            assert str(prefix) not in value, f"a node would get /opt/ros in {name}: {value}"
        assert str(ROOT / ".venv") in nodes["AMENT_PREFIX_PATH"].split(":")
        assert str(ROOT / "vjepa2_core") in nodes["PYTHONPATH"].split(":")
    assert node_environment({}) is None
