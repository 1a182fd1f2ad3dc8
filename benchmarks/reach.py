#!/usr/bin/env python3
"""Reach benchmark: success rate of goal-image reaching in simulation, CEM against random actions and no motion.

ROS-free for speed, but with the planner's own code and settings. Per episode (seeded; the same start/goal
pairs for every method): a :class:`vjepa2_sim.sim.FrankaSim` episode (scene randomised by its seed, as in
``vjepa2-collect-sim``), the TCP driven to a random start in the reach box (as ``vjepa2-collect-sim
--dynamics physics`` places it), and a goal position: ``near`` 10-20 cm from the start (the oracle gate's
goals), ``full`` anywhere in the reach box at least 5 cm away. The goal pose is used only to render the goal
image (the stereo pair of the demo data, :func:`vjepa2_sim.views.render_goal_tiled`) and to score.

Methods:

* ``cem``: the planner's receding-horizon loop itself (:func:`vjepa2_planner.loop.run_goal`, its stop rules:
  ``energy_tolerance``, ``cem.stop_rule``, ``max_steps``), its model (:meth:`PlannerParams.load_model`: V-JEPA
  2-AC + CEM through :class:`vjepa2_core.world_model.ACWorldModel`) and its safety layer
  (:meth:`PlannerParams.safety`: the limits' clipping). Each observation is the live scene rendered like the
  data (``render_tiled``), encoded as the encoder node encodes it (its parameters' ``EncoderParams.model_spec``,
  ``vjepa2_perception.model.PerceptionModel``, ``normalize_tokens`` as ``output.normalize: true``, the planner's
  embedding check); each action is executed the way
  the sim node's ``~/execute_action`` executes it (``FrankaSim.apply_action``, stepped until the motion settles).
* ``random``: uniform random Δxyz within the CEM sampling bound (``cem.bound``, ``cem.max_translation``), no
  rotation or gripper change, for ``max_steps`` steps, through the same safety layer and physics.
* ``none``: no motion (scores the start distance).

Score: the measured TCP-to-goal distance at the end; success below 4 cm. One line per goal set and method::

    near cem: reach success: K/N (P %) within 4 cm, median final distance D cm, s/step T

``T`` is the planning wall time per step (encoding the observation + the CEM call, median over the steps;
0.00 for methods that do not plan). A tqdm bar shows progress on stderr.

Settings: the planner section of ``--params-file`` (default ``vjepa2/config/sim.yaml``; when that default does
not exist, the planner schema defaults, said on stderr) with ``--set name=value`` overrides of planner
parameters (e.g. ``--set cem.samples=128 --set cem.horizon=2``; values in YAML spelling); ``--max-steps N`` is
``--set max_steps=N``. The predictor is always ``--model``'s ``predictor.safetensors``. The encoder is
``--model``'s ``encoder.safetensors``, with the file's ``vjepa2_encoder`` section (``crop_size``,
``ac_max_aspect``, ``model.dtype``, ...) over the crop the predictor export records (``crop_size``,
``crop_aspect``: what ``vjepa2_training`` trained it on; else 208 px and the number of tiled views, 2).

    python benchmarks/reach.py                                   # 50 episodes per set, the demo model
    python benchmarks/reach.py --episodes 20 --sets near --methods cem,none --set cem.samples=128 \\
        --json outputs/reach.json --plot outputs/reach.png

Bad input (a missing model file, an unknown or invalid ``--set``, a model that does not fit the encoder)
gives one message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

import vjepa2_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from vjepa2_common.lifecycle import MANAGED_NODE_PARAMETERS
from vjepa2_common.names import ENCODER_NODE
from vjepa2_common.params import parameter_file_values, settings_from_values
from vjepa2_core.checkpoint import CheckpointError
from vjepa2_core.limits import CommandError
from vjepa2_perception.encoder_node import EncoderParams
from vjepa2_perception.model import ModelLoadError as PerceptionLoadError
from vjepa2_perception.model import PerceptionModel, normalize_tokens
from vjepa2_planner.loop import GoalControl, LoopSettings, Motion, Observation, run_goal
from vjepa2_planner.params import PlannerParams, read_params_file
from vjepa2_planner.safety import SafeAction, SafetyLayer
from vjepa2_planner.world_model import EmbeddingMismatch, ModelLoadError, Plan, PlannerModel
from vjepa2_sim.scene import REACH_SUCCESS_RADIUS as SUCCESS_RADIUS
from vjepa2_sim.scene import sample_near_goal
from vjepa2_sim.sim import FrankaSim
from vjepa2_sim.views import render_goal_tiled, render_tiled
from vjepa2_training.data.sim_collect import PlaySettings
from vjepa2_training.eval.export import export_metadata

SETS = ("near", "full")
METHODS = ("cem", "random", "none")
REACH_SEED = 2_000_000  # episode seeds of the benchmark (training data: small seeds; oracle gate: 1_000_000)
FULL_MIN_DISTANCE = 0.05  # [m] a full-workspace goal is at least this far from the start
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "vjepa2/models/demo"
DEFAULT_PARAMS = ROOT / "vjepa2/config/sim.yaml"
#: the demo data's observation: cameras tiled left to right, square size of each view, render geometry, reach box
PLAY = PlaySettings()
_SET_KEYS = {name: i + 1 for i, name in enumerate(SETS)}
_GOAL_TRIES = 50


class UsageError(Exception):
    """Bad input: the message says what was wrong and how to fix it (exit status 2)."""


@dataclass(frozen=True)
class Config:
    """What every (worker) process needs to run episodes; picklable."""

    model_dir: str
    params_file: str | None
    overrides: dict[str, Any]
    seed: int
    sets: tuple[str, ...]
    methods: tuple[str, ...]
    threads: int = 0  # torch threads of a worker (0: torch's default)


@dataclass
class Record:
    """One episode of one method."""

    goal_set: str
    method: str
    episode: int
    scene_seed: int
    start: list[float]
    goal: list[float]
    start_distance: float  # [m] measured TCP at the start to the goal
    final_position: list[float] = field(default_factory=list)
    final_distance: float = float("nan")  # [m]
    success: bool = False
    steps: int = 0  # executed actions
    outcome: str = ""
    message: str = ""
    energies: list[float] = field(default_factory=list)  # cem: every observation's; else start and end
    step_s: list[float] = field(default_factory=list)  # cem: encode + plan wall time of every planning step
    clipped_steps: int = 0  # actions the safety layer changed


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``name=value`` strings (values in YAML spelling, as ``-p`` takes them) -> ``{name: value}``."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item!r}: expected name=value, e.g. --set cem.samples=128")
        try:
            out[name.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {item!r}: the value is not YAML ({str(exc).splitlines()[0]})") from exc
    if "predictor.checkpoint" in out:
        raise UsageError("--set predictor.checkpoint: the predictor is --model's predictor.safetensors; use --model")
    return out


def load_params(config: Config) -> PlannerParams:
    """The planner parameters of the run: the file's planner section (or the schema defaults) + overrides."""
    overrides = {**config.overrides, "predictor.checkpoint": str(Path(config.model_dir) / "predictor.safetensors")}
    try:
        return read_params_file(config.params_file, overrides)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def model_files(model_dir: Path) -> tuple[Path, Path]:
    """``encoder.safetensors`` and ``predictor.safetensors`` of a model directory (UsageError if missing)."""
    if not model_dir.is_dir():
        raise UsageError(
            f"--model {model_dir}: no such directory; give a directory with encoder.safetensors/.json and "
            "predictor.safetensors/.json (vjepa2_training.eval.export.export_model writes them)"
        )
    files = (model_dir / "encoder.safetensors", model_dir / "predictor.safetensors")
    missing = [p.name for f in files for p in (f, f.with_suffix(".json")) if not p.is_file()]
    if missing:
        raise UsageError(f"--model {model_dir}: missing {', '.join(missing)}")
    return files


def encoder_params(params_file: str | None, encoder_file: Path, predictor_file: Path) -> EncoderParams:
    """The encoder node's parameters: the predictor export's ``crop_size`` / ``crop_aspect`` (else the demo
    data's 208 px and number of tiled views), the file's ``vjepa2_encoder`` section on top, ``encoder_file``."""
    try:
        meta = export_metadata(predictor_file)
    except (CheckpointError, OSError, ValueError):
        meta = {}
    values = {
        "crop_size": meta.get("crop_size", PLAY.image_size),
        "ac_max_aspect": float(meta.get("crop_aspect", len(PLAY.cameras))),
    }
    values.update(parameter_file_values(params_file, ENCODER_NODE) if params_file is not None else {})
    values["model.checkpoint"] = str(encoder_file)
    source = f"parameter file '{params_file}' [{ENCODER_NODE}]" if params_file else f"{ENCODER_NODE} parameters"
    try:
        return settings_from_values(EncoderParams, values, source=source, ignore=MANAGED_NODE_PARAMETERS)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


class Bench:
    """A simulator, the encoder and the planner's model, settings and safety layer of one process."""

    def __init__(self, config: Config) -> None:
        if config.threads:
            torch.set_num_threads(config.threads)
        self.config = config
        self.params = load_params(config)
        encoder_file, predictor_file = model_files(Path(config.model_dir))
        self.encoder_params = encoder_params(config.params_file, encoder_file, predictor_file)
        try:
            self.model: PlannerModel = self.params.load_model()
            # what the encoder node loads and how it encodes (per_frame: each frame its own tubelet)
            self.encoder = PerceptionModel(self.encoder_params.model_spec())
        except (ModelLoadError, PerceptionLoadError, ValueError) as exc:
            raise UsageError(str(exc)) from exc
        if self.encoder_params.mode != "per_frame" or self.encoder.spec.preprocessing != "ac":
            raise UsageError(
                f"the encoder section has mode {self.encoder_params.mode}, preprocessing "
                f"{self.encoder.spec.preprocessing}; the planner needs per_frame embeddings with ac preprocessing"
            )
        try:  # the planner's check of every embedding, here once
            grid = self.encoder.grid(1)
            self.model.check_embedding(
                self.encoder.model_id, self.encoder.embed_dim, grid, grid[1] * grid[2], f"the encoder {encoder_file}"
            )
        except EmbeddingMismatch as exc:
            raise UsageError(str(exc)) from exc
        self.settings: LoopSettings = self.params.loop_settings()
        size = PLAY.image_size
        self.sim = FrankaSim(seed=config.seed, image_size=(size, size), render_geometry=PLAY.render_geometry)
        self.lo, self.hi = np.asarray(PLAY.box_min), np.asarray(PLAY.box_max)

    def close(self) -> None:
        self.sim.close()

    # ------------------------------------------------------------------------------------------ pieces
    def encode(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """Layer-normed tokens [N, D] of one tiled frame, and the wall time it took."""
        started = time.perf_counter()
        tokens = normalize_tokens(self.encoder.encode_frames([frame]))[0]  # the encoder node's output.normalize
        return tokens, time.perf_counter() - started

    def start_episode(self, scene_seed: int, start: np.ndarray) -> None:
        """Reset the scene and drive the TCP to ``start`` (as ``vjepa2-collect-sim --dynamics physics``)."""
        self.sim.reset(seed=scene_seed)
        self.sim.set_pose_target(start, blocking=True)

    def now_ns(self) -> int:
        """The simulator's clock: nothing moves while the planner thinks, so inputs never go stale."""
        return round(self.sim.time * 1e9)

    def execute(self, action: np.ndarray) -> Motion:
        """The sim node's ~/execute_action without ROS: apply, step until settled, report."""
        try:
            result = self.sim.apply_action(action, blocking=True)
        except CommandError as exc:
            return Motion(False, self.now_ns(), self.sim.state7(), f"execute_action: rejected action: {exc}")
        message = "" if result.reached else f"execute_action: {result.message}"
        return Motion(bool(result.settled), self.now_ns(), result.state, message)

    # ------------------------------------------------------------------------------------------ episodes
    def pair(self, index: int, goal_set: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Scene seed, start, goal and goal image of episode ``index`` of ``goal_set`` (the sim at the start)."""
        scene_seed = self.config.seed + index
        start = np.random.default_rng((self.config.seed, index)).uniform(self.lo, self.hi)
        rng = np.random.default_rng((self.config.seed, index, _SET_KEYS[goal_set]))
        self.start_episode(scene_seed, start)
        quat, closure = self.sim.ee_pose()[1], self.sim.gripper_closure()
        for _ in range(_GOAL_TRIES):
            if goal_set == "near":
                goal = sample_near_goal(rng, start, self.lo, self.hi)
            else:
                goal = rng.uniform(self.lo, self.hi)
                if np.linalg.norm(goal - start) < FULL_MIN_DISTANCE:
                    continue
            try:
                return scene_seed, start, goal, render_goal_tiled(self.sim, goal, quat, closure, PLAY.cameras)
            except CommandError:  # not reachable with the start orientation: draw again (seeded)
                continue
        raise RuntimeError(f"episode {index}: no reachable {goal_set} goal in {_GOAL_TRIES} draws")

    def run(self, index: int, goal_set: str) -> list[Record]:
        """Every method on episode ``index`` of ``goal_set``."""
        scene_seed, start, goal, goal_image = self.pair(index, goal_set)
        goal_tokens, _ = self.encode(goal_image)
        records = []
        for method in self.config.methods:
            self.start_episode(scene_seed, start)
            position = self.sim.ee_pose()[0]
            record = Record(
                goal_set,
                method,
                index,
                scene_seed,
                start.tolist(),
                goal.tolist(),
                float(np.linalg.norm(position - goal)),
            )
            safety = self.params.safety()
            if method == "cem":
                self._cem(record, goal_tokens, safety)
            elif method == "random":
                self._random(record, goal_tokens, safety)
            else:
                record.energies = [self.model.energy(self.encode(render_tiled(self.sim, PLAY.cameras))[0], goal_tokens)]
                record.outcome = "none"
            final = self.sim.ee_pose()[0]
            record.final_position = final.tolist()
            record.final_distance = float(np.linalg.norm(final - goal))
            record.success = bool(record.final_distance < SUCCESS_RADIUS)
            records.append(record)
        return records

    def _cem(self, record: Record, goal_tokens: np.ndarray, safety: SafetyLayer) -> None:
        io = _SimIO(self, safety)
        model = _TimedModel(self.model, record)
        result = run_goal([goal_tokens], [], self.settings, model, safety, io, GoalControl())  # type: ignore[arg-type]
        record.steps, record.outcome, record.message = result.steps_executed, result.outcome.name, result.message
        record.step_s = [e + p for e, p in zip(io.encode_s, model.plan_s)]
        record.clipped_steps = io.clipped

    def _random(self, record: Record, goal_tokens: np.ndarray, safety: SafetyLayer) -> None:
        cem = self.settings.cem
        rng = np.random.default_rng((self.config.seed, record.episode, _SET_KEYS[record.goal_set], 7))
        record.energies.append(self.model.energy(self.encode(render_tiled(self.sim, PLAY.cameras))[0], goal_tokens))
        for _ in range(self.settings.max_steps):
            action = np.zeros(7)
            action[:3] = _uniform_in_bound(rng, cem.bound, cem.max_translation)
            now = self.now_ns()
            safety.update_state(self.sim.state7(), now)
            safety.note_observation(now)
            safe = safety.check_action(action, now)
            record.clipped_steps += safe.clipped
            self.execute(safe.action)
            record.steps += 1
        record.energies.append(self.model.energy(self.encode(render_tiled(self.sim, PLAY.cameras))[0], goal_tokens))
        record.outcome = "MAX_STEPS"


def _uniform_in_bound(rng: np.random.Generator, bound: str, radius: float) -> np.ndarray:
    """Uniform Δxyz in the CEM sampling bound: the box ±radius per axis, or the L1 ball of that radius."""
    while True:
        d = rng.uniform(-radius, radius, 3)
        if bound == "box" or np.abs(d).sum() <= radius:
            return d


class _SimIO:
    """The planner loop's I/O (:class:`vjepa2_planner.loop.LoopIO`) on the simulator, in lock step."""

    def __init__(self, bench: Bench, safety: SafetyLayer) -> None:
        self.bench, self.safety = bench, safety
        self.encode_s: list[float] = []
        self.clipped = 0

    def now_ns(self) -> int:
        return self.bench.now_ns()

    def observe(self, after_ns: int, control: GoalControl) -> Observation:
        frame = render_tiled(self.bench.sim, PLAY.cameras)
        tokens, seconds = self.bench.encode(frame)
        self.encode_s.append(seconds)
        now = self.now_ns()
        state = self.safety.update_state(self.bench.sim.state7(), now)
        self.safety.note_observation(now)
        return Observation(tokens, state, now, seconds)

    def execute(self, action: SafeAction, state: np.ndarray, control: GoalControl) -> Motion:
        self.clipped += action.clipped
        return self.bench.execute(action.action)

    def feedback(self, status: Any, plan: Plan | None = None) -> None:
        pass


class _TimedModel:
    """The planner's model as run_goal calls it (energy, plan), recording energies and plan wall times."""

    def __init__(self, model: PlannerModel, record: Record) -> None:
        self.model, self.record = model, record
        self.plan_s: list[float] = []

    def energy(self, tokens: np.ndarray, goal: np.ndarray) -> float:
        value = self.model.energy(tokens, goal)
        self.record.energies.append(value)
        return value

    def plan(self, *args: Any, **kwargs: Any) -> Plan:
        started = time.perf_counter()
        plan = self.model.plan(*args, **kwargs)
        self.plan_s.append(time.perf_counter() - started)
        return plan


# ---------------------------------------------------------------------------------------------- processes
_WORKER: dict[str, Bench] = {}


def _init_worker(config: Config) -> None:
    _WORKER["bench"] = Bench(config)


def _run_unit(unit: tuple[int, str]) -> list[Record]:
    return _WORKER["bench"].run(*unit)


def run_all(config: Config, episodes: int, workers: int, bench: Bench) -> list[Record]:
    """Every (episode, goal set) unit, in this process (``workers`` 1) or in a pool; records in a fixed order."""
    units = [(i, s) for s in config.sets for i in range(episodes)]
    bar = tqdm(total=len(units) * len(config.methods), desc="reach", unit="run", dynamic_ncols=True)
    records: list[Record] = []
    try:
        if workers == 1:
            for unit in units:
                records += bench.run(*unit)
                bar.update(len(config.methods))
        else:
            threads = config.threads or max(1, (os.cpu_count() or 1) // workers)
            worker_config = Config(**{**asdict(config), "threads": threads})
            with multiprocessing.get_context("spawn").Pool(workers, _init_worker, (worker_config,)) as pool:
                for result in pool.imap_unordered(_run_unit, units):
                    records += result
                    bar.update(len(config.methods))
    finally:
        bar.close()
    order = {(s, i): k for k, (i, s) in enumerate(units)}
    methods = {m: k for k, m in enumerate(config.methods)}
    return sorted(records, key=lambda r: (order[(r.goal_set, r.episode)], methods[r.method]))


def summarize(records: list[Record]) -> dict[str, dict[str, dict[str, float]]]:
    """``{set: {method: numbers}}`` in the order the records come."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r in records:
        out.setdefault(r.goal_set, {}).setdefault(r.method, {})
    for goal_set, methods in out.items():
        for method in methods:
            rs = [r for r in records if r.goal_set == goal_set and r.method == method]
            steps = [s for r in rs for s in r.step_s]
            methods[method] = {
                "episodes": len(rs),
                "success": sum(r.success for r in rs),
                "success_rate": sum(r.success for r in rs) / len(rs),
                "median_final_cm": float(np.median([r.final_distance for r in rs]) * 100),
                "median_start_cm": float(np.median([r.start_distance for r in rs]) * 100),
                "mean_steps": float(np.mean([r.steps for r in rs])),
                "s_per_step": statistics.median(steps) if steps else 0.0,
                "mean_s_per_step": statistics.fmean(steps) if steps else 0.0,
            }
    return out


def result_line(goal_set: str, method: str, s: dict[str, float]) -> str:
    return (
        f"{goal_set} {method}: reach success: {s['success']}/{s['episodes']} ({s['success_rate'] * 100:.0f} %) "
        f"within {SUCCESS_RADIUS * 100:.0f} cm, median final distance {s['median_final_cm']:.1f} cm, "
        f"s/step {s['s_per_step']:.2f}"
    )


def plot(records: list[Record], path: Path) -> None:
    """Histograms of the final distance per method, one panel per goal set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vjepa2_training.eval.plot_losses import save_figure

    sets = list(dict.fromkeys(r.goal_set for r in records))
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 3.6), squeeze=False)
    top = max(r.final_distance for r in records) * 100
    bins = np.linspace(0.0, max(top, 2 * SUCCESS_RADIUS * 100), 25)
    for ax, goal_set in zip(axes[0], sets):
        for method in dict.fromkeys(r.method for r in records):
            d = [r.final_distance * 100 for r in records if r.goal_set == goal_set and r.method == method]
            ok = sum(v < SUCCESS_RADIUS * 100 for v in d)
            ax.hist(d, bins=bins, alpha=0.5, label=f"{method} ({ok}/{len(d)})")
        ax.axvline(SUCCESS_RADIUS * 100, color="k", linestyle="--", linewidth=1)
        ax.set_title(f"{goal_set} goals", fontsize=10)
        ax.set_xlabel("final TCP-goal distance [cm]")
        ax.set_ylabel("episodes")
        ax.legend(fontsize=8)
    save_figure(fig, path)


def _names(text: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise UsageError(f"{flag} {text!r}: give a comma-separated subset of {','.join(allowed)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="reach.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=50, help="episodes per goal set (default 50)")
    parser.add_argument("--seed", type=int, default=REACH_SEED, help="episode i uses scene seed SEED + i")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="encoder + predictor .safetensors/.json")
    parser.add_argument(
        "--params-file", type=Path, default=None, help=f"ROS 2 parameter file (default {DEFAULT_PARAMS})"
    )
    parser.add_argument("--sets", default=",".join(SETS), help="goal sets: near (10-20 cm), full (the reach box)")
    parser.add_argument("--methods", default=",".join(METHODS), help="cem, random, none")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE", help="planner parameter"
    )
    parser.add_argument("--max-steps", type=int, help="= --set max_steps=N (executed actions per episode)")
    parser.add_argument("--workers", type=int, default=1, help="parallel episode processes (default 1)")
    parser.add_argument("--json", type=Path, help="write the settings, summaries and per-episode records here")
    parser.add_argument("--plot", type=Path, help="final-distance histograms (PNG)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.episodes < 1 or args.workers < 1:
            raise UsageError("--episodes and --workers must be >= 1")
        sets = _names(args.sets, SETS, "--sets")
        methods = _names(args.methods, METHODS, "--methods")
        overrides = parse_overrides(args.overrides)
        if args.max_steps is not None:
            overrides["max_steps"] = args.max_steps
        params_file = args.params_file
        if params_file is None:
            params_file = DEFAULT_PARAMS if DEFAULT_PARAMS.is_file() else None
            if params_file is None:
                print(
                    f"reach: {DEFAULT_PARAMS} does not exist: using the planner schema defaults "
                    "(vjepa2_planner.params.PlannerParams)",
                    file=sys.stderr,
                )
        elif not params_file.is_file():
            raise UsageError(f"--params-file {params_file}: no such file")
        config = Config(
            str(args.model), None if params_file is None else str(params_file), overrides, args.seed, sets, methods
        )
        bench = Bench(config)  # checks everything once, here, before any worker starts
    except (UsageError, ValueError) as exc:
        print(f"reach: {exc}", file=sys.stderr)
        return 2
    cem, enc = bench.settings.cem, bench.encoder_params
    print(
        f"# {args.episodes} episodes per set, seed {args.seed}, planner settings from "
        f"{params_file or 'the schema defaults'}: CEM {cem.samples} x {cem.iterations}, horizon {cem.horizon}, "
        f"top-k {cem.top_k}, max_steps {bench.settings.max_steps}, energy_tolerance "
        f"{bench.settings.energy_tolerance:g}, stop_rule {cem.stop_rule}; predictor {bench.params.predictor.dtype}, "
        f"encoder {bench.encoder.model_id} ({enc.model.dtype}, {enc.crop_size} px, ac_max_aspect "
        f"{enc.ac_max_aspect:g}); "
        f"{torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    try:
        records = run_all(config, args.episodes, args.workers, bench)
    finally:
        bench.close()
    summary = summarize(records)
    for goal_set, per_method in summary.items():
        for method, numbers in per_method.items():
            print(result_line(goal_set, method, numbers), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "params_file_used": config.params_file,
            "overrides": overrides,
            "loop": {**asdict(bench.settings), "cem": asdict(cem)},
            "predictor": asdict(bench.params.predictor),
            "encoder": asdict(bench.encoder.spec),
            "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
        }
        doc = {
            "settings": settings,
            "wall_s": time.perf_counter() - started,
            "results": summary,
            "episodes": [asdict(r) for r in records],
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    if args.plot:
        plot(records, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
