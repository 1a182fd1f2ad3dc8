"""Training machinery: masks, schedules, configs, exact resume after SIGKILL, torchrun (DDP) equivalence."""

from __future__ import annotations

import csv
import os
import signal
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vjepa2_common.testing import wait_until
from vjepa2_training.config_io import ConfigError, load_yaml
from vjepa2_training.configs import ACConfig, PretrainConfig
from vjepa2_training.masks import DEFAULT_MASKS, MaskSpec, sample_masks
from vjepa2_training.pretrain import main as pretrain_main
from vjepa2_training.schedules import WarmupStableDecay

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def test_multiblock_masks_follow_the_vjepa2_recipe() -> None:
    grid = (8, 16, 16)  # 16 frames at 256 px
    short, long = sample_masks(DEFAULT_MASKS, grid, global_batch=3, seed=1, step=7)
    for context, target in (short, long):
        assert context.shape[0] == target.shape[0] == 3
        for c, t in zip(context, target):
            assert not set(c.tolist()) & set(t.tolist())  # disjoint
            # blocks span the whole clip in time: a target token at (t, h, w) is a target at every t
            spatial = {int(i) % 256 for i in t}
            assert all(int(i) // 256 < 8 for i in t) and len(t) <= 8 * len(spatial)
    # 8 blocks of floor(256 * 0.15) = 38 patches leave a lot of context; 2 blocks at 0.7 leave little
    assert short[0].shape[1] > long[0].shape[1]
    assert long[1].shape[1] >= 8 * 0.6 * 256  # at least one ~0.7 block over all 8 time steps
    again = sample_masks(DEFAULT_MASKS, grid, global_batch=3, seed=1, step=7)
    assert all(torch.equal(a, b) for pair_a, pair_b in zip(again, (short, long)) for a, b in zip(pair_a, pair_b))
    other = sample_masks(DEFAULT_MASKS, grid, global_batch=3, seed=1, step=8)
    assert not torch.equal(other[0][1], short[1])
    # the first samples of a bigger global batch get the same masks (per-sample seeds), before truncation
    bigger = sample_masks((MaskSpec(2, 0.7),), grid, global_batch=6, seed=1, step=7)[0][1]
    assert set(bigger[0].tolist()) <= set(sample_masks((MaskSpec(2, 0.7),), grid, 1, 1, 7)[0][1][0].tolist())
    with pytest.raises(ValueError, match="context tokens"):
        sample_masks((MaskSpec(4, 1.0),), (1, 2, 2), 1, 0, 0)


def test_warmup_stable_decay_schedule() -> None:
    sched = WarmupStableDecay(total_steps=100, warmup_steps=10, decay_steps=20, start_lr=1e-4, lr=1e-3, final_lr=0.0)
    assert sched(0) == pytest.approx(1e-4)
    assert sched(5) == pytest.approx(1e-4 + 0.5 * 9e-4)
    assert sched(10) == sched(79) == pytest.approx(1e-3)
    assert sched(89) == pytest.approx(1e-3 * 0.5)
    assert sched(99) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="exceed total_steps"):
        WarmupStableDecay(10, 8, 8, 0, 1, 0).validate()


def test_shipped_configs_load_and_bad_ones_are_explained(tmp_path: Path, capsys) -> None:
    for name in ("pretrain_tiny.yaml", "pretrain_vitl.yaml"):
        cfg = load_yaml(PretrainConfig, CONFIG_DIR / name)
        assert [m.num_blocks for m in cfg.masks] == [8, 2] and cfg.optim.weight_decay == 0.04
    for name in ("ac_tiny.yaml", "ac_vitg.yaml"):
        cfg = load_yaml(ACConfig, CONFIG_DIR / name)
        assert cfg.loss.rollout == "corrected" and cfg.optim.decay_steps > 0
    vitg = load_yaml(ACConfig, CONFIG_DIR / "ac_vitg.yaml")
    assert (vitg.run.batch_size, vitg.run.total_steps, vitg.data.frames_per_clip) == (256, 94500, 8)

    cases = {
        "optim.lr=fast": "optim.lr: expected a number, got 'fast'",
        "run.totl_steps=3": "did you mean 'total_steps'",
        "masks=[{num_blocks: 0}]": "num_blocks must be >= 1",
        "data.crop_size=70": "multiple of encoder.patch_size",
        "run.precision=fp8": "must be one of ['bf16', 'fp32']",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            load_yaml(PretrainConfig, CONFIG_DIR / "pretrain_tiny.yaml", [override])
    assert (
        pretrain_main(["--config", str(CONFIG_DIR / "pretrain_tiny.yaml"), "--set", "data.roots=[/nonexistent]"]) == 2
    )
    assert "manifest.json is missing" in capsys.readouterr().err


def _tiny_pretrain_config(tmp_path: Path, dataset: Path, name: str, **run: object) -> Path:
    cfg = yaml.safe_load((CONFIG_DIR / "pretrain_tiny.yaml").read_text())
    cfg["data"]["roots"] = [str(dataset)]
    cfg["encoder"] = {"embed_dim": 32, "depth": 1, "num_heads": 2}
    cfg["predictor"] = {"embed_dim": 32, "depth": 1, "num_heads": 2, "num_mask_tokens": 2}
    cfg["optim"]["warmup_steps"] = 3
    cfg["run"].update({"run_dir": str(tmp_path / name), "threads": 1, "tensorboard": False, **run})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _losses(run_dir: Path) -> dict[int, str]:
    with (run_dir / "metrics.csv").open() as f:
        return {int(r["step"]): r["loss"] for r in csv.DictReader(f) if r["loss"]}


def _checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "latest.pt", map_location="cpu", weights_only=True)


def test_killed_run_resumes_exactly(tiny_dataset: Path, tmp_path: Path, launcher) -> None:
    """SIGKILL mid-run, resume, SIGTERM, resume: every step's loss is bit-identical to an uninterrupted run
    and so are the final weights."""
    settings = {"total_steps": 40, "checkpoint_every": 5, "batch_size": 4, "deterministic": True, "num_workers": 1}
    straight = _tiny_pretrain_config(tmp_path, tiny_dataset, "straight", **settings)
    killed = _tiny_pretrain_config(tmp_path, tiny_dataset, "killed", **settings)

    reference = launcher.module("vjepa2_training.pretrain", "--config", str(straight))
    victim = launcher.module("vjepa2_training.pretrain", "--config", str(killed))
    latest = tmp_path / "killed" / "checkpoints" / "latest.pt"
    wait_until(lambda: latest.exists() or not victim.alive(), 120, "the first checkpoint of the run to kill")
    os.killpg(victim.pid, signal.SIGKILL)
    assert victim.proc.wait(10) == -signal.SIGKILL
    interrupted_at = _checkpoint(tmp_path / "killed")["step"]
    assert 5 <= interrupted_at < 40, "the run finished before it could be killed"
    assert not (tmp_path / "killed" / "export").exists()

    # resume, then stop it politely (SIGTERM, as SLURM does before the time limit): checkpoint + exit code 3
    resumed = launcher.module("vjepa2_training.pretrain", "--config", str(killed))
    wait_until(
        lambda: max(_losses(tmp_path / "killed"), default=0) >= interrupted_at + 3 or not resumed.alive(),
        120,
        "three steps after the resume",
    )
    os.killpg(resumed.pid, signal.SIGTERM)
    assert resumed.proc.wait(60) == 3, resumed.output()[-3000:]
    assert f"resuming pretrain from {latest} at step {interrupted_at}" in resumed.output()
    stopped_at = _checkpoint(tmp_path / "killed")["step"]
    assert stopped_at == max(_losses(tmp_path / "killed")) < 40  # checkpoint of the last finished step

    final = launcher.module("vjepa2_training.pretrain", "--config", str(killed))
    assert final.proc.wait(120) == 0, final.output()[-3000:]
    assert reference.proc.wait(120) == 0, reference.output()[-3000:]

    expected, got = _losses(tmp_path / "straight"), _losses(tmp_path / "killed")
    assert sorted(got) == list(range(1, 41))
    assert got == expected  # exact repr equality of every step's loss, before and after the kill
    a, b = _checkpoint(tmp_path / "straight"), _checkpoint(tmp_path / "killed")
    for part in ("encoder", "predictor", "target_encoder"):
        for key, value in a["models"][part].items():
            assert torch.equal(value, b["models"][part][key]), f"{part}.{key} differs after resume"


def test_torchrun_two_processes_match_one(
    tiny_dataset: Path, tmp_path: Path, launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 gloo processes with half the batch each end at the same weights as 1 process with the whole batch."""
    settings = {"total_steps": 6, "checkpoint_every": 6, "batch_size": 4, "precision": "fp32", "eval_every": 3}
    single = _tiny_pretrain_config(tmp_path, tiny_dataset, "single", **settings)
    double = _tiny_pretrain_config(tmp_path, tiny_dataset, "ddp", **settings)
    one = launcher.module("vjepa2_training.pretrain", "--config", str(single))
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")  # keep gloo on loopback (launcher copies the environment)
    two = launcher.start(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "vjepa2_training.pretrain",
            "--config",
            str(double),
        ],
        label="torchrun",
    )
    assert one.proc.wait(180) == 0, one.output()[-3000:]
    assert two.proc.wait(180) == 0, two.output()[-3000:]
    a, b = _checkpoint(tmp_path / "single"), _checkpoint(tmp_path / "ddp")
    assert (a["world_size"], b["world_size"], b["step"]) == (1, 2, 6)
    worst = 0.0
    for part in ("encoder", "predictor", "target_encoder"):
        for key, value in a["models"][part].items():
            worst = max(worst, float((value - b["models"][part][key]).abs().max()))
    # per-sample work is identical; only float summation order differs (two half-batch means averaged by the
    # all-reduce vs one mean, matmuls of other batch sizes): measured 4.6e-6 after 6 AdamW steps at lr 1e-3
    assert worst < 2e-5, f"parameters differ by up to {worst}"
    la, lb = _losses(tmp_path / "single"), _losses(tmp_path / "ddp")
    assert la.keys() == lb.keys() and all(abs(float(la[k]) - float(lb[k])) < 1e-5 for k in la)
    assert len((tmp_path / "ddp" / "metrics.csv").read_text().splitlines()) == 1 + 1 + 6  # rank 0 logs alone


def test_ac_rollout_variants_and_feature_cache(tiny_dataset: Path, tmp_path: Path) -> None:
    from vjepa2_core.models import ACPredictor, ACPredictorConfig, EncoderConfig, VisionEncoder
    from vjepa2_training.augment import ACClipTransform
    from vjepa2_training.configs import FeatureCacheSpec, FrozenEncoderSpec
    from vjepa2_training.data import ClipIndex
    from vjepa2_training.distributed import DistInfo
    from vjepa2_training.episodes import EpisodeStore
    from vjepa2_training.frozen_encoder import FeatureCache, cache_key, encode_frames
    from vjepa2_training.train_ac import ACRollout

    torch.manual_seed(0)
    cfg = ACPredictorConfig(enc_embed_dim=32, embed_dim=32, depth=1, num_heads=2, grid_h=2, grid_w=2)
    predictor = ACPredictor(cfg).eval()
    z = torch.nn.functional.layer_norm(torch.randn(2, 4 * 4, 32), (32,))
    actions, states = torch.randn(2, 3, 7), torch.randn(2, 4, 7)
    with torch.no_grad():
        z_tf, z_ar = ACRollout(predictor, 2, "corrected")(z, actions, states)
        _, z_orig = ACRollout(predictor, 2, "original")(z, actions, states)
        manual_next = ACRollout(predictor, 1, "corrected").step(
            torch.cat([z[:, :4], z_tf[:, :4]], 1), actions[:, :2], states[:, :2]
        )[:, -4:]
    assert z_tf.shape == (2, 12, 32) and z_ar.shape == (2, 8, 32)
    assert torch.equal(z_ar[:, :4], z_tf[:, :4])  # corrected: rollout seeded with the prediction of frame 1
    torch.testing.assert_close(z_ar[:, 4:], manual_next)  # then one recurrent step with ground-truth states
    assert torch.equal(z_orig[:, :4], z_tf[:, 4:8])  # original: seeded with the prediction of frame 2

    # cached features equal on-the-fly encoding (up to the bf16 storage)
    encoder = VisionEncoder(EncoderConfig(embed_dim=32, depth=1, num_heads=2, img_size=32)).eval()
    store = EpisodeStore(tiny_dataset)
    transform = ACClipTransform(32, 1.35)
    spec = FrozenEncoderSpec(str(tiny_dataset / "manifest.json"), "pretrain_run")
    cache = FeatureCache(tmp_path / "cache", cache_key(spec, {"size": 32}))
    cache.build(store, encoder, transform, FeatureCacheSpec(True, None, "bf16"), DistInfo(0, 1, 0, torch.device("cpu")))
    frames = ClipIndex(store, 4).frame_indices(5)
    cached = cache.load(store.content_key(1), frames)
    direct = encode_frames(encoder, transform(store.load(1).frames(frames), None).unsqueeze(0))
    torch.testing.assert_close(cached.reshape(1, -1, 32), direct, atol=0.05, rtol=0.02)
