"""Metrics of a training run: CSV (exact float repr), TensorBoard and a tqdm progress bar, on rank 0 only."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import TracebackType

from tqdm import tqdm

from ..fileio import atomic_write_bytes

METRICS_CSV = "metrics.csv"


class RunLogger:
    """One CSV row of scalars per optimizer step, mirrored to TensorBoard, plus a progress bar with ETA.

    Rows after ``resume_step`` (written by a run killed after its last checkpoint) are dropped on resume, so
    the CSV always reads as the history of one uninterrupted run.
    """

    def __init__(
        self,
        run_dir: Path,
        fields: list[str],
        total_steps: int,
        resume_step: int,
        enabled: bool,
        desc: str,
        tensorboard: bool = True,
    ) -> None:
        self.enabled = enabled
        self.csv_path = run_dir / METRICS_CSV
        self.fields = ["step", *fields]
        self._tb = None
        self._bar = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        self._rewrite_csv(resume_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = resume_step + 1 if resume_step else None
            self._tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        self._bar = tqdm(total=total_steps, initial=resume_step, desc=desc, unit="step", dynamic_ncols=True)

    def _rewrite_csv(self, resume_step: int) -> None:
        rows: list[dict[str, str]] = []
        if self.csv_path.exists() and resume_step > 0:
            with self.csv_path.open(newline="") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames and list(reader.fieldnames) != self.fields:
                    raise ValueError(f"{self.csv_path} has columns {reader.fieldnames}, this run logs {self.fields}")
                rows = [r for r in reader if int(r["step"]) <= resume_step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.csv_path, buf.getvalue().encode())

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record ``metrics`` (a subset of the fields) for the completed optimizer step ``step`` (1-based)."""
        if not self.enabled:
            return
        unknown = set(metrics) - set(self.fields)
        if unknown:
            raise KeyError(f"metrics {sorted(unknown)} were not declared as fields of this run")
        row = {"step": step, **{k: repr(float(v)) for k, v in metrics.items()}}
        with self.csv_path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields, restval="").writerow(row)
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(key, value, step)
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            shown = {k: f"{v:.4g}" for k, v in metrics.items() if k in ("loss", "lr")}
            self._bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        """Flush and close TensorBoard and the progress bar."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_metric_pairs(path: Path, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric, only where it was logged."""
    with Path(path).open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get(key) not in (None, "")]
    return [int(r["step"]) for r in rows], [float(r[key]) for r in rows]
