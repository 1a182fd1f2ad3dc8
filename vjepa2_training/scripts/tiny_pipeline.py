#!/usr/bin/env python3
"""The whole training pipeline at toy scale on a CPU, through the same CLIs a lab uses.

MuJoCo Franka random exploration -> rosbag2 (the recorder's writer) -> vjepa2-convert-bags -> vjepa2-pretrain
-> vjepa2-train-ac -> vjepa2-plot-losses + vjepa2-energy-landscape. Writes everything under --work and, with
--docs, the two figures docs/training_losses.png and docs/training_energy_landscape.png.

    python vjepa2_training/scripts/tiny_pipeline.py --work /tmp/vjepa2_tiny --docs docs
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("runs/tiny_pipeline"))
    parser.add_argument("--docs", type=Path, help="copy the two PNG figures into this directory")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each recorded episode")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--ac-steps", type=int, default=600)
    args = parser.parse_args()

    from vjepa2_sim.sim import FrankaSim
    from vjepa2_training.data.bags_to_episodes import main as convert
    from vjepa2_training.data.synthetic import SimExplorer, write_robot_bag
    from vjepa2_training.eval.energy_landscape import main as energy
    from vjepa2_training.eval.plot_losses import main as plot_losses
    from vjepa2_training.train.pretrain import main as pretrain
    from vjepa2_training.train.train_ac import main as train_ac

    work = args.work
    if work.exists():
        shutil.rmtree(work)
    started = time.monotonic()
    size = args.image_size
    sim = FrankaSim(seed=0, image_size=(size, size), render_geometry="collision")
    try:
        samples = round(args.seconds * 10)
        for k in range(args.episodes):
            sim.reset(seed=k)
            explorer = SimExplorer(sim, period_s=0.1, command_period_s=0.5, max_delta=0.05, seed=k)
            write_robot_bag(work / "bags" / f"sim_{k:03d}", explorer, samples, period_s=0.1)
    finally:
        sim.close()
    print(f"[tiny] recorded {args.episodes} bags in {time.monotonic() - started:.0f} s", flush=True)

    episodes = work / "episodes"
    if convert([str(work / "bags"), "-o", str(episodes), "--config", str(CONFIG_DIR / "convert_sim.yaml")]):
        return 1
    common = ["--set", f"data.roots=[{episodes}]", "--set", f"data.crop_size={size}", "--set", "run.tensorboard=false"]
    pre = work / "pretrain"
    if pretrain(
        [
            "--config",
            str(CONFIG_DIR / "pretrain_tiny.yaml"),
            *common,
            "--set",
            f"run.run_dir={pre}",
            "--set",
            f"run.total_steps={args.pretrain_steps}",
        ]
    ):
        return 1
    ac = work / "ac"
    if train_ac(
        [
            "--config",
            str(CONFIG_DIR / "ac_tiny.yaml"),
            *common,
            "--set",
            f"run.run_dir={ac}",
            "--set",
            f"encoder.checkpoint={pre}",
            "--set",
            f"run.total_steps={args.ac_steps}",
            "--set",
            f"optim.decay_steps={args.ac_steps // 5}",
        ]
    ):
        return 1
    losses = work / "training_losses.png"
    landscape = work / "training_energy_landscape.png"
    plot_losses(
        [
            str(pre),
            str(ac),
            "-o",
            str(losses),
            "--label",
            "pretraining (masked latents)",
            "--label",
            "AC post-training",
            "--smooth",
            "10",
        ]
    )
    energy(
        [
            "--ac-run",
            str(ac),
            "--data",
            str(episodes),
            "--episode",
            "0",
            "--step",
            "8",
            "--span",
            "0.075",
            "--grid",
            "21",
            "-o",
            str(landscape),
            "--json",
            str(work / "energy_landscape.json"),
        ]
    )
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(losses, args.docs / losses.name)
        shutil.copy(landscape, args.docs / landscape.name)
    print(f"[tiny] done in {time.monotonic() - started:.0f} s; outputs in {work}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
