"""Metrics of a training run: CSV (exact float repr), TensorBoard and a tqdm progress bar, on rank 0 only."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import TracebackType

from tqdm import tqdm

from .fileio import atomic_write_bytes

METRICS_CSV = "metrics.csv"


class RunLogger:
    """Logs one row of scalars per optimizer step. Rows after ``resume_step`` (written by a run that was
    killed after its last checkpoint) are dropped on resume, so the CSV is the history of one clean run."""

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        resume_step: int,
        enabled: bool,
        desc: str,
        tensorboard: bool = True,
    ) -> None:
        self.enabled = enabled
        self.csv_path = run_dir / METRICS_CSV
        self._fields: list[str] | None = None
        self._file = None
        self._tb = None
        self._bar = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.csv_path.exists():
            self._truncate_csv(resume_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(
                str(run_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None
            )
        self._bar = tqdm(total=total_steps, initial=resume_step, desc=desc, unit="step", dynamic_ncols=True)

    def _truncate_csv(self, resume_step: int) -> None:
        with self.csv_path.open(newline="") as f:
            rows = list(csv.DictReader(f))
            fields = list(rows[0].keys()) if rows else None
        kept = [r for r in rows if int(r["step"]) <= resume_step]
        buf = io.StringIO()
        if fields:
            writer = csv.DictWriter(buf, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
            self._fields = fields
        atomic_write_bytes(self.csv_path, buf.getvalue().encode())

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record ``metrics`` for the completed optimizer step ``step`` (1-based)."""
        if not self.enabled:
            return
        row = {"step": step, **metrics}
        if self._fields is None or self.csv_path.stat().st_size == 0:
            self._fields = list(row)
            with self.csv_path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=self._fields).writeheader()
        with self.csv_path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore").writerow(
                {k: repr(v) if isinstance(v, float) else v for k, v in row.items()}
            )
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(key, value, step)
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            self._bar.set_postfix(
                {k: f"{v:.4g}" for k, v in metrics.items() if k in ("loss", "lr")}, refresh=False
            )

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


def read_metrics(path: Path) -> dict[str, list[float]]:
    """Columns of a metrics CSV as float lists (``step`` included)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {key: [float(r[key]) for r in rows if r.get(key) not in (None, "")] for key in rows[0]}
