"""Learning-rate and EMA schedules as pure functions of the global step (so resuming needs only the step).

V-JEPA 2 pretraining uses warmup -> constant -> (cooldown) linear decay; V-JEPA 2-AC uses the same
"warmup-stable-decay" (WSD) shape: linear warmup from ``start_lr`` to ``lr``, constant, then a linear anneal
to ``final_lr`` over the last ``decay_steps``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupStableDecay:
    """Piecewise-linear LR schedule over ``total_steps`` optimizer steps."""

    total_steps: int
    warmup_steps: int
    decay_steps: int
    start_lr: float
    lr: float
    final_lr: float

    def validate(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if self.warmup_steps < 0 or self.decay_steps < 0:
            raise ValueError("warmup_steps and decay_steps must be >= 0")
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) + decay_steps ({self.decay_steps}) exceed total_steps "
                f"({self.total_steps})"
            )
        if min(self.start_lr, self.lr, self.final_lr) < 0:
            raise ValueError("learning rates must be >= 0")

    def __call__(self, step: int) -> float:
        """LR for the optimizer step with index ``step`` (0-based)."""
        if step < self.warmup_steps:
            return self.start_lr + (self.lr - self.start_lr) * step / self.warmup_steps
        decay_start = self.total_steps - self.decay_steps
        if step < decay_start or self.decay_steps == 0:
            return self.lr
        progress = min(1.0, (step - decay_start + 1) / self.decay_steps)
        return self.lr + (self.final_lr - self.lr) * progress


def linear(start: float, end: float, step: int, total_steps: int) -> float:
    """Linear interpolation from ``start`` (step 0) to ``end`` (last step); used for the EMA momentum."""
    if total_steps <= 1:
        return end
    return start + (end - start) * min(step, total_steps - 1) / (total_steps - 1)
