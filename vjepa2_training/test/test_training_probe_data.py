"""Probe labels and clip sampling without a simulator: intervals files, video folders, the official sampling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vjepa2_core.models import AttentiveClassifier, ClassifierConfig
from vjepa2_training.data.dataset_writer import DatasetWriter, FrameEncoding, SourceOutput
from vjepa2_training.data.episodes import EpisodeStore
from vjepa2_training.data.sync import Segment
from vjepa2_training.train.probe import (
    ClipFeatures,
    CosineSchedule,
    classification_report,
    evaluate_probe,
)
from vjepa2_training.train.probe import (
    main as probe_main,
)
from vjepa2_training.train.probe_data import (
    FrameSource,
    LabelError,
    clip_indices,
    read_intervals,
    scan_video_folder,
    spatial_views,
    split_videos,
)


def test_clip_indices_follow_the_official_segments() -> None:
    assert clip_indices(32, 4, 2, 2) == [[0, 2, 4, 6], [16, 18, 20, 22]]
    assert clip_indices(32, 4, 2, 2, positions=2) == [[0, 2, 4, 6], [9, 11, 13, 15], [16, 18, 20, 22], [25, 27, 29, 31]]
    assert clip_indices(5, 4, 2, 1) == [[0, 2, 4, 4]]  # too short: the last frame repeats


def test_spatial_views_spread_along_the_long_side() -> None:
    frames = np.arange(2 * 4 * 8 * 3, dtype=np.uint8).reshape(2, 4, 8, 3)
    views = spatial_views(frames, 3)
    assert [v.shape for v in views] == [(2, 4, 4, 3)] * 3
    np.testing.assert_array_equal(views[0], frames[:, :, 0:4])
    np.testing.assert_array_equal(views[2], frames[:, :, 4:8])
    assert spatial_views(frames, 1)[0] is frames


@pytest.fixture
def episodes(tmp_path: Path) -> Path:
    writer = DatasetWriter(tmp_path / "episodes", 10.0, FrameEncoding(codec="png"))
    for e in range(2):
        frames = [writer.encoding.encode(np.full((16, 16, 3), 10 * i + e, np.uint8)) for i in range(12)]
        states = np.zeros((12, 7))
        segment = Segment(np.arange(12), states, np.arange(12, dtype=np.int64) * 100_000_000)
        writer.commit_source(f"k{e}", f"ep{e}", [], SourceOutput([(segment, frames)], frame_shape=(16, 16)), None)
    return tmp_path / "episodes"


def test_intervals_csv_and_yaml(episodes: Path, tmp_path: Path) -> None:
    store = EpisodeStore(episodes)
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("episode,start,end,label,split\nep0,0,6,a,\nep0,6,-1,b,val\nep1,2,8,a,train\n")
    videos = read_intervals(csv_file, store)
    assert [(v.source, v.start, v.end, v.label, v.split) for v in videos] == [
        ("ep0", 0, 6, "a", None),
        ("ep0", 6, 12, "b", "val"),
        ("ep1", 2, 8, "a", "train"),
    ]
    np.testing.assert_array_equal(FrameSource(store).frames(videos[2])[:, 0, 0, 0], [21, 31, 41, 51, 61, 71])
    yaml_file = tmp_path / "labels.yaml"
    yaml_file.write_text("intervals:\n  - {episode: ep1, start: 0, end: 4, label: c}\n")
    assert read_intervals(yaml_file, store)[0].label == "c"
    for text, message in [
        ("episode,start,end,label\nep9,0,4,a\n", "episode 'ep9' is not in the datasets"),
        ("episode,start,end,label\nep0,4,40,a\n", r"frames \[4, 40\) are not inside episode 'ep0'"),
        ("episode,start,label\nep0,4,a\n", "the CSV header must name episode, start, end, label"),
        ("episode,start,end,label\nep0,x,4,a\n", "start and end must be frame indices"),
    ]:
        csv_file.write_text(text)
        with pytest.raises(LabelError, match=message):
            read_intervals(csv_file, store)
    with pytest.raises(LabelError, match=r"missing\.csv: no such file"):
        read_intervals(tmp_path / "missing.csv", store)


def test_split_is_stratified_and_explicit_splits_win(episodes: Path, tmp_path: Path) -> None:
    store = EpisodeStore(episodes)
    rows = "".join(f"ep0,{i},{i + 1},{'ab'[i % 2]},\n" for i in range(10))
    (tmp_path / "l.csv").write_text("episode,start,end,label,split\n" + rows + "ep1,0,1,a,val\n")
    train, val = split_videos(read_intervals(tmp_path / "l.csv", store), 0.2, 0)
    assert sorted(v.label for v in val) == ["a", "a", "b"] and len(train) == 8
    with pytest.raises(LabelError, match="need labelled clips for both training and validation"):
        split_videos(read_intervals(tmp_path / "l.csv", store)[:1], 0.2, 0)


def test_video_folder_is_decoded_with_opencv(tmp_path: Path) -> None:
    for split, label, value in [("train", "open", 40), ("train", "close", 200), ("val", "open", 50)]:
        folder = tmp_path / "videos" / split / label
        folder.mkdir(parents=True)
        writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
        for _ in range(7):
            writer.write(np.full((24, 32, 3), value, np.uint8))
        writer.release()
    (tmp_path / "videos" / "train" / "open" / "notes.txt").write_text("not a video")
    videos = scan_video_folder(tmp_path / "videos")
    assert sorted((v.label, v.split, v.num_frames) for v in videos) == [
        ("close", "train", 7),
        ("open", "train", 7),
        ("open", "val", 7),
    ]
    frames = FrameSource().frames(next(v for v in videos if v.split == "val"))
    assert frames.shape == (7, 24, 32, 3) and abs(int(frames.mean()) - 50) <= 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelError, match="no video files"):
        scan_video_folder(tmp_path / "empty")


def test_evaluation_averages_clips_and_reports() -> None:
    torch.manual_seed(0)
    probe = AttentiveClassifier(ClassifierConfig(embed_dim=8, num_classes=3, num_heads=2, depth=1))
    features = ClipFeatures(torch.randn(6, 4, 8), torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 0, 1, 1, 2, 2]))
    probs = evaluate_probe(probe, features, 3)
    with torch.no_grad():
        per_clip = probe(features.tokens).softmax(-1)
    torch.testing.assert_close(probs[1], per_clip[2:4].mean(0))
    report = classification_report(torch.eye(3)[[0, 2, 2]], torch.tensor([0, 1, 2]), ["a", "b", "c"])
    assert report["top1"] == pytest.approx(2 / 3) and report["top3"] == 1.0
    assert report["per_class"] == {"a": 1.0, "b": 0.0, "c": 1.0}
    assert report["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    schedule = CosineSchedule(10, 2, 0.0, 1.0, 0.0)
    assert [schedule(0), schedule(1), schedule(2)] == [0.0, 0.5, 1.0] and schedule(9) < 0.05


def test_cli_reports_a_bad_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "probe.yaml"
    config.write_text(
        f"data: {{video_dir: {tmp_path / 'none'}}}\nencoder: {{checkpoint: x}}\nrun: {{run_dir: {tmp_path}}}\n"
    )
    assert probe_main(["--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vjepa2-train-probe: error: video folder") and "does not exist" in err[-1]
    config.write_text(
        f"data: {{video_dir: v, labels: l.csv}}\nencoder: {{checkpoint: x}}\nrun: {{run_dir: {tmp_path}}}\n"
    )
    assert probe_main(["--config", str(config)]) == 2
    assert "give exactly one of data.labels" in capsys.readouterr().err
