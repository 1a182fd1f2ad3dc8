"""The hard rule: DDS discovery never leaves this host, in env.sh, in test fixtures and in node processes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from vjepa2_common.dds import ensure_localhost_discovery

ROOT = Path(__file__).resolve().parents[2]


def test_fixture_isolates_dds(ros_isolation: int) -> None:
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert os.environ["ROS_DOMAIN_ID"] == str(ros_isolation) and 1 <= ros_isolation <= 101
    assert Path(os.environ["ROS_LOG_DIR"]).is_dir()


def test_env_script_sets_localhost_discovery() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROS_AUTOMATIC_DISCOVERY_RANGE"}
    script = f"source {ROOT / 'env.sh'} >/dev/null 2>&1; echo $ROS_AUTOMATIC_DISCOVERY_RANGE"
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == "LOCALHOST"


def test_nodes_default_to_localhost_but_respect_an_explicit_choice() -> None:
    env: dict[str, str] = {}
    assert ensure_localhost_discovery(env) == "LOCALHOST"
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    assert ensure_localhost_discovery(env) == "SUBNET"
