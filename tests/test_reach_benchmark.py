"""benchmarks/reach.py end to end on 2 episodes: a tiny random encoder + AC predictor exported with
vjepa2_training's export_model, real MuJoCo, the planner's loop, model and safety layer."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vjepa2.testing import TINY_CROP, TINY_DIM, write_params
from vjepa2_core.models import ACPredictor, ACPredictorConfig, EncoderConfig, VisionEncoder
from vjepa2_training.eval.export import export_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import reach  # noqa: E402

CROP = TINY_CROP  # px: a 4 x 4 token grid keeps the test fast
LINE = re.compile(
    r"^(near|full) (cem|random|none): reach success: (\d+)/(\d+) \((\d+) %\) within 4 cm, "
    r"median final distance (\d+\.\d) cm, s/step (\d+\.\d\d)$"
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights at tiny sizes in the shipped layout (the predictor's grid fits the encoder at CROP px)."""
    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    encoder = VisionEncoder(EncoderConfig(embed_dim=TINY_DIM, depth=1, num_heads=2, img_size=CROP, name="vit_tiny"))
    grid = CROP // 16
    predictor = ACPredictor(
        ACPredictorConfig(enc_embed_dim=TINY_DIM, embed_dim=32, depth=1, num_heads=2, grid_h=grid, grid_w=grid)
    )
    export_model(out, "encoder", encoder, {"note": "random weights (test)"})
    export_model(out, "predictor", predictor, {"crop_size": CROP, "crop_aspect": 2.0})
    return out


def params_file(path: Path, crop_size: int = CROP) -> Path:
    """A parameter file with the planner's and the encoder node's sections, small CEM settings."""
    planner = {"autostart": True, "cem.samples": 12, "cem.iterations": 2, "cem.top_k": 4, "max_steps": 2}
    planner["energy_tolerance"] = 0.01  # random weights: never reached, so CEM runs its max_steps
    encoder = {"autostart": True, "crop_size": crop_size, "model.dtype": "float32"}
    return write_params(path, {"/**/vjepa2_planner": planner, "/**/vjepa2_encoder": encoder})


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = reach.main(list(argv))
    out, err = capsys.readouterr()
    return code, [line for line in out.splitlines() if not line.startswith("#")], err


def test_one_line_per_set_and_method_none_scores_the_start_and_seeds_reproduce(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = params_file(tmp_path / "sim.yaml")
    common = ["--episodes", "2", "--seed", "7", "--model", str(model_dir), "--params-file", str(params)]
    code, lines, err = run(capsys, *common, "--json", str(tmp_path / "a.json"), "--plot", str(tmp_path / "a.png"))
    assert code == 0, err
    assert "reach:" in err  # the progress bar
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [(m[1], m[2]) for m in matches] == [(s, m) for s in reach.SETS for m in reach.METHODS]
    assert all(m[4] == "2" for m in matches)
    doc = json.loads((tmp_path / "a.json").read_text())
    records = doc["episodes"]
    assert len(records) == 12 and (tmp_path / "a.png").stat().st_size > 0
    assert doc["settings"]["loop"]["cem"]["samples"] == 12 and doc["settings"]["loop"]["max_steps"] == 2
    for goal_set in reach.SETS:
        for episode in range(2):
            runs = [r for r in records if r["goal_set"] == goal_set and r["episode"] == episode]
            assert [r["method"] for r in runs] == list(reach.METHODS)
            assert len({(tuple(r["start"]), tuple(r["goal"]), r["start_distance"]) for r in runs}) == 1
            start, goal = np.array(runs[0]["start"]), np.array(runs[0]["goal"])
            distance = np.linalg.norm(goal - start)
            assert (0.10 <= distance <= 0.20) if goal_set == "near" else distance >= reach.FULL_MIN_DISTANCE
            cem, rand, none = runs
            assert none["steps"] == 0 and none["final_distance"] == pytest.approx(none["start_distance"], abs=1e-4)
            assert 1 <= cem["steps"] <= 2 and len(cem["step_s"]) == cem["steps"] == len(cem["energies"]) - 1
            assert rand["steps"] == 2 and np.linalg.norm(np.array(rand["final_position"]) - start) > 0.002
    # none reports the start distance
    none_line = next(m for m in matches if m[1] == "near" and m[2] == "none")
    starts = [r["start_distance"] for r in records if r["goal_set"] == "near" and r["method"] == "none"]
    assert float(none_line[6]) == pytest.approx(np.median(starts) * 100, abs=0.051)

    # the same seed gives the same pairs and the same CEM episodes, whatever else runs
    code, lines, err = run(capsys, *common, "--sets", "near", "--methods", "cem", "--json", str(tmp_path / "b.json"))
    assert code == 0, err
    assert len(lines) == 1 and lines[0].startswith("near cem: reach success: ")
    again = json.loads((tmp_path / "b.json").read_text())["episodes"]
    first = [r for r in records if r["goal_set"] == "near" and r["method"] == "cem"]
    keys = ("start", "goal", "final_position", "steps", "energies")
    assert [{k: r[k] for k in keys} for r in again] == [{k: r[k] for k in keys} for r in first]


def test_bad_inputs_give_one_message_and_exit_2(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = str(params_file(tmp_path / "sim.yaml"))
    base = ["--episodes", "1", "--params-file", params]
    cases = {
        "no such directory": ["--model", str(tmp_path / "nowhere")],
        "unknown parameter 'cem.sample' (did you mean 'cem.samples'?)": [
            "--model",
            str(model_dir),
            "--set",
            "cem.sample=3",
        ],
        "cem.iterations: 0 is outside": ["--model", str(model_dir), "--set", "cem.iterations=0"],
        "use --model": ["--model", str(model_dir), "--set", "predictor.checkpoint=x.pt"],
        "--methods": ["--model", str(model_dir), "--methods", "cem,greedy"],
    }
    for expected, argv in cases.items():
        code, lines, err = run(capsys, *base, *argv)
        assert code == 2 and not lines, (argv, lines)
        assert err.startswith("reach: ") and err.count("\n") == 1 and expected in err, (argv, err)
    # a parameter file that does not exist, and an encoder crop whose grid the predictor does not take
    code, _, err = run(capsys, "--model", str(model_dir), "--params-file", str(tmp_path / "missing.yaml"))
    assert code == 2 and "no such file" in err and err.count("\n") == 1
    wrong = str(params_file(tmp_path / "wrong.yaml", crop_size=208))
    code, _, err = run(capsys, "--model", str(model_dir), "--params-file", wrong)
    assert code == 2 and "token grid [1, 13, 13]" in err and err.count("\n") == 1, err
    misspelt = write_params(tmp_path / "misspelt.yaml", {"/**/vjepa2_encoder": {"model.dtpye": "bfloat16"}})
    code, _, err = run(capsys, "--model", str(model_dir), "--params-file", str(misspelt))
    assert code == 2 and "[vjepa2_encoder]: unknown parameter 'model.dtpye'" in err and err.count("\n") == 1, err


def test_without_the_default_parameter_file_the_schema_defaults_are_used(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reach, "DEFAULT_PARAMS", tmp_path / "sim.yaml")  # not there
    code, lines, err = run(capsys, "--episodes", "1", "--sets", "full", "--methods", "none", "--model", str(model_dir))
    assert code == 0, err
    assert "does not exist: using the planner schema defaults" in err
    assert len(lines) == 1 and LINE.match(lines[0]) and lines[0].startswith("full none: reach success: 0/1 (0 %)")
