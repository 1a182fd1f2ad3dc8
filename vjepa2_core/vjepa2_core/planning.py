"""Goal-image planning with an action-conditioned world model: energy, pose integration and CEM.

Follows V-JEPA 2-AC's planner: the energy of an action sequence is the mean L1 distance between the
layer-normed features predicted after the last action and the goal image's features; the cross-entropy
method samples Δxyz and Δgripper per step (rotation deltas fixed to 0), clips them to a box, keeps the
top-k lowest-energy samples and moves a Gaussian towards them with momentum. The caller executes the
first action and re-plans (receding horizon). Nothing here depends on ROS or on a particular model:
the world model is any callable with the V-JEPA 2-AC predictor's contract.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from vjepa2_core.conventions import euler_xyz_to_matrix, integrate_state, matrix_to_euler_xyz  # noqa: F401
from vjepa2_core.inference import layer_norm_tokens

#: ``step(frame_tokens [B, T*N, D], actions [B, T, 7], states [B, T, 7]) -> next frame tokens [B, N, D]``
#: (layer-normed). Slot t of the AC predictor's output predicts frame t+1, so ``step`` returns the last slot.
WorldModelStep = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class CEMConfig:
    """CEM settings; the defaults are the paper's robot experiments (800 samples, 10 iterations, horizon 1)."""

    horizon: int = 1
    samples: int = 800
    iterations: int = 10
    top_k: int = 10
    max_translation: float = 0.075  # per-axis box on Δx, Δy, Δz (m)
    max_gripper: float = 0.75  # box on Δgripper
    init_std_gripper: float = 1.0
    momentum_mean: float = 0.15  # mean <- (1-m)·elite_mean + m·mean   (xyz)
    momentum_std: float = 0.15
    momentum_mean_gripper: float = 0.15
    momentum_std_gripper: float = 0.15
    plan_gripper: bool = True  # False: Δgripper is fixed to 0
    gripper_deadband: float = 0.25  # |Δgripper| below this is returned as 0
    chunk_size: int = 0  # evaluate samples in chunks of this many (0: all at once)

    def validate(self) -> None:
        problems = [
            f"{name} must be >= 1, got {getattr(self, name)}"
            for name in ("horizon", "samples", "iterations", "top_k")
            if getattr(self, name) < 1
        ]
        if self.top_k > self.samples:
            problems.append(f"top_k ({self.top_k}) cannot exceed samples ({self.samples})")
        if not self.max_translation > 0:
            problems.append(f"max_translation must be > 0 m, got {self.max_translation}")
        for name in ("momentum_mean", "momentum_std", "momentum_mean_gripper", "momentum_std_gripper"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if problems:
            raise ValueError("invalid CEM settings: " + "; ".join(problems))


@dataclass
class PlanResult:
    actions: torch.Tensor  # [H, 7] planned actions (execute actions[0])
    energy: float  # energy of the returned mean plan
    energy_per_iteration: list[float] = field(default_factory=list)  # elite-mean energy per iteration
    seconds: float = 0.0


def predictor_step(predictor: torch.nn.Module, tokens_per_frame: int) -> WorldModelStep:
    """Wrap a V-JEPA 2-AC predictor (``forward(frames, actions, states) -> [B, T*N, D]``) as a
    :data:`WorldModelStep`: the last slot, which predicts the frame after the last action."""

    @torch.inference_mode()
    def step(frames: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        return predictor(frames, actions, states)[:, -tokens_per_frame:]

    return step


def energy(predicted: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Mean |LN(predicted) − LN(goal)| over tokens and channels: [B, N, D] vs [N, D] or [B, N, D] -> [B]."""
    diff = layer_norm_tokens(predicted.float()) - layer_norm_tokens(goal.float())
    return diff.abs().mean(dim=(-2, -1))


def rollout_energy(
    step: WorldModelStep, context: torch.Tensor, state: torch.Tensor, goal: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """Energy of each candidate plan ``actions`` [B, H, 7] from context frame tokens [N, D] and state [7]."""
    batch, horizon = actions.shape[:2]
    frames = context.unsqueeze(0).expand(batch, -1, -1)
    states = state.reshape(1, 1, 7).expand(batch, 1, 7)
    for h in range(horizon):
        predicted = layer_norm_tokens(step(frames, actions[:, : h + 1], states))
        if h + 1 < horizon:
            frames = torch.cat([frames, predicted.to(frames.dtype)], dim=1)
            states = torch.cat([states, integrate_state(states[:, -1], actions[:, h]).unsqueeze(1)], dim=1)
    return energy(predicted, goal)


def cem_plan(
    step: WorldModelStep,
    context: torch.Tensor,
    state: torch.Tensor,
    goal: torch.Tensor,
    config: CEMConfig | None = None,
    generator: torch.Generator | None = None,
    on_iteration: Callable[[int, float, torch.Tensor], None] | None = None,
) -> PlanResult:
    """Plan ``config.horizon`` actions from the current frame tokens ``context`` [N, D] and ``state`` [7]
    towards ``goal`` [N, D] (all layer-normed or not: the energy normalises). ``on_iteration(i, energy,
    mean_action)`` is called after each iteration (for progress feedback and cancellation by raising)."""
    cfg = config or CEMConfig()
    cfg.validate()
    start = time.perf_counter()
    device = context.device
    state = state.to(device=device, dtype=torch.float32)
    dims = 4 if cfg.plan_gripper else 3
    mean = torch.zeros(cfg.horizon, dims, device=device)
    std = torch.full((cfg.horizon, dims), cfg.max_translation, device=device)
    if cfg.plan_gripper:
        std[:, 3] = cfg.init_std_gripper
    lower = torch.tensor([-cfg.max_translation] * 3 + [-cfg.max_gripper], device=device)[:dims]
    upper = -lower
    m_mean = torch.tensor([cfg.momentum_mean] * 3 + [cfg.momentum_mean_gripper], device=device)[:dims]
    m_std = torch.tensor([cfg.momentum_std] * 3 + [cfg.momentum_std_gripper], device=device)[:dims]
    history: list[float] = []

    def to_actions(free: torch.Tensor) -> torch.Tensor:
        actions = torch.zeros(*free.shape[:-1], 7, device=device)
        actions[..., :3] = free[..., :3]
        if cfg.plan_gripper:
            actions[..., 6] = free[..., 3]
        return actions

    for iteration in range(cfg.iterations):
        noise = torch.randn(cfg.samples, cfg.horizon, dims, device=device, generator=generator)
        free = torch.maximum(torch.minimum(mean + std * noise, upper), lower)
        actions = to_actions(free)
        chunk = cfg.chunk_size or cfg.samples
        energies = torch.cat(
            [rollout_energy(step, context, state, goal, actions[i : i + chunk]) for i in range(0, cfg.samples, chunk)]
        )
        elite = free[torch.topk(energies, cfg.top_k, largest=False).indices]
        mean = (1 - m_mean) * elite.mean(dim=0) + m_mean * mean
        std = (1 - m_std) * elite.std(dim=0, unbiased=False) + m_std * std
        elite_energy = float(torch.topk(energies, cfg.top_k, largest=False).values.mean())
        history.append(elite_energy)
        if on_iteration is not None:
            on_iteration(iteration, elite_energy, to_actions(mean)[0])

    plan = to_actions(mean)
    if cfg.plan_gripper:
        plan[:, 6] = torch.where(plan[:, 6].abs() < cfg.gripper_deadband, torch.zeros_like(plan[:, 6]), plan[:, 6])
    final = float(rollout_energy(step, context, state, goal, plan.unsqueeze(0))[0])
    if not math.isfinite(final):
        raise FloatingPointError("the world model produced non-finite features; check the checkpoint and inputs")
    return PlanResult(actions=plan, energy=final, energy_per_iteration=history, seconds=time.perf_counter() - start)
