"""``vjepa2-convert``: convert official ``.pt`` files and HF directories to the vjepa2-core format.

    vjepa2-convert vitg.pt out/vitg                   # encoder + predictor
    vjepa2-convert vitg.pt out/vitg-ema --encoder-entry target_encoder --only encoder
    vjepa2-convert vjepa2-ac-vitg.pt out/ac           # encoder + ac_predictor
    vjepa2-convert ssv2-vitl-16x2x3.pt out/ssv2-probe  # classifier (16 heads unless --classifier-heads)
    vjepa2-convert ~/hf/vjepa2-vitl-fpc64-256 out/vitl
    vjepa2-convert vitg-384.pt out/vitg-384 --img-size 384   # the crop is not stored in official files
    vjepa2-convert vitl.pt --inspect                  # print what is inside and check it, write nothing

Every component is built and loaded strictly before anything is written (same checks as the loaders);
--inspect runs the same checks and exits 1 where a conversion would fail.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .checkpoint import (
    CheckpointError,
    build_from_state_dict,
    read_all_components,
    save_pretrained,
    validate_component,
)

_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


# what to type instead of the Python argument a CheckpointError names (its ``argument``)
_FLAG_FIXES = {
    "encoder.num_heads": "pass --num-heads N",
    "encoder.preset": "pass the right --preset, or none to infer it from the weights",
    "predictor.num_heads": "pass --predictor-heads N",
    "ac_predictor.num_heads": "pass --predictor-heads N",
    "entry": "pass --encoder-entry NAME (or --only to skip the other components)",
    "sizes": "check the file and the size flags (--preset, --num-heads, --predictor-heads, --classifier-heads, "
    "--img-size); nothing was written",
}


def _error(e: CheckpointError | ValueError) -> int:
    fix = _FLAG_FIXES.get(getattr(e, "argument", None) or "")
    message = f"{e.problem}: {fix}" if fix and isinstance(e, CheckpointError) else str(e)
    print(f"vjepa2-convert: error: {message}", file=sys.stderr)
    return 1


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e5 else f"{n:,}"


def _describe(cfg: object) -> str:
    keys = (
        "embed_dim",
        "depth",
        "num_heads",
        "mlp_hidden",
        "enc_embed_dim",
        "num_mask_tokens",
        "img_size",
        "grid_h",
        "grid_w",
        "action_dim",
        "use_extrinsics",
        "num_classes",
        "layer_norm_eps",
    )
    return ", ".join(f"{k}={getattr(cfg, k)}" for k in keys if hasattr(cfg, k))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="vjepa2-convert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("source", type=Path, help="official .pt/.pth file, HF directory, or vjepa2-core checkpoint")
    ap.add_argument("output", type=Path, nargs="?", help="output directory (or NAME.safetensors for a file pair)")
    ap.add_argument("--inspect", action="store_true", help="only print what the checkpoint holds")
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated components to write (encoder,predictor,ac_predictor,classifier)",
    )
    ap.add_argument("--preset", default=None, help="encoder preset (vit_large, vit_huge, vit_giant, vit_giant_384)")
    ap.add_argument(
        "--encoder-entry",
        default=None,
        help="official entry for the encoder (default: encoder, else target_encoder)",
    )
    ap.add_argument("--num-heads", type=int, default=None, help="encoder heads for non-released sizes")
    ap.add_argument("--predictor-heads", type=int, default=None, help="predictor heads for non-released sizes")
    ap.add_argument("--classifier-heads", type=int, default=None, help="probe heads (official probes: 16)")
    ap.add_argument("--img-size", type=int, default=None, help="training crop (256; 384 for ViT-g-384)")
    ap.add_argument("--dtype", default="fp32", choices=sorted(_DTYPES), help="dtype of the written weights")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.output is None and not args.inspect:
        print("vjepa2-convert: give an output path, or --inspect", file=sys.stderr)
        return 2
    try:
        summary, found = read_all_components(
            args.source,
            preset=args.preset,
            num_heads=args.num_heads,
            img_size=args.img_size,
            encoder_entry=args.encoder_entry,
            predictor_num_heads=args.predictor_heads,
            classifier_num_heads=args.classifier_heads,
        )
    except (CheckpointError, ValueError) as e:
        return _error(e)
    print(f"source: {summary.path}")
    print(f"format: {summary.format}")
    print(f"entries: {summary.entries}")
    for c in summary.components:
        preset = f" preset={c.preset}" if c.preset else ""
        print(
            f"  {c.name}: {c.kind} from {c.entry}{preset}, {_fmt_params(c.num_params)} params ({_describe(c.config)})"
        )
    if args.inspect:
        try:  # the same strict checks as a conversion, on the meta device (no weights are copied)
            for name, (kind, cfg, sd) in found.items():
                validate_component(kind, cfg, sd, f"{args.source} [{name}]")
        except CheckpointError as e:
            return _error(e)
        return 0
    wanted = list(found) if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in found]
    if unknown:
        print(
            f"vjepa2-convert: error: --only {','.join(unknown)} not in the checkpoint (it has {', '.join(found)})",
            file=sys.stderr,
        )
        return 1
    dtype = _DTYPES[args.dtype]
    try:
        models = {
            name: build_from_state_dict(
                found[name][0], found[name][1], found[name][2], f"{args.source} [{name}]", dtype=dtype
            )
            for name in wanted
        }
    except CheckpointError as e:
        return _error(e)
    out = save_pretrained(models, args.output, metadata={"source": str(args.source), "source_format": summary.format})
    total = sum(c.num_params for c in summary.components if c.name in wanted)
    print(f"wrote {', '.join(wanted)} ({_fmt_params(total)} params, {args.dtype}) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
