"""Goal-image planning with an action-conditioned world model: energy, pose integration, rollouts and CEM.

Follows V-JEPA 2-AC's planner: the energy of an action sequence is the mean L1 distance between the
layer-normed features predicted after the last action and the goal image's features. The CEM itself is in
:mod:`vjepa2_core.cem` (re-exported here); :class:`vjepa2_core.world_model.ACWorldModel` plans with the AC
predictor's KV cache. This module keeps the naive rollout, the reference for any world model with the
:data:`WorldModelStep` contract: every horizon step re-runs the whole history (observed context + predictions).
The caller executes the first action and re-plans (receding horizon). Nothing here depends on ROS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vjepa2_core.cem import CEMConfig, IterationCallback, PlanResult, WarmStart, cem_optimize
from vjepa2_core.conventions import euler_xyz_to_matrix, integrate_state, matrix_to_euler_xyz
from vjepa2_core.inference import layer_norm_tokens

__all__ = [
    "CEMConfig",
    "Observation",
    "PlanResult",
    "WorldModelStep",
    "cem_plan",
    "energy",
    "euler_xyz_to_matrix",
    "integrate_state",
    "matrix_to_euler_xyz",
    "predictor_step",
    "rollout_energy",
]

#: ``step(frame_tokens [B, T*N, D], actions [B, T, 7], states [B, T, 7]) -> next frame tokens [B, N, D]``
#: (layer-normed). Slot t of the AC predictor's output predicts frame t+1, so ``step`` returns the last slot.
WorldModelStep = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Observation:
    """Observed context: K >= 1 frames' tokens, their states, the K-1 actions between them, their extrinsics.

    The last frame is the current one; the first planned action is applied from its state.
    """

    frames: torch.Tensor  # [K, N, D]
    states: torch.Tensor  # [K, 7] (float32)
    past_actions: torch.Tensor  # [K-1, 7] (float32)
    extrinsics: torch.Tensor | None = None  # [K, 6] (float32), only for predictors with use_extrinsics

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @classmethod
    def of(
        cls,
        frames: torch.Tensor,
        states: torch.Tensor,
        past_actions: torch.Tensor | None = None,
        extrinsics: torch.Tensor | None = None,
    ) -> Observation:
        """Check and normalise shapes: frames [N, D] or [K, N, D], states [7] or [K, 7], past_actions [K-1, 7]."""
        frames = frames.unsqueeze(0) if frames.ndim == 2 else frames
        if frames.ndim != 3 or frames.shape[0] < 1:
            raise ValueError(f"context frames must be [N, D] or [K, N, D] tokens, got {tuple(frames.shape)}")
        k, device = frames.shape[0], frames.device
        states = states.reshape(1, -1) if states.ndim == 1 else states
        if tuple(states.shape) != (k, 7):
            raise ValueError(
                f"states must be [{k}, 7] for {k} context frames (or [7] for one), got {tuple(states.shape)}"
            )
        if past_actions is None:
            if k > 1:
                raise ValueError(f"{k} context frames need their {k - 1} past actions [{k - 1}, 7]")
            past_actions = torch.zeros(0, 7)
        if tuple(past_actions.shape) != (k - 1, 7):
            raise ValueError(
                f"past_actions must be [{k - 1}, 7] (the actions between {k} context frames), "
                f"got {tuple(past_actions.shape)}"
            )
        if extrinsics is not None:
            extrinsics = extrinsics.reshape(1, -1) if extrinsics.ndim == 1 else extrinsics
            if extrinsics.ndim != 2 or extrinsics.shape[0] not in (1, k):
                raise ValueError(f"extrinsics must be [6] or [{k}, 6], got {tuple(extrinsics.shape)}")
            extrinsics = extrinsics.to(device=device, dtype=torch.float32).expand(k, -1)
        as_float = {"device": device, "dtype": torch.float32}
        return cls(frames, states.to(**as_float), past_actions.to(**as_float), extrinsics)


def predictor_step(
    predictor: torch.nn.Module, tokens_per_frame: int, extrinsics: torch.Tensor | None = None
) -> WorldModelStep:
    """Wrap a V-JEPA 2-AC predictor (``forward(frames, actions, states) -> [B, T*N, D]``) as a
    :data:`WorldModelStep`: the last slot, which predicts the frame after the last action.

    ``extrinsics`` [6] or [K, 6] (predictors with ``use_extrinsics``): timestep t gets row t; timesteps after
    the last row repeat it (a fixed camera).
    """
    if extrinsics is not None:
        extrinsics = extrinsics.reshape(-1, extrinsics.shape[-1])

    @torch.inference_mode()
    def step(frames: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        if extrinsics is None:
            return predictor(frames, actions, states)[:, -tokens_per_frame:]
        steps = actions.shape[1]
        rows = torch.arange(steps, device=extrinsics.device).clamp(max=extrinsics.shape[0] - 1)
        return predictor(frames, actions, states, extrinsics[rows].unsqueeze(0))[:, -tokens_per_frame:]

    return step


def energy(predicted: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Mean |LN(predicted) − LN(goal)| over tokens and channels: [B, N, D] vs [N, D] or [B, N, D] -> [B]."""
    diff = layer_norm_tokens(predicted.float()) - layer_norm_tokens(goal.float())
    return diff.abs().mean(dim=(-2, -1))


def rollout_energy(
    step: WorldModelStep,
    context: torch.Tensor,
    state: torch.Tensor,
    goal: torch.Tensor,
    actions: torch.Tensor,
    past_actions: torch.Tensor | None = None,
) -> torch.Tensor:
    """Energy of each candidate plan ``actions`` [B, H, 7] by the naive rollout.

    The context is one frame (``context`` [N, D], ``state`` [7]) or K observed frames ([K, N, D], [K, 7]) with
    the K-1 ``past_actions`` [K-1, 7] between them. Horizon step h runs ``step`` on all K + h timesteps.
    """
    obs = Observation.of(context, state, past_actions)
    batch, horizon = actions.shape[:2]
    k, n, d = obs.frames.shape
    frames = obs.frames.reshape(1, k * n, d).expand(batch, -1, -1)
    states = obs.states.unsqueeze(0).expand(batch, -1, -1)
    known = obs.past_actions.unsqueeze(0).expand(batch, -1, -1).to(actions.dtype)
    for h in range(horizon):
        predicted = layer_norm_tokens(step(frames, torch.cat([known, actions[:, : h + 1]], dim=1), states))
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
    on_iteration: IterationCallback | None = None,
    warm_start: WarmStart | None = None,
    past_actions: torch.Tensor | None = None,
) -> PlanResult:
    """Plan ``config.horizon`` actions from the context (see :func:`rollout_energy`) towards ``goal`` [N, D]
    with the naive rollout (tokens layer-normed or not: the energy normalises). The options, ``warm_start``
    and ``on_iteration(iteration, elite_energy, mean_first_action, elite_first_actions)`` (raise to cancel) are
    those of :func:`vjepa2_core.cem.cem_optimize`. :class:`vjepa2_core.world_model.ACWorldModel` plans the same
    with the AC predictor's KV cache."""
    Observation.of(context, state, past_actions)  # bad shapes fail here, once

    def evaluate(actions: torch.Tensor) -> torch.Tensor:
        return rollout_energy(step, context, state, goal, actions, past_actions)

    return cem_optimize(evaluate, config, generator, on_iteration, warm_start, device=context.device)
