#!/usr/bin/env python3
"""Predictor ranking: does the AC predictor's energy of candidate actions rank their true outcome?

For seeded start/goal pairs (near goals, 10-20 cm, the oracle gate's episodes), the current frame is rendered
(the views of ``--cameras`` side by side, as ``vjepa2-collect-sim`` writes them) and encoded by the frozen
encoder; ``--candidates`` random actions (uniform ±5 cm per axis, no rotation or gripper change) are scored
with the AC predictor's next-frame prediction against the goal image's tokens (``vjepa2_core.planning.energy``).
The simulator only measures the outcome: the TCP-to-goal distance after each move. Prints, per checkpoint,
the mean per-pair Spearman(predicted energy, true post-move distance) and how often the lowest-energy candidate
is among the best 25 % by true distance.

    python benchmarks/predictor_ranking.py --ac-run runs/demo/ac --pairs 20 --json outputs/predictor_ranking.json

The frozen encoder and the preprocessing are those recorded in the AC run's checkpoint.

One line per checkpoint: ``predictor <name>: ranking spearman S (min M) over N pairs, top-1 in best quarter Q %``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from oracle_gate import GATE_SEED
from scipy.stats import spearmanr

from vjepa2_core.conventions import state_from_pose
from vjepa2_core.inference import FrameEncoder, layer_norm_tokens
from vjepa2_core.models import ACPredictor, ACPredictorConfig
from vjepa2_core.planning import energy, predictor_step
from vjepa2_core.preprocessing import ACFrameTransform
from vjepa2_sim.scene import REACH_BOX_MAX, REACH_BOX_MIN, sample_near_goal
from vjepa2_sim.sim import FrankaSim
from vjepa2_sim.views import STEREO, render_goal_tiled
from vjepa2_training.config_io import from_dict
from vjepa2_training.train.checkpointing import load_checkpoint
from vjepa2_training.train.configs import ACConfig
from vjepa2_training.train.frozen_encoder import load_frozen_encoder


def load_predictor(path: Path) -> tuple[ACPredictor, ACConfig]:
    """The AC predictor of a vjepa2-train-ac checkpoint (loaded with weights_only=True) and its run's config."""
    state = load_checkpoint(path, kind="ac")
    models = state["models"]
    predictor = ACPredictor(ACPredictorConfig.from_dict(models["predictor_config"]))
    predictor.load_state_dict(models["predictor"])
    return predictor.eval(), from_dict(ACConfig, state["config"], source=str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ac-run", type=Path, default=Path("runs/demo/ac"), help="a vjepa2-train-ac run directory")
    parser.add_argument("--all-checkpoints", action="store_true", help="every step_*.pt, not only latest.pt")
    parser.add_argument("--cameras", nargs="+", default=list(STEREO))
    parser.add_argument("--image-size", type=int, default=208)
    parser.add_argument("--render-geometry", choices=("visual", "collision"), default="collision")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=64)
    parser.add_argument("--seed", type=int, default=GATE_SEED)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = args.ac_run
    paths = sorted((run / "checkpoints").glob("step_*.pt")) if args.all_checkpoints else []
    paths = paths or [run / "checkpoints" / "latest.pt"]
    cfg = load_predictor(paths[-1])[1]  # the frozen encoder and preprocessing the run was trained with
    aspect = cfg.data.crop_aspect
    encoder = FrameEncoder(
        load_frozen_encoder(cfg.encoder, torch.device("cpu")), ACFrameTransform(cfg.data.crop_size, aspect=aspect)
    )
    lo, hi = np.asarray(REACH_BOX_MIN), np.asarray(REACH_BOX_MAX)
    size = (args.image_size, args.image_size)
    episodes = []  # (current tokens, state, goal tokens, candidate actions, true distances)
    with FrankaSim(seed=args.seed, image_size=size, render_geometry=args.render_geometry) as sim:
        for i in range(args.pairs):
            rng = np.random.default_rng((args.seed, 2, i))
            sim.reset(seed=args.seed + 1000 + i)
            start = rng.uniform(lo, hi)
            goal = sample_near_goal(rng, start, lo, hi)
            quat = sim.ee_pose()[1]
            closure = float(sim.gripper_closure())
            images = np.stack([render_goal_tiled(sim, p, quat, closure, args.cameras) for p in (start, goal)])
            tokens = layer_norm_tokens(encoder.encode_frames(images))
            moves = rng.uniform(-0.05, 0.05, (args.candidates, 3))
            moves = np.clip(start + moves, lo, hi) - start
            actions = np.zeros((args.candidates, 1, 7))
            actions[:, 0, :3] = moves
            distances = np.linalg.norm(start + moves - goal, axis=1)
            state = state_from_pose(start, quat, closure)
            episodes.append((tokens[0], state, tokens[1], actions, distances))
    results = {}
    for path in paths:
        predictor = load_predictor(path)[0]
        step = predictor_step(predictor, encoder.tokens_per_frame)
        rhos, top = [], []
        for current, state, goal_tokens, actions, distances in episodes:
            states = torch.tensor(state, dtype=torch.float32).expand(len(actions), 1, 7)
            predicted = step(current.unsqueeze(0), torch.tensor(actions, dtype=torch.float32), states)
            e = energy(predicted, goal_tokens).numpy()
            rhos.append(float(spearmanr(e, distances).statistic))
            top.append(bool(distances[int(np.argmin(e))] <= np.quantile(distances, 0.25)))
        name = path.name
        results[name] = {
            "spearman_mean": float(np.mean(rhos)),
            "spearman_min": float(np.min(rhos)),
            "top1_best_quarter": float(np.mean(top)),
        }
        r = results[name]
        print(
            f"predictor {name}: ranking spearman {r['spearman_mean']:.2f} (min {r['spearman_min']:.2f}) over "
            f"{len(rhos)} pairs, top-1 in best quarter {r['top1_best_quarter'] * 100:.0f} %",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"settings": settings, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
