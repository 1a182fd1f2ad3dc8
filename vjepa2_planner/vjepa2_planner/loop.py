"""The receding-horizon loop of one PlanToGoal goal, free of ROS: observe -> check -> plan -> act -> repeat.

The node supplies the I/O (:class:`LoopIO`: fresh observations, motion, feedback) and the safety layer;
this module holds the sequencing: sub-goals with their step budgets, the success test, ``max_steps``,
cancellation and preemption through a :class:`GoalControl`, and the energy history of the result.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vjepa2_core.limits import CommandError
from vjepa2_core.planning import CEMConfig

from .safety import MotionBlocked, SafeAction, SafetyLayer
from .world_model import EmbeddingMismatch, Plan, PlannerModel


class Outcome(enum.IntEnum):
    """``PlanToGoal.Result.outcome`` values."""

    REACHED = 0
    MAX_STEPS = 1
    CANCELED = 2
    ERROR = 3


class Phase(enum.IntEnum):
    """``PlannerStatus.state`` values."""

    IDLE = 0
    ENCODING = 1
    PLANNING = 2
    EXECUTING = 3
    SUCCEEDED = 4
    FAILED = 5
    CANCELED = 6


class GoalStopped(Exception):
    """Raised inside the loop when its GoalControl was stopped (cancel, preemption, watchdog, e-stop)."""


class LoopError(RuntimeError):
    """The goal cannot go on (no fresh observation, a service down, ...); the message says why."""


class GoalControl:
    """Stop flag of one running goal; the first stop (outcome + reason) wins. Thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.outcome: Outcome | None = None
        self.reason = ""

    def stop(self, outcome: Outcome, reason: str) -> bool:
        with self._lock:
            if self._event.is_set():
                return False
            self.outcome, self.reason = outcome, reason
            self._event.set()
            return True

    @property
    def stopped(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def raise_if_stopped(self) -> None:
        if self._event.is_set():
            raise GoalStopped(self.reason)


@dataclass
class Observation:
    """An embedding of a camera frame and the end-effector state at its capture time."""

    tokens: np.ndarray  # [N, D]
    state: np.ndarray  # [7]
    stamp_ns: int  # capture stamp of the frame (node clock)
    encode_s: float = 0.0  # frame stamp -> embedding received


@dataclass
class Motion:
    """What executing one action gave: whether it settled, when (node clock), and the state afterwards."""

    settled: bool
    settled_ns: int
    state: np.ndarray | None
    message: str = ""


@dataclass
class Status:
    """One feedback message (``PlannerStatus``), ROS-free."""

    phase: Phase
    goal_index: int = 0
    step: int = 0
    cem_iteration: int = 0
    cem_iterations: int = 0
    energy: float = float("nan")
    best_energy: float = float("nan")
    energy_per_iteration: list[float] = field(default_factory=list)
    chosen_action: np.ndarray = field(default_factory=lambda: np.zeros(7))
    ee_state: np.ndarray = field(default_factory=lambda: np.zeros(7))
    stamp_ns: int = 0
    encode_time_s: float = 0.0
    plan_time_s: float = 0.0
    execute_time_s: float = 0.0
    message: str = ""


@dataclass
class GoalResult:
    """``PlanToGoal.Result``, ROS-free."""

    outcome: Outcome
    message: str
    final_energy: float = float("nan")
    steps_executed: int = 0
    energy_history: list[float] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.outcome == Outcome.REACHED


class LoopIO(Protocol):
    """What the loop needs from the node."""

    def now_ns(self) -> int: ...

    def observe(self, after_ns: int, control: GoalControl) -> Observation:
        """The first observation of a frame captured after ``after_ns``; raises GoalStopped or RuntimeError."""

    def execute(self, action: SafeAction, state: np.ndarray, control: GoalControl) -> Motion:
        """Command ``action`` from ``state`` and return when the motion is over (or stopped)."""

    def feedback(self, status: Status, plan: Plan | None = None) -> None: ...


@dataclass
class LoopSettings:
    energy_tolerance: float
    max_steps: int
    cem: CEMConfig
    seed: int = 0
    warm_start: bool = False  # each step's CEM starts from the previous step's plan (within a sub-goal)


def run_goal(
    goals: Sequence[np.ndarray],
    steps_per_goal: Sequence[int],
    settings: LoopSettings,
    model: PlannerModel,
    safety: SafetyLayer,
    io: LoopIO,
    control: GoalControl,
) -> GoalResult:
    """Pursue ``goals`` (token maps, in order) until the last is reached, the steps run out or it is stopped.

    A sub-goal is left when its energy falls to the tolerance or its budget (``steps_per_goal[i]``, 0 or
    missing = ``max_steps``) is spent; ``max_steps`` bounds the executed actions of the whole goal. Every
    plan starts from a frame captured after the previous motion settled.
    """
    history: list[float] = []
    steps = 0
    energy = float("nan")
    after_ns = io.now_ns()
    try:
        for index, goal in enumerate(goals):
            last = index == len(goals) - 1
            budget = steps_per_goal[index] if index < len(steps_per_goal) and steps_per_goal[index] else None
            taken = 0
            previous: Plan | None = None
            while True:
                control.raise_if_stopped()
                io.feedback(Status(Phase.ENCODING, goal_index=index, step=steps, message="waiting for a fresh frame"))
                obs = io.observe(after_ns, control)
                energy = model.energy(obs.tokens, goal)
                if steps:
                    history.append(energy)
                base = Status(
                    Phase.PLANNING,
                    goal_index=index,
                    step=steps,
                    energy=energy,
                    ee_state=obs.state,
                    stamp_ns=obs.stamp_ns,
                    encode_time_s=obs.encode_s,
                    cem_iterations=settings.cem.iterations,
                )
                if energy <= settings.energy_tolerance:
                    if last:
                        return GoalResult(
                            Outcome.REACHED,
                            f"reached the goal: energy {energy:.4f} <= tolerance {settings.energy_tolerance:g} "
                            f"after {steps} step(s)",
                            energy,
                            steps,
                            history,
                        )
                    break
                if steps >= settings.max_steps:
                    return GoalResult(
                        Outcome.MAX_STEPS,
                        f"max_steps ({settings.max_steps}) executed; energy {energy:.4f} > tolerance "
                        f"{settings.energy_tolerance:g}",
                        energy,
                        steps,
                        history,
                    )
                if budget is not None and taken >= budget:
                    if last:
                        return GoalResult(
                            Outcome.MAX_STEPS,
                            f"the last goal's {budget} step(s) executed; energy {energy:.4f} > tolerance "
                            f"{settings.energy_tolerance:g}",
                            energy,
                            steps,
                            history,
                        )
                    break
                warm = previous if settings.warm_start else None
                plan = previous = _plan_step(model, obs, goal, settings, steps, base, io, control, warm)
                control.raise_if_stopped()
                if plan.should_stop:  # CEM's stop rule: nothing beats standing still
                    if last:
                        return GoalResult(
                            Outcome.MAX_STEPS,
                            f"stop rule: no candidate beats no motion by cem.stop_margin; energy {energy:.4f} > "
                            f"tolerance {settings.energy_tolerance:g} after {steps} step(s)",
                            energy,
                            steps,
                            history,
                        )
                    break
                try:
                    safe = safety.check_action(plan.actions[0], io.now_ns())
                except MotionBlocked as exc:
                    raise GoalStopped(str(exc)) from exc
                executing = Status(
                    Phase.EXECUTING,
                    goal_index=index,
                    step=steps,
                    cem_iteration=settings.cem.iterations,
                    cem_iterations=settings.cem.iterations,
                    energy=plan.energy,
                    best_energy=min(plan.energy_per_iteration, default=plan.energy),
                    energy_per_iteration=plan.energy_per_iteration,
                    chosen_action=safe.action,
                    ee_state=obs.state,
                    stamp_ns=obs.stamp_ns,
                    encode_time_s=obs.encode_s,
                    plan_time_s=plan.seconds,
                    message=("safety: " + "; ".join(safe.reasons)) if safe.reasons else "",
                )
                io.feedback(executing, plan)
                started = time.monotonic()
                motion = io.execute(safe, obs.state, control)
                control.raise_if_stopped()
                executing.execute_time_s = time.monotonic() - started
                steps += 1
                taken += 1
                after_ns = motion.settled_ns
                if motion.message:
                    executing.message = "; ".join(m for m in (executing.message, motion.message) if m)
                executing.step = steps
                io.feedback(executing, plan)
    except GoalStopped as exc:
        outcome = control.outcome if control.outcome is not None else Outcome.ERROR
        return GoalResult(outcome, control.reason or str(exc), energy, steps, history)
    except (LoopError, EmbeddingMismatch, CommandError, FloatingPointError) as exc:
        return GoalResult(Outcome.ERROR, str(exc), energy, steps, history)
    return GoalResult(Outcome.ERROR, "no goals given", energy, steps, history)


def _plan_step(
    model: PlannerModel,
    obs: Observation,
    goal: np.ndarray,
    settings: LoopSettings,
    step: int,
    base: Status,
    io: LoopIO,
    control: GoalControl,
    warm_start: Plan | None,
) -> Plan:
    best = [float("inf")]
    energies: list[float] = []

    def on_iteration(i: int, elite_energy: float, mean_action: np.ndarray) -> None:
        control.raise_if_stopped()  # cancels the CEM call between iterations
        best[0] = min(best[0], elite_energy)
        energies.append(elite_energy)
        base.cem_iteration, base.energy, base.best_energy = i + 1, elite_energy, best[0]
        base.energy_per_iteration, base.chosen_action = list(energies), mean_action
        io.feedback(base)

    io.feedback(base)
    return model.plan(obs.tokens, obs.state, goal, settings.cem, settings.seed + step, on_iteration, warm_start)
