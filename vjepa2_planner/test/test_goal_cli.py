"""``vjepa2-goal`` over loopback DDS: saving a real camera frame (image_publisher), and SetGoal / PlanToGoal
against the interface round-trip server (tests/echo_server.py, which serves both under the planner's names and
answers from the request). What the planner does with the goals is tested in test_planner_node.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vjepa2_common import names
from vjepa2_common.testing import ProcessLauncher, executable_path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 90  # generous: the shared 2-core machine can take tens of seconds to start a process


def goal_cli(*args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    cmd = [executable_path("vjepa2_planner", "vjepa2-goal"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60)


def write_png(path: Path, seed: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    rgb = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])
    return rgb


def test_save_writes_the_camera_frame(launcher: ProcessLauncher, tmp_path: Path) -> None:
    source = write_png(tmp_path / "view.png", seed=1)
    launcher.node(
        "vjepa2_common",
        "image_publisher",
        params={"source": str(tmp_path / "view.png"), "rate_hz": 10.0},
        remaps={"image": names.CAMERA_IMAGE_TOPIC},
    )
    out = tmp_path / "goal.png"
    done = goal_cli("save", str(out), "--timeout", str(TIMEOUT_S))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"saved {out} (64x48" in done.stdout
    saved = cv2.imread(str(out), cv2.IMREAD_COLOR)[:, :, ::-1]
    np.testing.assert_array_equal(saved, source)  # lossless, RGB order kept


def test_save_without_a_camera_names_the_topic(tmp_path: Path, ros_isolation: int) -> None:
    done = goal_cli("save", str(tmp_path / "goal.png"), "--topic", "/nothing/here", "--timeout", "2")
    assert done.returncode == 3
    assert "no image on /nothing/here within 2 s" in done.stderr
    assert not (tmp_path / "goal.png").exists()


@pytest.fixture
def planner_stand_in(launcher: ProcessLauncher) -> None:
    server = launcher.start(
        [sys.executable, str(ROOT / "tests" / "echo_server.py"), "--ros-args", "-r", f"__ns:=/{names.PLANNER_NODE}"],
        label="echo_server",
    )
    assert server.alive()


def test_set_and_plan_send_the_goal_images(planner_stand_in: None, tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", seed=2)
    write_png(tmp_path / "b.png", seed=3, shape=(32, 40))
    done = goal_cli("set", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--timeout", str(TIMEOUT_S))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{names.PLANNER_SET_GOAL_SERVICE}: ok, 2 goal(s) held; 64x48,40x32" in done.stdout
    cleared = goal_cli("set", "--clear", "--timeout", str(TIMEOUT_S))
    assert cleared.returncode == 0 and "0 goal(s) held" in cleared.stdout, cleared.stdout + cleared.stderr

    done = goal_cli("plan", str(tmp_path / "a.png"), "--max-steps", "3", "--tolerance", "0.5", "--timeout", "90")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    # one line per step (feedback and result travel apart: a step's line may miss the result, never follow it)
    steps = [line for line in lines if line.startswith("goal ")]
    expected = [
        f"goal 1 step {i}: energy {1 / (i + 1):.4f} (best 0.0000) dxyz [+0.000 +0.000 +0.000] m" for i in range(3)
    ]
    assert steps and steps == [e for e in expected if e in steps], steps
    assert lines[-1] == "result: REACHED after 3 step(s), final energy 0.3333; 1 goal image(s), tolerance 0.5"


def test_missing_planner_and_bad_files_are_one_clear_line(tmp_path: Path, ros_isolation: int) -> None:
    bad = goal_cli("save", str(tmp_path / "goal.bmp"))
    assert bad.returncode == 2 and "must end in .png" in bad.stderr
    missing = goal_cli("set", str(tmp_path / "none.png"), "--timeout", "2")
    assert missing.returncode == 2 and "goal image" in missing.stderr and "does not exist" in missing.stderr
    (tmp_path / "text.png").write_text("not an image")
    unreadable = goal_cli("plan", str(tmp_path / "text.png"), "--timeout", "2")
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr
    write_png(tmp_path / "a.png", seed=4)
    absent = goal_cli("plan", str(tmp_path / "a.png"), "--timeout", "2")
    assert absent.returncode == 3
    assert f"action {names.PLANNER_PLAN_ACTION} did not appear within 2 s" in absent.stderr
    nothing = goal_cli("set", "--timeout", "2")
    assert nothing.returncode == 2 and "give goal image file(s), or --clear" in nothing.stderr
