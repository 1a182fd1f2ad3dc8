#!/usr/bin/env python3
"""Encoder speed: vjepa2_core ``VisionEncoder`` vs HF transformers ``VJEPA2Model.get_vision_features``.

Same weights (ours are loaded from the HF model's state dict through our HF key mapping), same input, same
process, runs interleaved (the order alternates every repeat), ``torch.inference_mode``, SDPA in both.

    python benchmarks/encoder_speed.py                      # ViT-L, 16 x 256 x 256, fp32 + bf16, 2 threads
    python benchmarks/encoder_speed.py --repeats 5 --frames 8
    python benchmarks/encoder_speed.py --tiny               # smoke test (seconds)

fp32: fp32 weights and input. bf16: both models converted to bf16 weights (HF's fastest CPU setting).
The speedup is the median over repeats of the paired ratio t_HF / t_ours (each pair runs back to back, which
cancels most of the load from other processes); medians and minima are printed too.
max abs diff: ours vs HF in fp32; ours-bf16 vs HF-fp32 in bf16 (HF-bf16's own error vs HF-fp32 is printed next
to it for scale). The last line has the fixed format
``encoder speedup vs HF: fp32 X.XXx bf16 Y.YYx (max abs diff fp32 A, bf16 B)``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch


def _timed(fn: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="vit_large", help="vit_large, vit_huge, vit_giant, vit_giant_384")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=None, help="input H = W (default: the preset's crop)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument(
        "--tiny", action="store_true", help="tiny random model (hidden 64, 2 layers), 4 x 32 x 32"
    )
    ap.add_argument("--compile", action="store_true", help="torch.compile our encoder (slow first call)")
    args = ap.parse_args()

    from transformers import VJEPA2Config, VJEPA2Model

    from vjepa2_core.checkpoint import build_from_state_dict, hf_configs, hf_to_components
    from vjepa2_core.models import encoder_preset

    torch.set_num_threads(args.threads)
    if args.tiny:
        hf_kw = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=4.0, crop_size=32)
        frames, size = 4, 32
    else:
        p = encoder_preset(args.preset)
        hf_kw = dict(
            hidden_size=p.embed_dim,
            num_hidden_layers=p.depth,
            num_attention_heads=p.num_heads,
            mlp_ratio=p.mlp_hidden / p.embed_dim,
            crop_size=args.size or p.img_size,
        )
        frames, size = args.frames, args.size or p.img_size
    hf_cfg = VJEPA2Config(
        **hf_kw, frames_per_clip=max(frames, 2), pred_num_hidden_layers=1, attn_implementation="sdpa"
    )
    torch.manual_seed(0)
    t0 = time.perf_counter()
    hf = VJEPA2Model(hf_cfg).eval()
    comps = hf_to_components(
        {k: v for k, v in hf.state_dict().items() if k.startswith("encoder.")}, "HF model"
    )
    ours = build_from_state_dict(
        "encoder", hf_configs(hf_cfg.to_dict(), comps, "HF")["encoder"], comps["encoder"], "HF model"
    )
    n_params = sum(v.numel() for v in comps["encoder"].values())
    print(
        f"built HF + ours in {time.perf_counter() - t0:.1f} s; encoder {n_params / 1e6:.1f} M params; "
        f"input 1 x {frames} x 3 x {size} x {size}; threads {torch.get_num_threads()}; "
        f"torch {torch.__version__}",
        flush=True,
    )
    torch.manual_seed(1)
    x_hf = torch.randn(1, frames, 3, size, size)
    x_ours = x_hf.permute(0, 2, 1, 3, 4).contiguous()

    results: dict[str, dict] = {}
    hf_fp32_out: torch.Tensor | None = None
    for dtype_name in args.dtypes.split(","):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
        hf_m, ours_m = hf.to(dtype), ours.to(dtype)
        run_ours = torch.compile(ours_m) if args.compile else ours_m
        xh, xo = x_hf.to(dtype), x_ours.to(dtype)

        def f_hf(m=hf_m, x=xh) -> torch.Tensor:
            with torch.inference_mode():
                return m.get_vision_features(x)

        def f_ours(m=run_ours, x=xo) -> torch.Tensor:
            with torch.inference_mode():
                return m(x)

        _, out_hf = _timed(f_hf)  # warm-up
        _, out_ours = _timed(f_ours)
        t_hf, t_ours = [], []
        for r in range(args.repeats):
            order = (("hf", f_hf), ("ours", f_ours)) if r % 2 == 0 else (("ours", f_ours), ("hf", f_hf))
            for name, fn in order:
                dt, _ = _timed(fn)
                (t_hf if name == "hf" else t_ours).append(dt)
            print(f"  {dtype_name} repeat {r + 1}: HF {t_hf[-1]:.3f} s, ours {t_ours[-1]:.3f} s", flush=True)
        out_hf, out_ours = out_hf.float(), out_ours.float()
        if dtype_name == "fp32":
            hf_fp32_out = out_hf
            diff = (out_ours - out_hf).abs().max().item()
            hf_own = 0.0
        else:
            reference = hf_fp32_out if hf_fp32_out is not None else out_hf
            diff = (out_ours - reference).abs().max().item()
            hf_own = (out_hf - reference).abs().max().item()
        ratios = [h / o for h, o in zip(t_hf, t_ours)]
        results[dtype_name] = dict(speedup=statistics.median(ratios), diff=diff, hf_own=hf_own)
        print(
            f"{dtype_name}: HF median {statistics.median(t_hf):.3f} s (min {min(t_hf):.3f}), ours median "
            f"{statistics.median(t_ours):.3f} s (min {min(t_ours):.3f}); paired speedups "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; max abs diff {diff:.2e}"
            + (f" (HF bf16 vs HF fp32: {hf_own:.2e})" if dtype_name != "fp32" else ""),
            flush=True,
        )

    ok = True
    if "fp32" in results and results["fp32"]["diff"] > 1e-3:
        print(f"FAIL: fp32 outputs differ by {results['fp32']['diff']:.2e} (> 1e-3)")
        ok = False
    if "bf16" in results and "fp32" in results:
        bound = max(2.0 * results["bf16"]["hf_own"], 0.05)
        if results["bf16"]["diff"] > bound:
            print(
                f"FAIL: bf16 error {results['bf16']['diff']:.2e} above 2x HF's own bf16 error ({bound:.2e})"
            )
            ok = False
    s32 = results.get("fp32", {"speedup": float("nan"), "diff": float("nan")})
    s16 = results.get("bf16", {"speedup": float("nan"), "diff": float("nan")})
    print(
        f"encoder speedup vs HF: fp32 {s32['speedup']:.2f}x bf16 {s16['speedup']:.2f}x "
        f"(max abs diff fp32 {s32['diff']:.1e}, bf16 {s16['diff']:.1e})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
