"""AdamW with V-JEPA 2's parameter groups: no weight decay on biases and other 1-D parameters."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def param_groups(modules: Iterable[nn.Module], weight_decay: float) -> list[dict]:
    """Two groups over the trainable parameters: matrices with ``weight_decay``, biases/norms/1-D without."""
    decay, no_decay = [], []
    for module in modules:
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_adamw(
    modules: Iterable[nn.Module], weight_decay: float, betas: tuple[float, float], eps: float
) -> torch.optim.AdamW:
    """AdamW over ``modules`` (LR is set every step by the schedule)."""
    return torch.optim.AdamW(param_groups(modules, weight_decay), lr=0.0, betas=betas, eps=eps)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
