"""V-JEPA 2-AC as a planning world model: observe the context once, then plan with cached rollouts.

Timestep t of the AC predictor holds ``[action_t, state_t, frame_t]`` and attention is block-causal, so with K
observed frames the first K-1 timesteps (frames, states and known past actions) are the same for every candidate:
:meth:`ACWorldModel.observe` computes their keys/values once at batch 1 and every rollout broadcasts them. The
first planned action belongs to timestep K-1 (the current frame), so each horizon step h computes only timestep
K-1+h per candidate with :meth:`ACPredictor.forward_cached`; energies equal the naive rollout's
(:func:`vjepa2_core.planning.rollout_energy`), which ``cached=False`` runs instead.
"""

from __future__ import annotations

import contextlib

import torch

from vjepa2_core.cem import CEMConfig, IterationCallback, PlanResult, WarmStart, cem_optimize
from vjepa2_core.conventions import apply_action_torch
from vjepa2_core.inference import layer_norm_tokens
from vjepa2_core.models import ACKVCache, ACPredictor
from vjepa2_core.planning import Observation, energy, predictor_step, rollout_energy


class ACWorldModel:
    """Plans with a V-JEPA 2-AC predictor: ``observe(...)`` the context, then ``plan(goal, config)``.

    ``dtype``: compute dtype through ``torch.autocast`` (e.g. ``torch.bfloat16`` on GPUs and AMX CPUs); None runs
    the predictor in its own dtype (cast it, ``predictor.to(torch.bfloat16)``, for the fastest CPU path).
    Energies are always computed in fp32. ``cached=False`` plans with the naive rollout (the reference).
    """

    def __init__(
        self,
        predictor: ACPredictor,
        tokens_per_frame: int | None = None,
        *,
        dtype: torch.dtype | None = None,
        cached: bool = True,
    ) -> None:
        expected = predictor.cfg.tokens_per_frame
        if tokens_per_frame is not None and tokens_per_frame != expected:
            raise ValueError(
                f"tokens_per_frame {tokens_per_frame} does not match the predictor's "
                f"{predictor.cfg.grid_h}x{predictor.cfg.grid_w} grid ({expected} tokens per frame)"
            )
        self.predictor = predictor
        self.tokens_per_frame = expected
        self.dtype = dtype
        self.cached = cached
        self.device = predictor.predictor_embed.weight.device
        self.observation: Observation | None = None
        self._context_cache: ACKVCache | None = None

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None or self.dtype == self.predictor.predictor_embed.weight.dtype:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @torch.inference_mode()
    def observe(
        self,
        frames: torch.Tensor,
        past_actions: torch.Tensor | None,
        states: torch.Tensor,
        extrinsics: torch.Tensor | None = None,
    ) -> None:
        """Set the context: frames [K, N, D] (or [N, D]) tokens, the K-1 actions between them, states [K, 7].

        ``extrinsics`` [6] or [K, 6] only for a predictor built with ``use_extrinsics`` (the last row is reused
        for predicted timesteps).
        """
        cfg = self.predictor.cfg
        obs = Observation.of(frames.to(self.device), states.to(self.device), past_actions, extrinsics)
        if obs.frames.shape[1:] != (cfg.tokens_per_frame, cfg.enc_embed_dim):
            raise ValueError(
                f"context frames have {tuple(obs.frames.shape[1:])} tokens x dims per frame; this predictor takes "
                f"{cfg.tokens_per_frame} x {cfg.enc_embed_dim} ({cfg.grid_h}x{cfg.grid_w} grid)"
            )
        if cfg.use_extrinsics != (obs.extrinsics is not None):
            raise ValueError(
                "this predictor uses extrinsics: pass extrinsics [6] or [K, 6]"
                if cfg.use_extrinsics
                else "extrinsics given but the predictor was built with use_extrinsics=False"
            )
        self.observation, self._context_cache = obs, None
        k = obs.num_frames
        if k > 1:
            with self._autocast():
                _, self._context_cache = self.predictor.forward_cached(
                    obs.frames[:-1].reshape(1, (k - 1) * cfg.tokens_per_frame, -1),
                    obs.past_actions.unsqueeze(0),
                    obs.states[:-1].unsqueeze(0),
                    None if obs.extrinsics is None else obs.extrinsics[:-1].unsqueeze(0),
                )

    def _require_observation(self) -> Observation:
        if self.observation is None:
            raise RuntimeError("call observe(frames, past_actions, states) before planning")
        return self.observation

    @torch.inference_mode()
    def rollout_energy(self, actions: torch.Tensor, goal: torch.Tensor, cached: bool | None = None) -> torch.Tensor:
        """Energies [B] of candidate plans ``actions`` [B, H, 7] towards ``goal`` tokens [N, D]."""
        obs = self._require_observation()
        actions = actions.to(device=self.device, dtype=torch.float32)
        goal = goal.to(self.device)
        with self._autocast():
            if not (self.cached if cached is None else cached):
                step = predictor_step(self.predictor, self.tokens_per_frame, obs.extrinsics)
                return rollout_energy(step, obs.frames, obs.states, goal, actions, obs.past_actions)
            return self._cached_rollout_energy(obs, actions, goal)

    def _cached_rollout_energy(self, obs: Observation, actions: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        cache = self._context_cache
        frame = obs.frames[-1:]  # [1, N, D]: the current frame, shared by every candidate
        state = obs.states[-1:]  # [1, 7]
        extrinsics = None if obs.extrinsics is None else obs.extrinsics[-1:].unsqueeze(0)
        horizon = actions.shape[1]
        for h in range(horizon):
            action = actions[:, h : h + 1]
            if cache is None and h + 1 == horizon:  # nothing cached, nothing to cache: the plain (faster) forward
                predicted = self.predictor(frame, action, state.unsqueeze(1), extrinsics)
            else:
                predicted, cache = self.predictor.forward_cached(
                    frame, action, state.unsqueeze(1), extrinsics, cache=cache
                )
            predicted = layer_norm_tokens(predicted)
            if h + 1 < horizon:
                frame, state = predicted.to(obs.frames.dtype), apply_action_torch(state, action[:, 0])
        return energy(predicted, goal)

    def plan(
        self,
        goal: torch.Tensor,
        config: CEMConfig | None = None,
        generator: torch.Generator | None = None,
        on_iteration: IterationCallback | None = None,
        warm_start: WarmStart | None = None,
    ) -> PlanResult:
        """CEM from the observed context towards ``goal`` tokens [N, D]; see :class:`vjepa2_core.cem.CEMConfig`.

        ``generator`` must be on the predictor's device; ``on_iteration`` gets (iteration, elite energy, mean first
        action [7], elites' first actions [top_k, 7]) and cancels by raising; ``warm_start``: the previous result.
        """
        self._require_observation()
        cfg = self.predictor.cfg
        if tuple(goal.shape) != (cfg.tokens_per_frame, cfg.enc_embed_dim):
            raise ValueError(
                f"goal must be [{cfg.tokens_per_frame}, {cfg.enc_embed_dim}] tokens, got {tuple(goal.shape)}"
            )
        return cem_optimize(
            lambda actions: self.rollout_energy(actions, goal),
            config,
            generator,
            on_iteration,
            warm_start,
            device=self.device,
        )
