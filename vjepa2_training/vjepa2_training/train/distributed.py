"""torch.distributed set-up shared by the training entry points (plain ``python`` or ``torchrun``).

Under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is initialised from the environment: NCCL when the
run uses CUDA, gloo on CPU. Multi-node runs use torchrun's rendezvous (``--rdzv-endpoint host:port``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vjepa2_core.devices import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """Rank layout and the device this process trains on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs, shows progress and writes checkpoints)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Initialise the process group when launched by torchrun; a no-op for a single process.

    ``device`` is parsed by :func:`vjepa2_core.devices.resolve_device` (GPU ``LOCAL_RANK`` for plain ``cuda``).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank, dev)


def shutdown_distributed() -> None:
    """Destroy the process group if one was initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for a single process)."""
    if info.distributed:
        dist.barrier()


def mean_across_ranks(value: float, info: DistInfo) -> float:
    """Average a Python float over all ranks."""
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size
