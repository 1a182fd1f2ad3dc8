"""The planner's model side, free of ROS: load the V-JEPA 2-AC predictor, check embeddings against it, plan.

Everything numeric is vjepa2_core's (the checkpoint loaders, :class:`~vjepa2_core.world_model.ACWorldModel`:
cached rollouts and CEM, ``energy``); this module turns node parameters into those calls and failures into one
clear error.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vjepa2_common.paths import resolve_path
from vjepa2_core.checkpoint import CheckpointError, load_ac_predictor
from vjepa2_core.devices import parse_dtype, resolve_device
from vjepa2_core.models import ACPredictor, ACPredictorConfig
from vjepa2_core.planning import CEMConfig, PlanResult, energy
from vjepa2_core.world_model import ACWorldModel

#: checkpoint value that builds a predictor of the given size with random weights (tests, set-up checks)
RANDOM_CHECKPOINT = "random"


class ModelLoadError(RuntimeError):
    """The AC predictor could not be loaded; the message names the file and what to fix."""


class EmbeddingMismatch(ValueError):
    """An embedding does not fit the loaded predictor (model id, feature dim or token grid)."""


@dataclass(frozen=True)
class PredictorSpec:
    """What to load (the node's ``predictor.*`` parameters); sizes apply to 'random' and to what a file lacks."""

    checkpoint: str
    entry: str = ""
    enc_embed_dim: int = 1408
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    grid_size: int = 16
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"


@dataclass
class Plan:
    """One CEM call: the planned actions (execute ``actions[0]``), energies and timing."""

    actions: np.ndarray  # [H, 7]
    energy: float  # energy of the returned plan
    energy_per_iteration: list[float] = field(default_factory=list)
    elite_first_actions: np.ndarray | None = None  # [K, 7] of the last iteration
    seconds: float = 0.0
    should_stop: bool = False  # CEM's stop rule: no candidate beats "no motion" by cem.stop_margin
    stop_reason: str = "iterations"  # "iterations", "early_stop" or "deadline"
    result: PlanResult | None = None  # vjepa2_core's result (the warm start of the next call)


#: ``on_iteration(iteration (0-based), elite energy, mean first action [7])``; raise to stop planning
IterationCallback = Callable[[int, float, np.ndarray], None]


class PlannerModel:
    """A loaded AC predictor with the checks and the CEM call the planner node needs. Not thread-safe."""

    def __init__(self, spec: PredictorSpec, expected_model_id: str = "") -> None:
        try:
            self.device = resolve_device(spec.device)
            self.dtype = parse_dtype(spec.dtype)
        except ValueError as exc:
            raise ModelLoadError(f"predictor.device / predictor.dtype: {exc}") from exc
        self.spec = spec
        self.expected_model_id = expected_model_id
        self.predictor = self._load(spec).eval()
        cfg = self.predictor.cfg
        self.config: ACPredictorConfig = cfg
        self.grid = (1, cfg.grid_h, cfg.grid_w)
        self.dim = cfg.enc_embed_dim
        self.model_id = f"ac_predictor:{Path(spec.checkpoint).name or spec.checkpoint}"
        self.world = ACWorldModel(self.predictor)

    def _load(self, spec: PredictorSpec) -> ACPredictor:
        if spec.checkpoint == RANDOM_CHECKPOINT:
            torch.manual_seed(spec.seed)
            try:
                cfg = ACPredictorConfig(
                    enc_embed_dim=spec.enc_embed_dim,
                    embed_dim=spec.embed_dim,
                    depth=spec.depth,
                    num_heads=spec.num_heads,
                    grid_h=spec.grid_size,
                    grid_w=spec.grid_size,
                )
            except ValueError as exc:
                raise ModelLoadError(f"predictor sizes: {exc}") from exc
            return ACPredictor(cfg).to(device=self.device, dtype=self.dtype)
        if not spec.checkpoint:
            raise ModelLoadError(
                "predictor.checkpoint is empty; set it to vjepa2-ac-vitg.pt, a vjepa2_core AC checkpoint "
                f"(vjepa2-train-ac) or '{RANDOM_CHECKPOINT}' for random weights"
            )
        try:
            path = Path(resolve_path(spec.checkpoint))  # package://PKG/PATH: a file shipped in a package
        except (FileNotFoundError, ValueError) as exc:
            raise ModelLoadError(f"predictor.checkpoint {exc}") from exc
        if not path.exists():
            raise ModelLoadError(f"predictor.checkpoint '{path}' does not exist; check the path")
        try:
            return load_ac_predictor(
                path,
                spec.entry or None,
                num_heads=spec.num_heads or None,
                grid=(spec.grid_size, spec.grid_size),
                device=self.device,
                dtype=self.dtype,
            )
        except (CheckpointError, ValueError, OSError, RuntimeError, KeyError, EOFError) as exc:
            raise ModelLoadError(f"cannot load the AC predictor from predictor.checkpoint '{path}': {exc}") from exc

    # ------------------------------------------------------------------------------------------ checks
    def check_embedding(self, model_id: str, dim: int, grid: Sequence[int], num_tokens: int, what: str) -> None:
        """EmbeddingMismatch (what was wrong and how to fix it) unless the embedding fits the predictor."""
        if self.expected_model_id and model_id != self.expected_model_id:
            raise EmbeddingMismatch(
                f"{what} comes from encoder '{model_id}' but the planner expects '{self.expected_model_id}' "
                "(encoder_model_id); run the encoder the predictor was trained on, or change encoder_model_id"
            )
        if dim != self.dim:
            raise EmbeddingMismatch(
                f"{what} from '{model_id}' has {dim}-dim tokens but the AC predictor ({self.model_id}) takes "
                f"{self.dim}-dim tokens; run the encoder the predictor was trained on (vjepa2-ac-vitg.pt: ViT-g, 1408)"
            )
        if tuple(int(g) for g in grid) != self.grid or num_tokens != self.config.tokens_per_frame:
            raise EmbeddingMismatch(
                f"{what} from '{model_id}' has a token grid {list(grid)} ({num_tokens} tokens) but the AC predictor "
                f"takes one frame of {list(self.grid)}; run the encoder in per_frame mode with crop_size = "
                f"{16 * self.config.grid_w} (or set predictor.grid_size)"
            )

    # ------------------------------------------------------------------------------------------ maths
    def energy(self, tokens: np.ndarray, goal: np.ndarray) -> float:
        """V-JEPA 2-AC energy between an observation's and a goal's token maps [N, D]."""
        return float(energy(torch.from_numpy(tokens).unsqueeze(0), torch.from_numpy(goal))[0])

    def plan(
        self,
        tokens: np.ndarray,
        state: np.ndarray,
        goal: np.ndarray,
        config: CEMConfig,
        seed: int,
        on_iteration: IterationCallback | None = None,
        warm_start: Plan | None = None,
    ) -> Plan:
        """CEM from the observation ``tokens`` [N, D] and ``state`` [7] towards ``goal`` [N, D] (cached rollouts).

        ``warm_start``: the previous step's plan (shifted by vjepa2_core), or None for the paper's cold start.
        """
        generator = torch.Generator(device=self.device).manual_seed(seed)
        context = torch.from_numpy(np.ascontiguousarray(tokens)).to(self.device, self.dtype)
        state_t = torch.as_tensor(np.asarray(state, np.float32), device=self.device).reshape(1, 7)
        goal_t = torch.from_numpy(np.ascontiguousarray(goal)).to(self.device, torch.float32)

        def iteration(i: int, elite_energy: float, mean_action: torch.Tensor, _elites: torch.Tensor) -> None:
            if on_iteration is not None:
                on_iteration(i, elite_energy, mean_action.detach().float().cpu().numpy())

        self.world.observe(context, None, state_t)
        previous = warm_start.result if warm_start is not None else None
        result = self.world.plan(goal_t, config, generator, iteration, previous)
        if not np.isfinite(result.energy):
            raise FloatingPointError("the AC predictor produced non-finite features; check the checkpoint and inputs")
        elites = result.elite_first_actions
        return Plan(
            actions=result.actions.detach().float().cpu().numpy().astype(float),
            energy=float(result.energy),
            energy_per_iteration=list(result.energy_per_iteration),
            elite_first_actions=None if elites is None else elites.detach().float().cpu().numpy().astype(float),
            seconds=float(result.seconds),
            should_stop=bool(result.should_stop),
            stop_reason=result.stop_reason,
            result=result,
        )

    def release(self) -> None:
        self.predictor = None  # type: ignore[assignment]
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
