#!/usr/bin/env python3
"""Oracle gate: does the goal-image energy of an encoder rank distance, with the simulator as perfect dynamics?

No predictor is involved. Every pose an energy is computed for is rendered by vjepa2_sim (the arm placed
kinematically at that TCP position, objects where the episode put them; the views of ``--cameras`` side by
side, as ``vjepa2-collect-sim`` writes them) and encoded with the perception preprocessing
(``vjepa2_core.preprocessing.ACFrameTransform`` with aspect = number of views, each frame as its own 2-frame
tubelet, all tokens); the energy is ``vjepa2_core.planning.energy`` (mean L1 of layer-normed tokens) against the goal
image's tokens. The simulator knows the poses only to measure outcomes; the energy sees images alone.

Two numbers per encoder:

* ``spearman``: per goal (uniform in the reach box), ``--poses`` random TCP positions around it (per-axis
  sd ``--pose-sd``, clipped to the box); Spearman(energy, TCP-to-goal distance), mean over ``--goals`` goals
  (min and the pooled value are printed too). Bar: >= 0.7.
* ``greedy``: near goals (10-20 cm from the start); each step renders the moves 0, ±2 cm, ±5 cm per axis,
  goes to the lowest-energy one and stops when "no move" is best (or after ``--max-steps``); success = final
  TCP within 4 cm of the goal. Bar: >= 80 %.

Encoders (``--encoder``, repeatable): ``random:<pretrain config>`` (that config's architecture, random
init, ``--init-seed``), ``ckpt:<path>`` (a vjepa2-pretrain checkpoint's EMA target encoder, or a run
directory: its latest checkpoint), ``steps:<run dir>`` (every ``step_*.pt`` checkpoint of a run),
``core:<path>`` (anything ``vjepa2_core.checkpoint.load_encoder`` reads), and ``pixels`` (L1 of 8x8-blurred
preprocessed pixels, a reference).

    python benchmarks/oracle_gate.py --encoder pixels --encoder random:vjepa2_training/config/demo_pretrain.yaml \\
        --encoder ckpt:runs/demo/pretrain --json outputs/oracle_gate.json --plot outputs/oracle_gate.png

One line per encoder: ``oracle <name>: spearman S (min M, pooled P), greedy K/N (X %) within 4 cm, median final
D cm, gate PASS|FAIL``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

import vjepa2_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from vjepa2_core.inference import FrameEncoder
from vjepa2_core.models import VisionEncoder
from vjepa2_core.planning import energy
from vjepa2_core.preprocessing import ACFrameTransform
from vjepa2_sim.scene import REACH_BOX_MAX, REACH_BOX_MIN, REACH_SUCCESS_RADIUS, sample_near_goal
from vjepa2_sim.sim import FrankaSim
from vjepa2_sim.views import STEREO, render_goal_tiled

MOVES = np.array([[0.0, 0.0, 0.0]] + [s * d * e for d in (0.02, 0.05) for s in (1, -1) for e in np.eye(3)])
SUCCESS_RADIUS = REACH_SUCCESS_RADIUS  # [m]
SPEARMAN_BAR, GREEDY_BAR = 0.7, 0.8
GATE_SEED = 1_000_000  # episode seeds of the gate (the training data uses small seeds)

#: images [B, H, W, 3] uint8 and the goal image -> energies [B]
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def encoder_scorer(encoder: VisionEncoder, size: int, aspect: float) -> Scorer:
    """Goal-image energy over all layer-normed tokens, with the perception preprocessing."""
    frames = FrameEncoder(encoder, ACFrameTransform(size=size, aspect=aspect), max_batch=16)
    cache: dict[int, torch.Tensor] = {}

    def score(images: np.ndarray, goal: np.ndarray) -> np.ndarray:
        key = hash(goal.tobytes())
        if key not in cache:
            cache.clear()
            cache[key] = frames.encode_frames(goal)[0]
        return energy(frames.encode_frames(images), cache[key]).numpy()

    return score


def pixel_scorer(size: int, aspect: float, blur: int = 8) -> Scorer:
    """Mean L1 between ``blur`` x ``blur``-average-pooled preprocessed images."""
    transform = ACFrameTransform(size=size, aspect=aspect)

    def pooled(images: np.ndarray) -> torch.Tensor:
        video = transform(images)  # [3, T, H, W]
        return F.avg_pool2d(video.permute(1, 0, 2, 3), blur)

    def score(images: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return (pooled(images) - pooled(goal)).abs().mean(dim=(1, 2, 3)).numpy()

    return score


def build_scorers(specs: list[str], size: int, aspect: float, init_seed: int) -> dict[str, Scorer]:
    """Name -> scorer for every ``--encoder`` spec (``steps:`` expands to one per checkpoint)."""
    from vjepa2_training.config_io import load_yaml
    from vjepa2_training.train.configs import FrozenEncoderSpec, PretrainConfig
    from vjepa2_training.train.frozen_encoder import load_frozen_encoder

    scorers: dict[str, Scorer] = {}
    for spec in specs:
        kind, _, arg = spec.partition(":")
        if kind == "pixels":
            scorers["pixels-blur8"] = pixel_scorer(size, aspect)
        elif kind == "random":
            cfg = load_yaml(PretrainConfig, Path(arg))
            torch.manual_seed(init_seed)
            encoder = VisionEncoder(cfg.encoder.build(img_size=cfg.data.crop_size))
            scorers[f"random-init({Path(arg).stem})"] = encoder_scorer(encoder.eval(), size, aspect)
        elif kind in ("ckpt", "steps"):
            root = Path(arg)
            paths = sorted((root / "checkpoints").glob("step_*.pt")) if kind == "steps" else [root]
            if not paths:
                raise SystemExit(f"oracle_gate: {root}/checkpoints has no step_*.pt files (keep_checkpoints > 0?)")
            for path in paths:
                encoder = load_frozen_encoder(FrozenEncoderSpec(str(path), "pretrain_run"), torch.device("cpu"))
                scorers[f"pretrained({path.name if path.is_file() else 'latest'})"] = encoder_scorer(
                    encoder, size, aspect
                )
        elif kind == "core":
            from vjepa2_core.checkpoint import load_encoder

            scorers[f"core({Path(arg).name})"] = encoder_scorer(load_encoder(arg).eval(), size, aspect)
        else:
            raise SystemExit(
                f"oracle_gate: unknown --encoder {spec!r}; use random:CFG, ckpt:PATH, steps:RUN, core:PATH, pixels"
            )
    return scorers


class PoseRenderer:
    """Renders the scene with the TCP at given positions (cached per episode; orientation = the start's)."""

    def __init__(self, sim: FrankaSim, cameras: tuple[str, ...]) -> None:
        self.sim = sim
        self.cameras = cameras
        self.cache: dict[tuple[int, int, int], np.ndarray] = {}
        self.renders = 0

    def new_episode(self, seed: int) -> None:
        self.sim.reset(seed=seed)
        self.cache.clear()

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        out = []
        for p in np.atleast_2d(positions):
            key = tuple(int(v) for v in np.round(p * 1e4))
            if key not in self.cache:
                self.cache[key] = render_goal_tiled(self.sim, p, cameras=self.cameras)
                self.renders += 1
            out.append(self.cache[key])
        return np.stack(out)


@dataclass
class GateResult:
    """Per-encoder outcome."""

    spearman_per_goal: list[float] = field(default_factory=list)
    pooled_pairs: list[tuple[float, float]] = field(default_factory=list)  # (distance, energy normalised per goal)
    greedy_final: list[float] = field(default_factory=list)
    greedy_steps: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, float]:
        pairs = np.array(self.pooled_pairs)
        final = np.array(self.greedy_final)
        return {
            "spearman_mean": float(np.mean(self.spearman_per_goal)),
            "spearman_min": float(np.min(self.spearman_per_goal)),
            "spearman_pooled": float(spearmanr(pairs[:, 0], pairs[:, 1]).statistic),
            "greedy_success": int(np.sum(final < SUCCESS_RADIUS)),
            "greedy_episodes": len(final),
            "greedy_success_rate": float(np.mean(final < SUCCESS_RADIUS)),
            "greedy_median_final_cm": float(np.median(final) * 100),
            "greedy_mean_steps": float(np.mean(self.greedy_steps)),
            "seconds": self.seconds,
        }


def poses_around(
    rng: np.random.Generator, goal: np.ndarray, sd: float, count: int, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """``count`` positions goal + N(0, sd^2) per axis, redrawn until inside the box (no pile-up on its faces)."""
    out: list[np.ndarray] = []
    while len(out) < count:
        p = goal + rng.normal(0.0, sd, 3)
        if np.all(p >= lo) and np.all(p <= hi):
            out.append(p)
    return np.array(out)


def greedy(
    render: PoseRenderer,
    score: Scorer,
    start: np.ndarray,
    goal_image: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    max_steps: int,
) -> tuple[np.ndarray, int]:
    """Greedy descent on the energy with true (rendered) dynamics; returns the final position and step count."""
    position = start.copy()
    for step in range(max_steps):
        candidates = np.unique(np.clip(position + MOVES, lo, hi).round(6), axis=0)
        energies = score(render(candidates), goal_image)
        best = candidates[int(np.argmin(energies))]
        if np.allclose(best, position, atol=1e-6):
            return position, step
        position = best
    return position, max_steps


def run_gate(
    scorers: dict[str, Scorer],
    sim: FrankaSim,
    cameras: tuple[str, ...],
    goals: int,
    poses: int,
    pose_sd: float,
    near_goals: int,
    max_steps: int,
    seed: int,
) -> dict[str, GateResult]:
    """Both measurements for every scorer on the same seeded episodes."""
    lo, hi = np.asarray(REACH_BOX_MIN), np.asarray(REACH_BOX_MAX)
    render = PoseRenderer(sim, cameras)
    results = {name: GateResult() for name in scorers}
    for g in range(goals):
        rng = np.random.default_rng((seed, 0, g))
        render.new_episode(seed + g)
        goal = rng.uniform(lo, hi)
        positions = poses_around(rng, goal, pose_sd, poses, lo, hi)
        distances = np.linalg.norm(positions - goal, axis=1)
        goal_image, images = render(goal)[0], render(positions)
        for name, score in scorers.items():
            t0 = time.perf_counter()
            e = score(images, goal_image)
            results[name].spearman_per_goal.append(float(spearmanr(e, distances).statistic))
            z = (e - e.mean()) / (e.std() + 1e-12)
            results[name].pooled_pairs.extend(zip(distances.tolist(), z.tolist()))
            results[name].seconds += time.perf_counter() - t0
    for i in range(near_goals):
        rng = np.random.default_rng((seed, 1, i))
        render.new_episode(seed + goals + i)
        start = rng.uniform(lo, hi)
        goal = sample_near_goal(rng, start, lo, hi)
        goal_image = render(goal)[0]
        for name, score in scorers.items():
            t0 = time.perf_counter()
            final, steps = greedy(render, score, start, goal_image, lo, hi, max_steps)
            results[name].greedy_final.append(float(np.linalg.norm(final - goal)))
            results[name].greedy_steps.append(steps)
            results[name].seconds += time.perf_counter() - t0
        print(
            f"  near goal {i + 1}/{near_goals}: "
            + ", ".join(f"{n} {r.greedy_final[-1] * 100:.1f} cm" for n, r in results.items()),
            flush=True,
        )
    return results


def plot(results: dict[str, GateResult], path: Path) -> None:
    """Energy (z-scored per goal) against distance, one panel per encoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vjepa2_training.eval.plot_losses import save_figure

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.6), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        pairs = np.array(res.pooled_pairs)
        s = res.summary()
        ax.scatter(pairs[:, 0] * 100, pairs[:, 1], s=6, alpha=0.5)
        ax.set_title(
            f"{name}\nSpearman {s['spearman_mean']:.2f}, greedy {s['greedy_success_rate'] * 100:.0f} %", fontsize=9
        )
        ax.set_xlabel("TCP-goal distance [cm]")
        ax.set_ylabel("energy (z-scored per goal)")
    save_figure(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--encoder", action="append", required=True, help="random:CFG, ckpt:PATH, steps:RUN, core:PATH, pixels"
    )
    parser.add_argument("--cameras", nargs="+", default=list(STEREO), help="tiled left to right, as in the data")
    parser.add_argument(
        "--image-size", type=int, default=208, help="rendered (square) size of each view, as in the data"
    )
    parser.add_argument(
        "--render-geometry", choices=("visual", "collision"), default="collision", help="as in the data"
    )
    parser.add_argument("--crop-size", type=int, default=None, help="encoder input size (default: --image-size)")
    parser.add_argument("--aspect", type=float, default=None, help="ACFrameTransform aspect (default: number of views)")
    parser.add_argument("--goals", type=int, default=6)
    parser.add_argument("--poses", type=int, default=25)
    parser.add_argument("--pose-sd", type=float, default=0.12, help="[m] per-axis sd of the poses around a goal")
    parser.add_argument("--near-goals", type=int, default=20)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=GATE_SEED)
    parser.add_argument("--init-seed", type=int, default=0, help="torch seed of random-init encoders")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument("--plot", type=Path, help="energy-vs-distance scatter plot (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = args.crop_size or args.image_size
    scorers = build_scorers(args.encoder, size, args.aspect or float(len(args.cameras)), args.init_seed)
    t0 = time.perf_counter()
    with FrankaSim(
        seed=args.seed, image_size=(args.image_size, args.image_size), render_geometry=args.render_geometry
    ) as sim:
        results = run_gate(
            scorers,
            sim,
            tuple(args.cameras),
            args.goals,
            args.poses,
            args.pose_sd,
            args.near_goals,
            args.max_steps,
            args.seed,
        )
    summary = {}
    for name, res in results.items():
        s = summary[name] = res.summary()
        passed = s["spearman_mean"] >= SPEARMAN_BAR and s["greedy_success_rate"] >= GREEDY_BAR
        s["gate"] = "PASS" if passed else "FAIL"
        print(
            f"oracle {name}: spearman {s['spearman_mean']:.2f} (min {s['spearman_min']:.2f}, pooled "
            f"{s['spearman_pooled']:.2f}), greedy {s['greedy_success']}/{s['greedy_episodes']} "
            f"({s['greedy_success_rate'] * 100:.0f} %) within 4 cm, median final {s['greedy_median_final_cm']:.1f} cm, "
            f"gate {s['gate']}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        args.json.write_text(
            json.dumps({"settings": settings, "wall_s": time.perf_counter() - t0, "results": summary}, indent=2) + "\n"
        )
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
