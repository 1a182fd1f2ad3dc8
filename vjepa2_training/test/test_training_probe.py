"""Attentive probes end to end: MuJoCo Franka episodes labelled by the end-effector's dominant motion direction
-> a short pretraining run -> ``vjepa2-train-probe`` -> accuracy on held-out intervals -> the exported probe in
the real encoder node over DDS, fed a replayed held-out clip."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from vjepa2_core.checkpoint import load_classifier
from vjepa2_core.inference import FrameEncoder
from vjepa2_training.data.dataset_writer import DatasetWriter, FrameEncoding, SourceOutput
from vjepa2_training.data.episodes import EpisodeStore
from vjepa2_training.data.sync import Segment
from vjepa2_training.train.pretrain import main as pretrain_main
from vjepa2_training.train.probe import CONFUSION_PNG, EVAL_FILE
from vjepa2_training.train.probe import main as probe_main
from vjepa2_training.train.probe_data import clip_indices, read_intervals, split_videos

sim_module = pytest.importorskip("vjepa2_sim.sim", reason="vjepa2_sim (MuJoCo Franka) is not installed")
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
SIZE = 96
FPS = 10.0
DIRECTIONS = ["+x", "-x", "+y", "-y", "+z", "-z"]
EPISODES = 48
MOVES_PER_EPISODE = 6
FRAMES_PER_MOVE = 8
MOVE_M = 0.12
PRETRAIN_STEPS = 10


def dominant_direction(states: np.ndarray) -> str:
    """'+x' ... '-z': the axis and sign of the largest end-effector displacement over ``states``."""
    delta = states[-1, :3] - states[0, :3]
    axis = int(np.argmax(np.abs(delta)))
    return f"{'+' if delta[axis] > 0 else '-'}{'xyz'[axis]}"


def record_motion_episodes(root: Path) -> tuple[Path, Path]:
    """Episodes of back-to-back straight moves (each direction equally often), written with the episode writer,
    and an intervals CSV labelling each move by the direction the end effector actually took."""
    sim = sim_module.FrankaSim(seed=0, image_size=(SIZE, SIZE), render_geometry="collision", randomize=False)
    writer = DatasetWriter(root / "episodes", FPS, FrameEncoding(codec="png"))
    rng = np.random.default_rng(0)
    steps_per_frame = round(1.0 / FPS / 0.002)  # physics steps of 2 ms
    rows = []
    try:
        for e in range(EPISODES):
            sim.reset(seed=e)
            frames, states = [], []
            plan = rng.permutation(6)[:MOVES_PER_EPISODE]
            for d in plan:
                sign = 1.0 if d % 2 == 0 else -1.0
                delta = np.zeros(3)
                delta[d // 2] = sign * MOVE_M
                first = len(frames)
                sim.apply_delta(delta, blocking=False)
                for _ in range(FRAMES_PER_MOVE):
                    sim.step(steps_per_frame)
                    frames.append(writer.encoding.encode(sim.render()))
                    states.append(sim.state7())
                label = dominant_direction(np.asarray(states[first:]))
                rows.append({"episode": f"ep{e:02d}", "start": first, "end": first + FRAMES_PER_MOVE, "label": label})
            states_arr = np.asarray(states)
            stamps = (np.arange(len(frames)) * 1e9 / FPS).astype(np.int64)
            segment = Segment(np.arange(len(frames)), states_arr, stamps)
            output = SourceOutput(segments=[(segment, frames)], frame_shape=(SIZE, SIZE))
            writer.commit_source(f"sim:{e}", f"ep{e:02d}", [], output, None)
    finally:
        sim.close()
    labels = root / "intervals.csv"
    with labels.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=["episode", "start", "end", "label"])
        out.writeheader()
        out.writerows(rows)
    return root / "episodes", labels


@pytest.fixture(scope="module")
def trained_probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("probe")
    timings = {}
    started = time.monotonic()
    episodes, labels = record_motion_episodes(root)
    timings["record_s"] = time.monotonic() - started

    started = time.monotonic()
    pre_dir = root / "pretrain"
    common = ["--set", f"data.roots=[{episodes}]", "--set", "run.tensorboard=false", "--set", "run.threads=1"]
    pre_args = ["--config", str(CONFIG_DIR / "pretrain_tiny.yaml"), *common, "--set", f"run.run_dir={pre_dir}"]
    pre_args += ["--set", f"run.total_steps={PRETRAIN_STEPS}", "--set", f"run.checkpoint_every={PRETRAIN_STEPS}"]
    pre_args += ["--set", "run.eval_every=0", "--set", f"data.crop_size={SIZE}"]
    assert pretrain_main(pre_args) == 0
    timings["pretrain_s"] = time.monotonic() - started

    started = time.monotonic()
    run_dir = root / "probe_run"
    args = ["--config", str(CONFIG_DIR / "probe_tiny.yaml"), "--set", f"data.roots=[{episodes}]"]
    args += ["--set", f"data.labels={labels}", "--set", f"encoder.checkpoint={pre_dir}"]
    args += ["--set", f"run.run_dir={run_dir}", "--set", "run.tensorboard=false", "--set", "run.threads=1"]
    args += ["--set", f"data.crop_size={SIZE}"]  # one torch thread: two thrash on a busy 2-core machine
    assert probe_main(args) == 0
    timings["probe_s"] = time.monotonic() - started
    return {
        "root": root,
        "episodes": episodes,
        "labels": labels,
        "pretrain": pre_dir,
        "run": run_dir,
        "args": args,
        "timings": timings,
    }


def test_probe_on_sim_motion_directions_beats_90_percent(trained_probe: dict[str, Any]) -> None:
    run = trained_probe["run"]
    report = json.loads((run / EVAL_FILE).read_text())
    print(
        f"probe validation: {report['top1']:.3f} top-1 over {report['num_videos']} videos; {trained_probe['timings']}"
    )
    assert report["classes"] == sorted(DIRECTIONS)
    assert report["num_videos"] >= 18 and sum(map(sum, report["confusion"])) == report["num_videos"]
    assert report["top1"] >= 0.9, f"validation top-1 {report['top1']:.3f} < 0.9 (chance 0.17): {report}"
    assert report["top5"] >= report["top1"]
    assert (run / CONFUSION_PNG).stat().st_size > 1000
    probe = load_classifier(run / "export" / "probe.safetensors")
    assert probe.cfg.num_classes == 6
    meta = json.loads((run / "export" / "probe.json").read_text())["metadata"]
    assert meta["labels"] == sorted(DIRECTIONS)
    # a finished run re-run resumes at its last step: nothing to train, the same export; with the feature cache
    # on, the features are written once and read back (fp32: exactly the tokens trained on)
    before = (run / "export" / "probe.safetensors").read_bytes()
    cache = ["--set", "feature_cache.enabled=true", "--set", "feature_cache.dtype=fp32"]
    assert probe_main([*trained_probe["args"], *cache]) == 0
    assert (run / "export" / "probe.safetensors").read_bytes() == before
    assert len(list((run / "feature_cache").glob("probe-*.safetensors"))) == 1
    assert json.loads((run / EVAL_FILE).read_text())["top1"] == report["top1"]


def test_exported_probe_in_the_encoder_node_labels_a_replayed_clip(
    trained_probe: dict[str, Any], ros: Any, launcher: Any
) -> None:
    """The node loads the exported encoder + probe (labels from the probe itself) and publishes, for a held-out
    interval replayed as a camera stream, the label the probe gives offline, which is the true label."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from vjepa2_common.image import rgb_to_image
    from vjepa2_msgs.msg import Classification

    probe_file = trained_probe["run"] / "export" / "probe.safetensors"
    encoder_file = trained_probe["pretrain"] / "export" / "encoder.safetensors"
    store = EpisodeStore(trained_probe["episodes"])
    videos = read_intervals(trained_probe["labels"], store)
    _, val = split_videos(videos, 0.2, 0)  # the probe config's split
    ids = {entry["id"]: i for i, entry in enumerate(store.entries)}
    frame_encoder = FrameEncoder.from_pretrained(encoder_file, transform="video", size=SIZE)
    probe = load_classifier(probe_file).eval()
    labels = sorted(DIRECTIONS)
    chosen = None
    for video in val:  # a held-out interval the probe gets right offline (>= 90 % of them)
        frames = store.load(ids[video.source]).frames(range(video.start, video.end))
        clip = frames[clip_indices(len(frames), 4, 2, 1)[0]]
        with torch.inference_mode():
            predicted = labels[int(probe(frame_encoder.encode_clip(clip)).argmax(-1))]
        if predicted == video.label:
            chosen = (video, frames)
            break
    assert chosen is not None
    video, frames = chosen

    classes = ros.collect(Classification, "/classification")
    node = launcher.node(
        "vjepa2_perception",
        "encoder_node",
        params={
            "model.checkpoint": str(encoder_file),
            "probe.checkpoint": str(probe_file),
            "mode": "clip",
            "clip.num_frames": 4,
            "clip.fps": FPS / 2,  # every 2nd frame of the replay: the probe's frame_step
            "crop_size": SIZE,
            "qos": "reliable",
            "qos_depth": 20,
            "autostart": True,
        },
    )
    qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    camera = ros.publisher(Image, "/image", qos, subscribers=1)
    node.wait_for_output("active: encoding", 60.0)
    for i, rgb in enumerate(frames):  # stamps 1/FPS apart: frames 0, 2, 4, 6 are sampled
        msg = rgb_to_image(rgb)
        msg.header.stamp.sec, msg.header.stamp.nanosec = 100 + i // 10, (i % 10) * 100_000_000
        camera.publish(msg)
    result = classes.wait_for(1, 60.0)[0]
    assert result.labels[0] == video.label, (result.labels, video)
    assert list(result.labels) == [labels[i] for i in result.class_ids]
    assert result.model_id.endswith("+probe.safetensors")
    assert node.alive()
