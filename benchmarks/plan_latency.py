#!/usr/bin/env python3
"""CEM planning latency per action: cached rollouts (``ACWorldModel``) vs the naive rollout, horizons 1-3.

Random-weight V-JEPA 2-AC predictor, random context and goal tokens (the latency does not depend on the
weights). For every horizon the cached and the naive plan run interleaved in one process (the order alternates
every repeat, so load from other processes hits both alike) after one warm-up each; the speedup is the median of
the paired wall-time ratios. One line per horizon, in the fixed format

    plan ms/action hH: X (naive Y, speedup Z.ZZx) [device, dtype, samples x iterations, predictor size]

followed by the CPU-time figures (process time; more stable than wall time on a shared machine).

    python benchmarks/plan_latency.py                    # CPU setting: 256 wide, 6 deep, 8x8 grid, 64 x 3
    python benchmarks/plan_latency.py --paper --device cuda --dtype bfloat16   # 1024/24/16, 16x16, 800 x 10
    python benchmarks/plan_latency.py --compile          # also time torch.compile'd predictor steps (CPU)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vjepa2_core.cem import CEMConfig
from vjepa2_core.devices import DTYPE_CHOICES, canonical_dtype_name, parse_dtype, resolve_device
from vjepa2_core.models import ACPredictor, ACPredictorConfig
from vjepa2_core.world_model import ACWorldModel


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_plan(model: ACWorldModel, goal: torch.Tensor, config: CEMConfig, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds of one plan call."""
    generator = torch.Generator(device=model.device).manual_seed(seed)
    _synchronize(model.device)
    wall, cpu = time.perf_counter(), time.process_time()
    model.plan(goal, config, generator)
    _synchronize(model.device)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paper", action="store_true", help="the paper's setting: 1024/24/16 on 16x16 1408-d, 800 x 10")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, auto")
    ap.add_argument("--dtype", choices=DTYPE_CHOICES, default="float32", help="weights cast to this dtype")
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--grid", type=int, default=8, help="tokens per frame = grid x grid")
    ap.add_argument("--enc-dim", type=int, default=1408)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--context-frames", type=int, default=1, help="observed frames K (the paper: 1)")
    ap.add_argument("--horizons", default="1,2,3")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=0, help="candidates per predictor call (0: all)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(forward_cached) (cached path)")
    args = ap.parse_args()
    if args.paper:
        args.width, args.depth, args.heads, args.grid, args.enc_dim = 1024, 24, 16, 16, 1408
        args.samples, args.iterations = 800, 10

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtype = parse_dtype(args.dtype)
    args.dtype = canonical_dtype_name(args.dtype)
    torch.manual_seed(0)
    cfg = ACPredictorConfig(
        enc_embed_dim=args.enc_dim,
        embed_dim=args.width,
        depth=args.depth,
        num_heads=args.heads,
        grid_h=args.grid,
        grid_w=args.grid,
    )
    predictor = ACPredictor(cfg, init_weights=True).eval().to(device=device, dtype=dtype)
    params = sum(p.numel() for p in predictor.parameters())
    grid = f"{args.grid}x{args.grid}"
    size = f"AC {args.width}w/{args.depth}d/{args.heads}h, {args.enc_dim}-d on {grid}, {params / 1e6:.1f}M"
    k, n = args.context_frames, cfg.tokens_per_frame
    frames = torch.nn.functional.layer_norm(torch.randn(k, n, args.enc_dim, device=device), (args.enc_dim,))
    goal = torch.nn.functional.layer_norm(torch.randn(n, args.enc_dim, device=device), (args.enc_dim,))
    past = torch.randn(k - 1, 7, device=device) * 0.02 if k > 1 else None
    states = torch.randn(k, 7, device=device) * 0.1
    variants = {"cached": ACWorldModel(predictor), "naive": ACWorldModel(predictor, cached=False)}
    if args.compile:
        compiled = ACPredictor(cfg, init_weights=False).eval().to(device=device, dtype=dtype)
        compiled.load_state_dict(predictor.state_dict())
        compiled.forward_cached = torch.compile(compiled.forward_cached, dynamic=False)
        variants["compiled"] = ACWorldModel(compiled)
    for model in variants.values():
        model.observe(frames, past, states)
    tag = f"{device.type}, {args.dtype}, {args.samples} x {args.iterations}, {size}"
    print(f"# {tag}; context {k} frame(s); {args.threads} CPU threads; {args.repeats} repeats, interleaved", flush=True)

    cpu_lines = []
    for horizon in (int(h) for h in args.horizons.split(",")):
        config = CEMConfig(
            horizon=horizon,
            samples=args.samples,
            iterations=args.iterations,
            top_k=args.top_k,
            chunk_size=args.chunk_size,
        )
        warm_start = time.perf_counter()
        for name, model in variants.items():
            _timed_plan(model, goal, config, seed=0)  # warm-up (and compilation)
            if name == "compiled":
                print(f"# h{horizon} compile + first plan: {time.perf_counter() - warm_start:.1f} s", flush=True)
        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for repeat in range(args.repeats):
            for name in names if repeat % 2 == 0 else names[::-1]:
                w, c = _timed_plan(variants[name], goal, config, seed=repeat)
                wall[name].append(w)
                cpu[name].append(c)
        med = {name: statistics.median(v) * 1e3 for name, v in wall.items()}
        ratio = statistics.median(n / c for n, c in zip(wall["naive"], wall["cached"]))
        print(
            f"plan ms/action h{horizon}: {med['cached']:.1f} (naive {med['naive']:.1f}, speedup {ratio:.2f}x) [{tag}]",
            flush=True,
        )
        cpu_med = {name: statistics.median(v) * 1e3 for name, v in cpu.items()}
        cpu_ratio = statistics.median(n / c for n, c in zip(cpu["naive"], cpu["cached"]))
        line = (
            f"cpu-time ms/action h{horizon}: {cpu_med['cached']:.1f} "
            f"(naive {cpu_med['naive']:.1f}, speedup {cpu_ratio:.2f}x)"
        )
        if "compiled" in variants:
            line += (
                f"; torch.compile cached: wall {med['compiled']:.1f} ms ({med['cached'] / med['compiled']:.2f}x eager)"
            )
        cpu_lines.append(line)
    for line in cpu_lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
