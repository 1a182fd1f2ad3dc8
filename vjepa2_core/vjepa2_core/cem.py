"""The cross-entropy method over 7-D V-JEPA 2-AC action sequences, independent of any world model.

:func:`cem_optimize` minimises ``evaluate(actions [B, H, 7]) -> energies [B]``. As published (official
``notebooks/utils/mpc_utils.py`` and the paper's robot setting): a Gaussian per step and action dimension, mean 0,
samples bounded (per-axis box on Δxyz, the default, or the paper's L1 ball), Δrotation fixed to 0 unless
``plan_rotation``, top-k elites, mean and std moved towards the elites' with momentum (separate for the gripper),
the elites' std unbiased (``torch.std``, as the official planner; ``std_unbiased=False`` gives the biased one),
and the final mean returned with small gripper moves rounded to 0. Beyond the paper, each off by default: warm
start from a previous plan, iCEM's coloured noise and kept elites, early stop, an anytime deadline and a stop
rule against "no motion".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

ACTION_DIM = 7
TRANSLATION, ROTATION, GRIPPER = slice(0, 3), slice(3, 6), 6
BOUNDS = ("box", "l1")

#: ``evaluate(actions [B, H, 7]) -> energies [B]`` (fp32, lower is better).
EnergyFn = Callable[[torch.Tensor], torch.Tensor]
#: ``on_iteration(iteration, elite_energy, mean_first_action [7], elite_first_actions [top_k, 7])``; raise to cancel.
IterationCallback = Callable[[int, float, torch.Tensor, torch.Tensor], None]


@dataclass
class CEMConfig:
    """CEM settings. Defaults: the paper's robot setting (800 samples, 10 iterations, horizon 1, top-k 10,
    momenta 0.15, ±0.075 m per step) with the official planner's choices where the paper says nothing."""

    horizon: int = 1
    samples: int = 800
    iterations: int = 10
    top_k: int = 10
    # bounds: "box" clips Δx, Δy, Δz each to ±max_translation (official code); "l1" projects Δxyz onto the
    # L1 ball of radius max_translation (the paper's wording)
    bound: str = "box"
    max_translation: float = 0.075  # m
    plan_rotation: bool = False  # False: Δrx, Δry, Δrz fixed to 0 (official); True: as jepa-wms plans them
    max_rotation: float = 0.1  # rad, per-axis clip of Δrx, Δry, Δrz (jepa-wms max-norm on dims 3-5)
    plan_gripper: bool = True  # False: Δgripper fixed to 0
    max_gripper: float = 0.75  # per-step clip of Δgripper
    init_std_translation: float = 0.075  # m (official: = maxnorm)
    init_std_rotation: float = 0.1  # rad
    init_std_gripper: float = 1.0
    momentum_mean: float = 0.15  # mean <- (1-m)·elite_mean + m·mean   (xyz and rotation)
    momentum_std: float = 0.15
    momentum_mean_gripper: float = 0.15
    momentum_std_gripper: float = 0.15
    std_unbiased: bool = True  # elites' std as torch.std (official); False: the biased (population) std
    gripper_deadband: float = 0.25  # |Δgripper| below this is returned as 0
    close_gripper: int | None = None  # Δgripper forced to +1 for steps >= this index (official close_gripper)
    # beyond the paper (all off by default)
    warm_start_shift: int = 1  # a warm start drops this many executed steps of the previous plan (0: reuse as is)
    warm_start_keep_std: bool = False  # False: warm start the mean only, std from init_std_*
    noise_beta: float = 0.0  # iCEM coloured noise along the horizon, PSD ~ 1/f^beta (0: white)
    keep_elites: float = 0.0  # iCEM: fraction of top_k elites carried into the next iteration's candidates
    early_stop_patience: int = 0  # stop after this many iterations without elite-energy improvement (0: off)
    early_stop_rtol: float = 0.0  # an improvement must lower the elite energy by more than rtol·|best|
    deadline_s: float = 0.0  # anytime: skip iterations that would end past this many seconds (0: off)
    stop_rule: bool = False  # return zero motion (should_stop) unless a candidate beats it by stop_margin
    stop_margin: float = 0.0  # energy margin for the stop rule
    chunk_size: int = 0  # evaluate candidates in chunks of this many (0: all at once)

    def validate(self) -> None:
        problems = [
            f"{name} must be >= 1, got {getattr(self, name)}"
            for name in ("horizon", "samples", "iterations", "top_k")
            if getattr(self, name) < 1
        ]
        if self.top_k > self.samples:
            problems.append(f"top_k ({self.top_k}) cannot exceed samples ({self.samples})")
        if self.std_unbiased and self.top_k < 2:
            problems.append("the unbiased std needs top_k >= 2 (or set std_unbiased=False)")
        if self.bound not in BOUNDS:
            problems.append(f"bound must be one of {BOUNDS}, got {self.bound!r}")
        for name in ("max_translation", "max_rotation", "max_gripper"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("init_std_translation", "init_std_rotation", "init_std_gripper", "gripper_deadband"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("momentum_mean", "momentum_std", "momentum_mean_gripper", "momentum_std_gripper"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.keep_elites <= 1.0:
            problems.append(f"keep_elites must be in [0, 1], got {self.keep_elites}")
        for name in ("warm_start_shift", "early_stop_patience", "chunk_size"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("early_stop_rtol", "deadline_s", "noise_beta"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.close_gripper is not None and self.close_gripper < 0:
            problems.append(f"close_gripper must be a step index >= 0 or None, got {self.close_gripper}")
        if problems:
            raise ValueError("invalid CEM settings: " + "; ".join(problems))

    def planned_dims(self) -> list[int]:
        """Action dimensions the CEM samples (the others stay 0)."""
        return [0, 1, 2] + ([3, 4, 5] if self.plan_rotation else []) + ([GRIPPER] if self.plan_gripper else [])


@dataclass
class PlanResult:
    """One CEM call. ``mean``/``std`` are the final distribution (for a warm start of the next call)."""

    actions: torch.Tensor  # [H, 7] planned actions (execute actions[0]); zeros when should_stop
    energy: float  # energy of the returned actions
    energy_per_iteration: list[float] = field(default_factory=list)  # elite-mean energy per iteration
    energy_no_motion: float = math.nan  # energy of the all-zero plan
    best_energy: float = math.nan  # lowest energy of any evaluated candidate
    should_stop: bool = False  # stop rule fired: no candidate beat "no motion" by stop_margin
    iterations_run: int = 0
    stop_reason: str = "iterations"  # "iterations", "early_stop" or "deadline"
    seconds: float = 0.0
    elite_first_actions: torch.Tensor | None = None  # [top_k, 7] first actions of the last iteration's elites
    mean: torch.Tensor | None = None  # [H, 7]
    std: torch.Tensor | None = None  # [H, 7]


WarmStart = PlanResult | tuple[torch.Tensor, torch.Tensor]


def project_l1_ball(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Euclidean projection of each row of ``x`` [..., D] onto the L1 ball of ``radius`` (Duchi et al. 2008)."""
    magnitude = x.abs()
    inside = magnitude.sum(dim=-1, keepdim=True) <= radius
    sorted_mag = magnitude.sort(dim=-1, descending=True).values
    cumulative = sorted_mag.cumsum(dim=-1) - radius
    index = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
    support = (sorted_mag - cumulative / index > 0).sum(dim=-1, keepdim=True).clamp(min=1)
    theta = cumulative.gather(-1, support - 1) / support.to(x.dtype)
    projected = torch.sign(x) * (magnitude - theta).clamp(min=0)
    return torch.where(inside, x, projected)


def coloured_noise(
    beta: float, samples: int, length: int, dims: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Unit-variance Gaussian noise ``[samples, length, dims]`` whose power spectrum along ``length`` is
    ~ 1/f^beta (iCEM; beta 0 = white, 2 = brown, strongly correlated from step to step)."""
    if beta == 0 or length == 1:
        return torch.randn(samples, length, dims, device=device, generator=generator)
    freqs = torch.fft.rfftfreq(length, device=device)
    freqs[0] = 1.0 / length  # no infinite power at f = 0
    scale = freqs ** (-beta / 2)
    real = torch.randn(samples, dims, freqs.numel(), device=device, generator=generator) * scale
    imag = torch.randn(samples, dims, freqs.numel(), device=device, generator=generator) * scale
    imag[..., 0] = 0  # the DC and (even length) Nyquist terms are real: give them the full variance
    real[..., 0] *= math.sqrt(2)
    variance = 2 * scale[0] ** 2 + 4 * (scale[1:] ** 2).sum()
    if length % 2 == 0:
        imag[..., -1] = 0
        real[..., -1] *= math.sqrt(2)
        variance = variance - 2 * scale[-1] ** 2
    noise = torch.fft.irfft(torch.complex(real, imag), n=length) * length / variance.sqrt()
    return noise.transpose(1, 2)


def _initial(cfg: CEMConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean 0 and the initial std [H, 7] (0 on dimensions that are not planned)."""
    std = torch.zeros(ACTION_DIM, device=device)
    std[TRANSLATION] = cfg.init_std_translation
    if cfg.plan_rotation:
        std[ROTATION] = cfg.init_std_rotation
    if cfg.plan_gripper:
        std[GRIPPER] = cfg.init_std_gripper
    return torch.zeros(cfg.horizon, ACTION_DIM, device=device), std.expand(cfg.horizon, -1).clone()


def _warm_started(cfg: CEMConfig, warm_start: WarmStart, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The previous plan's distribution shifted by ``warm_start_shift`` steps, the tail from the initial one."""
    prev_mean, prev_std = (warm_start.mean, warm_start.std) if isinstance(warm_start, PlanResult) else warm_start
    if prev_mean is None or prev_std is None:
        raise ValueError("warm_start needs a PlanResult with mean and std (or a (mean, std) pair of [H, 7])")
    if prev_mean.shape[-1] != ACTION_DIM or prev_mean.shape != prev_std.shape or prev_mean.ndim != 2:
        raise ValueError(
            f"warm_start mean/std must both be [H, 7], got {tuple(prev_mean.shape)}, {tuple(prev_std.shape)}"
        )
    mean, std = _initial(cfg, device)
    carried = prev_mean[cfg.warm_start_shift :][: cfg.horizon].to(device=device, dtype=torch.float32)
    planned = torch.zeros(ACTION_DIM, dtype=torch.bool, device=device)
    planned[cfg.planned_dims()] = True
    steps = carried.shape[0]
    mean[:steps] = torch.where(planned, carried, 0.0)
    if cfg.warm_start_keep_std:
        carried_std = prev_std[cfg.warm_start_shift :][: cfg.horizon].to(device=device, dtype=torch.float32)
        std[:steps] = torch.where(planned, carried_std, 0.0)
    return mean, std


def _bounded(cfg: CEMConfig, actions: torch.Tensor) -> torch.Tensor:
    """Apply the bounds and the ``close_gripper`` override to candidate actions [B, H, 7] (in place)."""
    if cfg.bound == "box":
        actions[..., TRANSLATION].clamp_(-cfg.max_translation, cfg.max_translation)
    else:
        actions[..., TRANSLATION] = project_l1_ball(actions[..., TRANSLATION], cfg.max_translation)
    actions[..., ROTATION].clamp_(-cfg.max_rotation, cfg.max_rotation)
    actions[..., GRIPPER].clamp_(-cfg.max_gripper, cfg.max_gripper)
    if cfg.close_gripper is not None:
        actions[..., cfg.close_gripper :, GRIPPER] = 1.0
    return actions


def _evaluate_chunked(evaluate: EnergyFn, actions: torch.Tensor, chunk_size: int) -> torch.Tensor:
    chunk = chunk_size or actions.shape[0]
    return torch.cat([evaluate(actions[i : i + chunk]).float() for i in range(0, actions.shape[0], chunk)])


@torch.inference_mode()
def cem_optimize(
    evaluate: EnergyFn,
    config: CEMConfig | None = None,
    generator: torch.Generator | None = None,
    on_iteration: IterationCallback | None = None,
    warm_start: WarmStart | None = None,
    device: torch.device | str = "cpu",
    clock: Callable[[], float] = time.perf_counter,
) -> PlanResult:
    """Minimise ``evaluate`` over ``config.horizon`` 7-D actions with CEM; see :class:`CEMConfig` for options.

    ``generator`` (on ``device``) seeds the sampling; ``on_iteration`` is called after every iteration and
    cancels the plan by raising; ``warm_start`` is the previous call's result (or its ``(mean, std)``);
    ``clock`` (seconds) times the deadline.
    """
    cfg = config or CEMConfig()
    cfg.validate()
    device = torch.device(device)
    start = clock()
    mean, std = _warm_started(cfg, warm_start, device) if warm_start is not None else _initial(cfg, device)
    m_mean = torch.full((ACTION_DIM,), cfg.momentum_mean, device=device)
    m_std = torch.full((ACTION_DIM,), cfg.momentum_std, device=device)
    m_mean[GRIPPER], m_std[GRIPPER] = cfg.momentum_mean_gripper, cfg.momentum_std_gripper
    n_keep = round(cfg.keep_elites * cfg.top_k)
    kept_actions = torch.empty(0, cfg.horizon, ACTION_DIM, device=device)
    kept_energies = torch.empty(0, device=device)
    history: list[float] = []
    best_energy, best_elite, stale = math.inf, math.inf, 0
    stop_reason = "iterations"
    elite_actions = kept_actions
    iteration_seconds: list[float] = []

    for iteration in range(cfg.iterations):
        iteration_start = clock()
        noise = coloured_noise(cfg.noise_beta, cfg.samples, cfg.horizon, ACTION_DIM, generator, device)
        candidates = _bounded(cfg, mean + std * noise)
        energies = _evaluate_chunked(evaluate, candidates, cfg.chunk_size)
        if not torch.isfinite(energies).all():
            raise FloatingPointError("the world model produced non-finite energies; check the checkpoint and inputs")
        pool = torch.cat([candidates, kept_actions])
        pool_energies = torch.cat([energies, kept_energies])
        elite_energies, elite_index = torch.topk(pool_energies, cfg.top_k, largest=False)  # sorted ascending
        elite_actions = pool[elite_index]
        kept_actions, kept_energies = elite_actions[:n_keep], elite_energies[:n_keep]
        mean = (1 - m_mean) * elite_actions.mean(dim=0) + m_mean * mean
        std = (1 - m_std) * elite_actions.std(dim=0, unbiased=cfg.std_unbiased) + m_std * std
        elite_energy = float(elite_energies.mean())
        best_energy = min(best_energy, float(elite_energies[0]))
        history.append(elite_energy)
        if on_iteration is not None:
            on_iteration(iteration, elite_energy, _bounded(cfg, mean[None].clone())[0, 0], elite_actions[:, 0])
        iteration_seconds.append(clock() - iteration_start)
        if iteration + 1 == cfg.iterations:
            break
        if cfg.early_stop_patience:
            if best_elite - elite_energy > cfg.early_stop_rtol * abs(best_elite) or not math.isfinite(best_elite):
                best_elite, stale = elite_energy, 0
            else:
                stale += 1
                if stale >= cfg.early_stop_patience:
                    stop_reason = "early_stop"
                    break
        if cfg.deadline_s:
            expected = sum(iteration_seconds) / len(iteration_seconds)
            if clock() - start + expected > cfg.deadline_s:
                stop_reason = "deadline"
                break

    plan = _bounded(cfg, mean[None].clone())[0]
    if cfg.plan_gripper:
        small = plan[:, GRIPPER].abs() < cfg.gripper_deadband
        plan[:, GRIPPER] = torch.where(small, torch.zeros_like(plan[:, GRIPPER]), plan[:, GRIPPER])
    final, no_motion = (float(e) for e in evaluate(torch.stack([plan, torch.zeros_like(plan)])).float())
    if not math.isfinite(final):
        raise FloatingPointError("the world model produced non-finite features; check the checkpoint and inputs")
    best_energy = min(best_energy, final)
    should_stop = cfg.stop_rule and not best_energy < no_motion - cfg.stop_margin
    if should_stop:
        plan, final = torch.zeros_like(plan), no_motion
    return PlanResult(
        actions=plan,
        energy=final,
        energy_per_iteration=history,
        energy_no_motion=no_motion,
        best_energy=best_energy,
        should_stop=should_stop,
        iterations_run=len(history),
        stop_reason=stop_reason,
        seconds=clock() - start,
        elite_first_actions=elite_actions[:, 0],
        mean=mean,
        std=std,
    )
