"""vjepa2-collect-sim: real MuJoCo play episodes through the converter's writer, seeded and resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vjepa2_training.data.episodes import EpisodeStore
from vjepa2_training.data.sim_collect import PlaySettings, main, next_delta


def test_next_delta_stays_in_box_and_bounds() -> None:
    settings = PlaySettings()
    lo, hi = np.asarray(settings.box_min), np.asarray(settings.box_max)
    rng = np.random.default_rng(0)
    for _ in range(200):
        position = rng.uniform(lo, hi)
        target = rng.uniform(lo, hi) if rng.uniform() < 0.5 else None
        delta = next_delta(rng, position, target, settings)
        assert np.all(np.abs(delta) <= settings.max_delta + 1e-12)
        assert np.all(position + delta >= lo - 1e-12) and np.all(position + delta <= hi + 1e-12)


def test_collect_writes_seeded_episodes_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "play"
    args = ["-o", str(out), "--episodes", "2", "--steps", "3", "--workers", "2", "--image-size", "64"]
    assert main([*args, "--reach-prob", "0.5"]) == 0
    store = EpisodeStore([out])
    assert len(store) == 2
    episode = store.load(0)
    assert episode.num_frames == 4 and episode.frames().shape == (4, 64, 128, 3)  # two views side by side
    lo, hi = np.asarray(PlaySettings().box_min), np.asarray(PlaySettings().box_max)
    assert np.all(episode.states[:, :3] >= lo - 2e-3) and np.all(episode.states[:, :3] <= hi + 2e-3)
    moved = np.linalg.norm(episode.actions[:, :3], axis=1)
    assert np.all(moved > 1e-3) and np.all(np.abs(episode.actions[:, :3]) <= 0.05 + 2e-3)
    first = {e: (out / "episodes" / f"{e}.npz").stat().st_mtime_ns for e in ("sim_play_0000000", "sim_play_0000001")}

    # same settings: nothing is redone; one more episode is added
    assert main([*args, "--reach-prob", "0.5", "--episodes", "3", "--workers", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["skipped"] == 2 and report["summary"]["written"] == 1
    assert {e: (out / "episodes" / f"{e}.npz").stat().st_mtime_ns for e in first} == first
    assert len(EpisodeStore([out])) == 3

    # changed settings: the episodes are regenerated (their fingerprint differs)
    assert main([*args, "--reach-prob", "0.0", "--episodes", "1", "--workers", "1"]) == 0
    assert json.loads((out / "report.json").read_text())["summary"]["written"] == 1


def test_bad_settings_get_one_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["-o", str(tmp_path / "x"), "--max-delta", "0.2"]) == 2
    assert "max_delta must be in (0, 0.075] m" in capsys.readouterr().err
