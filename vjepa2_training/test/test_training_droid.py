"""Raw DROID layout (trajectory.h5 + recordings/MP4/<serial>.mp4) -> the same episode format."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from vjepa2_core.conventions import states_to_actions
from vjepa2_training.droid import main as droid_main
from vjepa2_training.episodes import EpisodeStore, load_manifest

SERIAL = "23897859"


def write_droid_episode(root: Path, steps: int = 45, fps: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    """A tiny episode in the raw DROID layout; a bright column at x = 2 * step encodes the step index."""
    rng = np.random.default_rng(3)
    t = np.arange(steps)
    cartesian = np.stack(
        [0.5 + 0.002 * t, 0.05 * np.sin(0.1 * t), 0.2 + 0.001 * t, np.pi - 0.01 * t, 0.01 * t, -0.02 * t],
        axis=1,
    )
    gripper = np.clip(t / steps + rng.normal(0, 1e-3, steps), 0, 1)
    (root / "recordings" / "MP4").mkdir(parents=True)
    with h5py.File(root / "trajectory.h5", "w") as h5:
        h5["observation/robot_state/cartesian_position"] = cartesian
        h5["observation/robot_state/gripper_position"] = gripper
        h5["action/cartesian_position"] = cartesian  # present in real files; unused by the importer
    (root / "metadata_lab+uuid.json").write_text(json.dumps({"ext1_cam_serial": SERIAL, "ext2_cam_serial": "1"}))
    writer = cv2.VideoWriter(
        str(root / "recordings" / "MP4" / f"{SERIAL}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (96, 64)
    )
    assert writer.isOpened()
    for i in range(steps):
        frame = np.full((64, 96, 3), 40, dtype=np.uint8)
        frame[:, 2 * i : 2 * i + 2] = 255
        writer.write(frame)
    writer.release()
    return cartesian, gripper


def test_droid_episode_imports_with_aligned_states(tmp_path: Path) -> None:
    cartesian, gripper = write_droid_episode(tmp_path / "droid" / "ep0")
    out = tmp_path / "ds"
    assert droid_main([str(tmp_path / "droid"), "-o", str(out), "--fps", "4"]) == 0
    manifest = load_manifest(out)
    assert manifest["fps"] == 4.0 and len(manifest["episodes"]) == 1
    ep = EpisodeStore(out).load(0)
    step = np.round(ep.timestamps_ns / (1e9 / 15)).astype(int)  # trajectory step behind each frame
    assert ep.num_frames == 12 and step[0] == 0  # 45 steps at 15 Hz = 2.93 s -> 12 frames at 4 fps
    np.testing.assert_allclose(ep.states[:, :3], cartesian[step, :3], atol=1e-6)
    np.testing.assert_allclose(ep.states[:, 3:6], cartesian[step, 3:6], atol=1e-5)
    np.testing.assert_allclose(ep.states[:, 6], gripper[step], atol=1e-6)
    np.testing.assert_allclose(ep.actions, states_to_actions(ep.states.astype(np.float64)), atol=1e-6)
    columns = ep.frames().mean(axis=(1, 3))  # [T, W]
    np.testing.assert_array_equal(columns.argmax(axis=1) // 2, step)  # each state sits with its own frame

    # resume: a second run skips it; a missing camera is a clear per-episode failure, not a crash
    assert droid_main([str(tmp_path / "droid"), "-o", str(out)]) == 0
    assert "skipped" in json.loads((out / "report.json").read_text())["sources"][0]
    assert droid_main([str(tmp_path / "droid"), "-o", str(tmp_path / "ds2"), "--camera", "wrist_cam_serial"]) == 1
    error = json.loads((tmp_path / "ds2" / "report.json").read_text())["sources"][0]["error"]
    assert "wrist_cam_serial" in error and f"{SERIAL}.mp4" in error


def test_droid_bad_trajectory_is_reported(tmp_path: Path) -> None:
    write_droid_episode(tmp_path / "droid" / "good")
    bad = tmp_path / "droid" / "bad"
    write_droid_episode(bad)
    with h5py.File(bad / "trajectory.h5", "w") as h5:
        h5["observation/robot_state/joint_positions"] = np.zeros((45, 7))
    out = tmp_path / "ds"
    assert droid_main([str(tmp_path / "droid"), "-o", str(out)]) == 1
    sources = {Path(s["source"]).name: s for s in json.loads((out / "report.json").read_text())["sources"]}
    assert sources["good"]["status"] == "ok"
    assert sources["bad"]["status"] == "failed" and "cartesian_position" in sources["bad"]["error"]
    with pytest.raises(SystemExit):
        droid_main([str(tmp_path / "nothing"), "-o", str(out)])


def test_droid_config_must_be_a_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "droid.yaml"
    config.write_text("- camera: auto\n")
    with pytest.raises(SystemExit) as exit_info:
        droid_main([str(tmp_path), "--config", str(config), "-o", str(tmp_path / "ds"), "--fps", "4"])
    assert exit_info.value.code == 2
    assert f"{config}: the top level must be a mapping" in capsys.readouterr().err
