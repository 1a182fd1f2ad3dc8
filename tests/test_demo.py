"""make demo end to end with tiny random models: the closed-loop graph (sim + encoder + planner, config/sim.yaml)
started by the runner, a goal image rendered by the sim and sent as one PlanToGoal goal, the planner's steps
executed, and the outputs written (contact sheet, MP4 of the camera, JSON).

The models are random-init and tiny (exported into tmp_path with vjepa2_training's export, the shipped model's
grid: 13 x 13 tokens at crop 208); only the weights, the CEM size and the stop rule (off: random weights would
stop at once) differ from what `make demo` runs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vjepa2_core.models import ACPredictor, ACPredictorConfig, EncoderConfig, VisionEncoder
from vjepa2_sim.scene import NEAR_GOAL_DISTANCE, REACH_BOX_MAX, REACH_BOX_MIN
from vjepa2_training.eval.export import export_model

CROP = 208  # vjepa2/config/sim.yaml: crop_size 208, grid_size 13
DIM = 32
DEMO_TIMEOUT_S = 540.0  # three node processes + the demo on a busy 2-core machine (~1 min when it is idle)


@pytest.fixture
def tiny_model(tmp_path: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    encoder = VisionEncoder(EncoderConfig(embed_dim=DIM, depth=1, num_heads=2, img_size=CROP, name="vit_tiny"))
    grid = CROP // 16
    predictor = ACPredictor(
        ACPredictorConfig(enc_embed_dim=DIM, embed_dim=32, depth=1, num_heads=2, grid_h=grid, grid_w=grid)
    )
    models = tmp_path / "models"
    return export_model(models, "encoder", encoder), export_model(models, "predictor", predictor)


@pytest.mark.slow
@pytest.mark.timeout(DEMO_TIMEOUT_S + 60)
def test_demo_closes_the_loop_and_writes_its_outputs(launcher, tmp_path: Path, tiny_model) -> None:
    encoder, predictor = tiny_model
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "vjepa2.demo", "--goals", "1", "--max-steps", "2", "--seed", "3"]
    cmd += ["--encoder", str(encoder), "--predictor", str(predictor), "--out", str(out)]
    # random weights: no stop rule (no candidate may beat "no motion" at step 0), a small CEM
    settings = ("cem.stop_rule=false", "cem.samples=16", "cem.iterations=2", "cem.top_k=4", "predictor.torch_threads=1")
    for setting in settings:
        cmd += ["--set", f"vjepa2_planner:{setting}"]
    demo = launcher.start([*cmd, "--set", "vjepa2_encoder:model.torch_threads=1"], label="demo")
    assert demo.proc.wait(DEMO_TIMEOUT_S) == 0, demo.output()[-4000:]
    text = demo.output()

    summary = json.loads((out / "demo.json").read_text())
    assert summary["weights"] == {"model.checkpoint": str(encoder), "predictor.checkpoint": str(predictor)}
    (goal,) = summary["goals"]
    start, target = np.array(goal["start_tcp"]), np.array(goal["goal_tcp"])
    assert np.all(target >= REACH_BOX_MIN) and np.all(target <= REACH_BOX_MAX)
    low, high = (100 * d for d in NEAR_GOAL_DISTANCE)
    assert goal["start_distance_cm"] == pytest.approx(100 * np.linalg.norm(target - start), abs=0.01)
    assert low - 0.01 <= goal["start_distance_cm"] <= high + 0.01
    assert goal["outcome"] == "MAX_STEPS", goal["message"]
    assert [s["step"] for s in goal["steps"]] == [1, 2]
    for step in goal["steps"]:  # each executed step: the planner's energy, the demo's own distance measurement
        assert np.isfinite(step["energy"]) and 0 <= step["distance_cm"] < 100
        assert len(step["action"]) == 7 and np.linalg.norm(step["action"][:3]) > 0
        assert re.search(
            rf"goal 1 step {step['step']}: .*energy {step['energy']:.4f}, TCP [\d.]+ cm from the goal", text
        )
        assert step["distance_cm"] == pytest.approx(100 * np.linalg.norm(np.array(step["tcp"]) - target), abs=0.01)
    assert goal["steps"][-1]["tcp"] == goal["end_tcp"]  # the last step is measured once the planner answered
    # the arm moved (measured; random weights need not move it towards the goal)
    assert np.linalg.norm(np.array(goal["end_tcp"]) - start) > 0.003

    assert (out / "contact_sheet.png").stat().st_size > 20_000
    import cv2

    video = cv2.VideoCapture(str(out / "demo.mp4"))
    assert video.isOpened()
    ok, frame = video.read()
    assert ok and frame.shape == (2 * CROP + 24, 2 * CROP, 3)  # the stereo frame over the goal image
    assert summary["video"]["frames_read"] >= 5
    assert "nodes.log" in text and (out / "nodes.log").stat().st_size > 0
    assert "all nodes stopped" in (out / "nodes.log").read_text()


def test_demo_without_the_model_says_how_to_get_it(launcher, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "encoder.safetensors"
    demo = launcher.start(
        [sys.executable, "-m", "vjepa2.demo", "--encoder", str(missing), "--out", str(tmp_path / "demo")], label="demo"
    )
    assert demo.proc.wait(120) == 1
    text = demo.output()
    assert f"model.checkpoint '{missing}' does not exist" in text and "make train-demo-model" in text
    assert "Traceback" not in text and "starting" not in text  # one message, nothing started
