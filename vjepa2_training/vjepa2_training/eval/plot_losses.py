"""Loss curves of one or more runs as a PNG (CLI ``vjepa2-plot-losses``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from vjepa2_core.files import check_readable_file

from ..train.run_logging import METRICS_CSV, read_metric_pairs


def save_figure(fig: Figure, output: Path) -> Path:
    """Lay out ``fig``, write it to ``output`` (creating the folder; format from the suffix) and close it."""
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return output


def _csv_path(run: Path) -> Path:
    path = run / METRICS_CSV if run.is_dir() else run
    if not path.exists():
        raise FileNotFoundError(f"{run}: no {METRICS_CSV} (pass a run directory or a metrics CSV)")
    return check_readable_file(path, what="metrics CSV")


def _smooth(values: list[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(v) < window:
        return v
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, v[0]), v])
    return np.convolve(padded, kernel, mode="valid")


def plot_losses(
    runs: list[Path],
    output: Path,
    metrics: tuple[str, ...] = ("loss", "fixed_loss"),
    smooth: int = 1,
    log_y: bool = False,
    labels: list[str] | None = None,
) -> Path:
    """One column per run: ``metrics`` against the optimizer step (top) and the learning rate (bottom)."""
    fig, axes = plt.subplots(
        2,
        len(runs),
        figsize=(4.2 * len(runs) + 1.0, 5.2),
        dpi=120,
        sharex="col",
        height_ratios=[3, 1],
        squeeze=False,
    )
    styles = {"loss": "-", "fixed_loss": "o--"}
    plotted = 0
    for i, run in enumerate(runs):
        path = _csv_path(run)
        label = labels[i] if labels else (run.name if run.is_dir() else run.stem)
        ax, ax_lr = axes[0, i], axes[1, i]
        for j, metric in enumerate(metrics):
            steps, values = read_metric_pairs(path, metric)
            if not steps:
                continue
            y = _smooth(values, smooth) if metric == "loss" else np.asarray(values)
            name = f"{metric} (moving avg {smooth})" if metric == "loss" and smooth > 1 else metric
            ax.plot(steps, y, styles.get(metric, ":"), color=f"C{j}", ms=3.5, lw=1.4, label=name)
            plotted += 1
        steps, lrs = read_metric_pairs(path, "lr")
        ax_lr.plot(steps, lrs, color="C7", lw=1.2)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if log_y:
            ax.set_yscale("log")
        ax_lr.set_xlabel("optimizer step")
        ax_lr.grid(alpha=0.3)
        ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    if not plotted:
        raise ValueError(f"none of the metrics {list(metrics)} were found in {[str(r) for r in runs]}")
    axes[0, 0].set_ylabel("L1 loss (fixed_loss: held-out fixed batch)")
    axes[1, 0].set_ylabel("learning rate")
    return save_figure(fig, output)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-plot-losses``."""
    parser = argparse.ArgumentParser(prog="vjepa2-plot-losses", description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="run directories or metrics CSV files")
    parser.add_argument("-o", "--output", type=Path, default=Path("losses.png"))
    parser.add_argument("--metric", action="append", help="columns to plot (default: loss and fixed_loss)")
    parser.add_argument("--label", action="append", help="legend label per run (default: directory name)")
    parser.add_argument("--smooth", type=int, default=1, help="moving-average window for the training loss")
    parser.add_argument("--log-y", action="store_true")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.runs):
        parser.error(f"--label given {len(args.label)} times for {len(args.runs)} runs")
    try:
        metrics = tuple(args.metric) if args.metric else ("loss", "fixed_loss")
        plot_losses(args.runs, args.output, metrics, args.smooth, args.log_y, args.label)
    except (FileNotFoundError, ValueError) as err:
        print(f"vjepa2-plot-losses: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
