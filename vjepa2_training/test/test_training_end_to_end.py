"""End to end on CPU: MuJoCo Franka -> rosbag2 -> episodes -> 20 pretraining steps -> 20 AC steps -> plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vjepa2_core.checkpoint import load_ac_predictor, load_encoder
from vjepa2_training.data.bags_to_episodes import main as convert_main
from vjepa2_training.data.episodes import EpisodeStore
from vjepa2_training.data.synthetic import SimExplorer, write_robot_bag
from vjepa2_training.eval.energy_landscape import main as energy_main
from vjepa2_training.eval.export import export_metadata
from vjepa2_training.eval.export import main as export_main
from vjepa2_training.eval.plot_losses import main as plot_main
from vjepa2_training.train.pretrain import main as pretrain_main
from vjepa2_training.train.run_logging import read_metric_pairs
from vjepa2_training.train.train_ac import main as train_ac_main

sim_module = pytest.importorskip("vjepa2_sim.sim", reason="vjepa2_sim (MuJoCo Franka) is not installed")
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def _check_losses(run_dir: Path, steps: int) -> tuple[float, float]:
    got_steps, losses = read_metric_pairs(run_dir / "metrics.csv", "loss")
    assert got_steps == list(range(1, steps + 1))
    assert all(math.isfinite(v) for v in losses)
    fixed_steps, fixed = read_metric_pairs(run_dir / "metrics.csv", "fixed_loss")
    assert fixed_steps == [0, steps]
    return fixed[0], fixed[-1]


def test_sim_to_trained_models(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # 1. record: two 6-s random-exploration episodes of the simulated Franka, one mcap, one sqlite3 bag
    sim = sim_module.FrankaSim(seed=0, image_size=(64, 64), render_geometry="collision")
    try:
        for k, storage in enumerate(("mcap", "sqlite3")):
            sim.reset(seed=k)
            explorer = SimExplorer(sim, period_s=0.1, command_period_s=0.5, max_delta=0.05, seed=k)
            write_robot_bag(tmp_path / "bags" / f"sim{k}", explorer, 60, period_s=0.1, storage=storage)
    finally:
        sim.close()

    # 2. convert with the shipped sim config (4 fps)
    episodes = tmp_path / "episodes"
    assert (
        convert_main([str(tmp_path / "bags"), "-o", str(episodes), "--config", str(CONFIG_DIR / "convert_sim.yaml")])
        == 0
    )
    store = EpisodeStore(episodes)
    assert len(store) == 2 and all(store.num_frames(i) == 24 for i in range(2))  # 5.9 s at 4 fps
    ep = store.load(0)
    moved = np.linalg.norm(ep.states[-1, :3] - ep.states[0, :3]) + np.abs(ep.actions[:, :3]).sum()
    assert moved > 0.05 and np.all(np.abs(ep.actions[:, :3]) < 0.1)  # the arm moved, in small steps
    assert set(np.unique(np.round(ep.states[:, 6]))) <= {0.0, 1.0}

    # 3. pretraining, 20 steps, with the shipped tiny config
    common = ["--set", f"data.roots=[{episodes}]", "--set", "run.total_steps=20", "--set", "run.eval_every=20"]
    common += ["--set", "run.checkpoint_every=20", "--set", "run.tensorboard=false", "--set", "run.threads=2"]
    pre_dir = tmp_path / "pretrain"
    assert (
        pretrain_main(["--config", str(CONFIG_DIR / "pretrain_tiny.yaml"), *common, "--set", f"run.run_dir={pre_dir}"])
        == 0
    )
    before, after = _check_losses(pre_dir, 20)
    assert after < before, f"pretraining fixed-batch loss did not decrease: {before} -> {after}"
    encoder = load_encoder(pre_dir / "export" / "encoder.safetensors")
    assert encoder.embed_dim == 64

    # 4. AC post-training, 20 steps, on the pretrained (frozen) encoder with the feature cache
    ac_dir = tmp_path / "ac"
    ac_args = ["--config", str(CONFIG_DIR / "ac_tiny.yaml"), *common, "--set", f"run.run_dir={ac_dir}"]
    ac_args += [
        "--set",
        f"encoder.checkpoint={pre_dir}",
        "--set",
        "optim.warmup_steps=5",
        "--set",
        "optim.decay_steps=5",
    ]
    assert train_ac_main(ac_args) == 0
    before, after = _check_losses(ac_dir, 20)
    assert after < before, f"AC fixed-batch loss did not decrease: {before} -> {after}"
    predictor = load_ac_predictor(ac_dir / "export" / "ac_predictor.safetensors")
    assert predictor.cfg.enc_embed_dim == 64 and predictor.cfg.grid_h == 4

    # the encoder + predictor pair of the AC run as make train-demo-model ships it: the frozen EMA target encoder
    # the predictor was trained on, and the predictor, with their provenance
    pair = tmp_path / "pair"
    assert export_main(["--ac-run", str(ac_dir), "--out", str(pair)]) == 0
    shipped = load_encoder(pair / "encoder.safetensors"), load_ac_predictor(pair / "predictor.safetensors")
    for exported, trained in zip(shipped, (encoder, predictor)):
        assert all(torch.equal(a, b) for a, b in zip(exported.state_dict().values(), trained.state_dict().values()))
    meta = export_metadata(pair / "predictor.safetensors")
    assert meta["step"] == 20 and meta["frozen_encoder"] | {"checkpoint": None} == {
        "checkpoint": None,
        "source": "pretrain_run",
        "weights": "ema_target",
        "step": 20,
    }
    assert export_main(["--ac-run", str(tmp_path / "nope"), "--out", str(pair)]) == 2
    assert "export: error:" in capsys.readouterr().err

    # warm starts: continue the AC predictor in a new run; a size mismatch is one clear error
    ac2 = tmp_path / "ac_continued"
    assert (
        train_ac_main(
            [
                *ac_args,
                "--set",
                f"run.run_dir={ac2}",
                "--set",
                f"init.checkpoint={ac_dir}",
                "--set",
                "run.total_steps=2",
                "--set",
                "optim.warmup_steps=0",
                "--set",
                "optim.decay_steps=0",
                "--set",
                "run.eval_every=0",
            ]
        )
        == 0
    )
    assert read_metric_pairs(ac2 / "metrics.csv", "loss")[1][0] < 0.5 * before
    bad = ["--set", f"init.checkpoint={pre_dir / 'export' / 'encoder.safetensors'}", "--set", "init.source=core"]
    bad += ["--set", "encoder.embed_dim=32", "--set", "encoder.num_heads=2", "--set", f"run.run_dir={tmp_path / 'bad'}"]
    assert pretrain_main(["--config", str(CONFIG_DIR / "pretrain_tiny.yaml"), *common, *bad]) == 2
    assert "does not fit the model built from the config" in capsys.readouterr().err

    # 5. evaluation plots
    assert (
        energy_main(
            [
                "--ac-run",
                str(ac_dir),
                "--data",
                str(episodes),
                "--step",
                "3",
                "--grid",
                "5",
                "-o",
                str(tmp_path / "energy.png"),
            ]
        )
        == 0
    )
    assert plot_main([str(pre_dir), str(ac_dir), "-o", str(tmp_path / "losses.png")]) == 0
    for png in ("energy.png", "losses.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
