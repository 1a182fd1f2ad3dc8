"""The training loop shared by pretraining and AC post-training.

One loop, any scale: a single process, or N processes under ``torchrun`` (DDP). Per step it sets the LR from
the schedule, runs the task's forward under autocast, steps AdamW, lets the task update its EMA, logs, and
every ``checkpoint_every`` steps writes ``checkpoints/latest.pt`` atomically (rank 0). A run restarted with
the same config resumes from that checkpoint exactly: weights, EMA, optimizer moments, the step (which fixes
the LR and the data position) and the RNG states. SIGTERM/SIGINT (e.g. SLURM pre-emption) make the loop save
a checkpoint at the end of the current step and stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from vjepa2_core.devices import canonical_dtype_name, parse_dtype

from ..config_io import to_dict
from ..data.datasets import ClipDataset, GlobalBatchSampler, collate
from .checkpointing import (
    LATEST,
    CheckpointLoadError,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from .configs import OptimSpec, RunSpec
from .distributed import DistInfo, barrier, init_distributed, mean_across_ranks, shutdown_distributed
from .optim import build_adamw, set_lr
from .run_logging import RunLogger

LOG = logging.getLogger("vjepa2_training")
FIXED_BATCH_SEED_OFFSET = 7919


class Task(ABC):
    """What a training run optimises; the loop handles everything else."""

    kind: str = "task"
    metric_fields: tuple[str, ...] = ()

    @abstractmethod
    def trainable(self) -> nn.Module:
        """The module holding every trained parameter (wrapped in DDP by the loop when distributed)."""

    def set_ddp(self, module: nn.Module) -> None:
        """Receive the DDP-wrapped trainable module (forward must go through it)."""
        self.ddp = module

    @abstractmethod
    def loss(self, batch: dict[str, Tensor], step: int, fixed: bool = False) -> tuple[Tensor, dict[str, float]]:
        """Loss of one (local) batch; ``fixed`` marks the held-out evaluation batch."""

    def after_step(self, step: int) -> None:  # noqa: B027 - optional hook
        """Called after each optimizer step (EMA update)."""

    def find_unused_parameters(self) -> bool:
        """Whether some trained parameters may get no gradient in a step (DDP needs to know)."""
        return False

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Model weights (and EMA) to checkpoint."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def export(self, run_dir: Path) -> None:  # noqa: B027 - optional hook
        """Write the final model artefacts (rank 0, after the last step)."""


@dataclass
class TrainResult:
    """How a call of :func:`run_training` ended."""

    start_step: int
    final_step: int
    completed: bool
    seconds: float


class _StopFlag:
    """Set by SIGTERM/SIGINT; the loop checkpoints and exits at the end of the current step."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # signals can only be set from the main thread
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # second signal: give up immediately
            raise KeyboardInterrupt
        LOG.warning("signal %d: checkpointing at the end of this step, then stopping", signum)
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def configure_runtime(run: RunSpec) -> None:
    """Seeds, thread count and determinism switches (call before building models)."""
    if run.threads:
        torch.set_num_threads(run.threads)
    if run.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(run.seed)


def autocast(info: DistInfo, precision: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on the run's device (or a no-op for fp32); ``precision`` is any core dtype spelling."""
    name = canonical_dtype_name(precision)
    if name == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=info.device.type, dtype=parse_dtype(name))


def _to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def run_training(
    task: Task,
    run: RunSpec,
    optim: OptimSpec,
    info: DistInfo,
    dataset: ClipDataset,
    config: dict[str, Any],
    desc: str,
) -> TrainResult:
    """Train ``task`` for ``run.total_steps`` steps, resuming from ``run_dir/checkpoints/latest.pt``."""
    run_dir = Path(run.run_dir)
    ckpt_dir = run_dir / "checkpoints"
    schedule = optim.schedule(run.total_steps)
    module = task.trainable().to(info.device)
    optimizer = build_adamw([module], optim.weight_decay, optim.betas, optim.eps)

    start_step = 0
    latest = ckpt_dir / LATEST
    if latest.exists():  # anything there (even a FIFO or garbage) is checked, never silently replaced
        state = load_checkpoint(latest, map_location=info.device, kind=task.kind)
        if state["step"] > run.total_steps:
            raise CheckpointLoadError(f"{latest} is at step {state['step']}, beyond total_steps {run.total_steps}")
        task.load_state_dict(state["models"])
        optimizer.load_state_dict(state["optimizer"])
        start_step = int(state["step"])
        rng = state["rng"]
        if info.is_main:
            LOG.warning("resuming %s from %s at step %d", task.kind, latest, start_step)
            changed = sorted(k for k in config if state["config"].get(k) != config[k])
            if changed:
                LOG.warning(
                    "the config differs from the checkpointed run's in %s; continuing with the new one", changed
                )
    else:
        rng = None

    if info.distributed:
        ddp_kwargs: dict[str, Any] = {"find_unused_parameters": task.find_unused_parameters()}
        if info.device.type == "cuda":
            ddp_kwargs["device_ids"] = [info.device.index]
        task.set_ddp(nn.parallel.DistributedDataParallel(module, **ddp_kwargs))
    else:
        task.set_ddp(module)

    sampler = GlobalBatchSampler(
        dataset.index, run.batch_size, run.seed, run.total_steps, start_step, info.rank, info.world_size
    )
    fixed_sampler = GlobalBatchSampler(
        dataset.index, run.batch_size, run.seed + FIXED_BATCH_SEED_OFFSET, 1, 0, info.rank, info.world_size
    )
    fixed_batch = collate([dataset[ref] for ref in fixed_sampler.batch_for_step(0)]) if run.eval_every else None
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=run.num_workers,
        collate_fn=collate,
        pin_memory=info.device.type == "cuda",
        worker_init_fn=_ignore_stop_signals,
    )
    if rng is not None:
        restore_rng(rng)  # after model/loader construction, which may consume random numbers

    fields = ["loss", "lr", *task.metric_fields]
    if optim.grad_clip is not None:
        fields.append("grad_norm")
    if run.eval_every:
        fields.append("fixed_loss")
    logger = RunLogger(run_dir, fields, run.total_steps, start_step, info.is_main, desc, run.tensorboard)
    started = time.monotonic()

    def evaluate() -> float:
        assert fixed_batch is not None
        module.eval()
        with torch.no_grad(), autocast(info, run.precision):
            value, _ = task.loss(_to_device(fixed_batch, info.device), 0, fixed=True)
        module.train()
        return mean_across_ranks(float(value), info)

    def checkpoint(step: int) -> None:
        if info.is_main:
            state = {
                "kind": task.kind,
                "step": step,
                "config": config,
                "world_size": info.world_size,
                "models": task.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": capture_rng(),
            }
            save_checkpoint(ckpt_dir, state, step, run.keep_checkpoints)
        barrier(info)

    step = start_step
    completed = start_step >= run.total_steps
    with logger, _StopFlag() as stop:
        if fixed_batch is not None and start_step == 0:
            logger.log(0, {"fixed_loss": evaluate()})
        module.train()
        batches: Iterator[dict[str, Tensor]] = iter(loader)
        for step in range(start_step, run.total_steps):
            batch = _to_device(next(batches), info.device)
            lr = schedule(step)
            set_lr(optimizer, lr)
            with autocast(info, run.precision):
                loss, metrics = task.loss(batch, step)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{task.kind}: loss became {float(loss)} at step {step + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if optim.grad_clip is not None:
                metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(module.parameters(), optim.grad_clip))
            optimizer.step()
            task.after_step(step)
            done = step + 1
            names = [k for k in metrics if k in fields]
            values, stop_now = _reduce_step([float(loss.detach()), *(metrics[k] for k in names)], stop.requested, info)
            row = {"loss": values[0], "lr": lr, **dict(zip(names, values[1:]))}
            if fixed_batch is not None and (done % run.eval_every == 0 or done == run.total_steps):
                row["fixed_loss"] = evaluate()
            logger.log(done, row)
            if done % run.checkpoint_every == 0 or done == run.total_steps or stop_now:
                checkpoint(done)
            step = done
            if stop_now:
                break
        completed = step >= run.total_steps
        if completed and info.is_main:
            task.export(run_dir)
        barrier(info)
    return TrainResult(start_step, step, completed, time.monotonic() - started)


class TrainingConfig(Protocol):
    """What :func:`train` needs of a run's configuration dataclass (PretrainConfig, ACConfig)."""

    run: RunSpec
    optim: OptimSpec


def train(cfg: TrainingConfig, build: Callable[[DistInfo], tuple[Task, ClipDataset]], desc: str) -> TrainResult:
    """Run (or resume) one training run in one process or under torchrun: set up torch.distributed and the
    runtime, let ``build`` make the task and its dataset for this rank, train, and shut the process group down
    whatever happens."""
    info = init_distributed(cfg.run.device)
    try:
        configure_runtime(cfg.run)
        task, dataset = build(info)
        return run_training(task, cfg.run, cfg.optim, info, dataset, to_dict(cfg), desc=desc)
    finally:
        shutdown_distributed()


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGTERM/SIGINT to the main process, which stops them after checkpointing
    (a scheduler or a terminal sends the signal to the whole process group)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _reduce_step(values: list[float], stop: bool, info: DistInfo) -> tuple[list[float], bool]:
    """Means of the step's scalars over all ranks and whether any rank was asked to stop: one all-reduce."""
    if not info.distributed:
        return values, stop
    t = torch.tensor([*values, 1.0 if stop else 0.0], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    reduced = (t / info.world_size).tolist()
    return reduced[:-1], reduced[-1] > 0
