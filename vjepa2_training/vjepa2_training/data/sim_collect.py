"""Play data from vjepa2_sim without ROS (CLI ``vjepa2-collect-sim``), written with the converter's writer.

Each episode resets a :class:`vjepa2_sim.sim.FrankaSim` with its own seed (object poses, lighting, camera
jitter), puts the TCP at a random start in the reach box, then takes ``steps`` end-effector delta actions,
each completed before the next frame is rendered (the way the planner acts: command, settle, look):

* random exploration (DROID-style play): uniform per-axis deltas in ±``max_delta``;
* scripted reaches (a ``reach_prob`` share of the episodes): steps of at most ``max_delta`` towards a random
  target in the box plus Gaussian noise, a new target once the TCP is within 1.5 cm;
* the gripper toggles open/closed with probability ``gripper_prob`` per step.

Targets are kept inside the reach box (:data:`vjepa2_sim.scene.REACH_BOX_MIN` .. ``MAX``), which the
``front_left`` / ``front_right`` stereo pair frames; each frame is their two views side by side
(:mod:`vjepa2_sim.views`). ``dynamics``: ``kinematic`` places the arm at each target by IK
(``FrankaSim.render_goal``; exact, objects never move, 2-3x faster on a CPU), ``physics`` executes each
delta with the simulated controller until the arm is at rest and records the measured 7-D state. Actions
are derived from the states by the episode writer, exactly as for converted bags. Episodes are
rendered in parallel worker processes and committed one by one through
:class:`~vjepa2_training.dataset_writer.DatasetWriter`, so an interrupted run resumes where it stopped
(episodes already written with the same settings are skipped).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vjepa2_core.conventions import state_from_pose
from vjepa2_sim.scene import REACH_BOX_MAX, REACH_BOX_MIN
from vjepa2_sim.views import STEREO, render_goal_tiled, render_tiled

from .dataset_writer import DatasetWriter, FrameEncoding, SourceOutput
from .episodes import DatasetError
from .sync import Segment

LOG = logging.getLogger("vjepa2_training.data.sim_collect")
NOMINAL_FPS = 4.0  # one frame per executed action; timestamps_ns hold the simulated time of each frame
REACH_TOLERANCE = 0.015  # [m] a scripted reach picks a new target once this close


@dataclass(frozen=True)
class PlaySettings:
    """How one play episode is generated and rendered (part of every episode's resume fingerprint)."""

    steps: int = 24  # actions per episode (frames = steps + 1)
    cameras: tuple[str, ...] = STEREO  # rendered side by side into one frame
    image_size: int = 208  # [px] square size of each view
    render_geometry: str = "collision"  # ~7x faster to render on a CPU than "visual"; the demo sim uses it too
    max_delta: float = 0.05  # [m] per axis
    reach_prob: float = 0.3  # share of episodes that are scripted reaches
    reach_noise: float = 0.01  # [m] per-axis std of the noise added to reach steps
    gripper_prob: float = 0.05
    dynamics: str = "kinematic"  # or "physics"
    box_min: tuple[float, float, float] = REACH_BOX_MIN
    box_max: tuple[float, float, float] = REACH_BOX_MAX

    def validate(self) -> None:
        """Raise ValueError with the offending setting."""
        if self.dynamics not in ("kinematic", "physics"):
            raise ValueError(f"dynamics must be 'kinematic' or 'physics', got {self.dynamics!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 16 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be in [16, 1024], got {self.image_size}")
        if not 0 < self.max_delta <= 0.075:
            raise ValueError(f"max_delta must be in (0, 0.075] m, got {self.max_delta}")
        for name in ("reach_prob", "gripper_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not np.all(np.asarray(self.box_min) < np.asarray(self.box_max)):
            raise ValueError(f"box_min {self.box_min} must be below box_max {self.box_max} on every axis")

    def fingerprint(self, episode_seed: int) -> list[list[Any]]:
        """Resume key of one episode: a hash of these settings and its seed."""
        text = json.dumps({**dataclasses.asdict(self), "seed": episode_seed}, sort_keys=True)
        return [["vjepa2-collect-sim", hashlib.sha1(text.encode()).hexdigest()]]


def next_delta(
    rng: np.random.Generator, position: np.ndarray, target: np.ndarray | None, settings: PlaySettings
) -> np.ndarray:
    """The next Δxyz: towards ``target`` with noise (scripted reach) or uniform (``target`` None), kept in the box."""
    lim = settings.max_delta
    if target is None:
        delta = rng.uniform(-lim, lim, 3)
    else:
        delta = np.clip(target - position, -lim, lim) + rng.normal(0.0, settings.reach_noise, 3)
    goal = np.clip(position + np.clip(delta, -lim, lim), settings.box_min, settings.box_max)
    return goal - position


def play_episode(
    sim: Any, episode_seed: int, settings: PlaySettings
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Run one episode on ``sim`` (a FrankaSim); returns RGB frames, 7-D states and timestamps [ns]."""
    sim.reset(seed=episode_seed)
    rng = np.random.default_rng((episode_seed, 1))
    lo, hi = np.asarray(settings.box_min), np.asarray(settings.box_max)
    start = rng.uniform(lo, hi)
    reaching = rng.uniform() < settings.reach_prob
    target = rng.uniform(lo, hi) if reaching else None
    gripper = float(round(sim.gripper_closure()))
    if settings.dynamics == "kinematic":
        quat = sim.ee_pose()[1]
        position = start

        def observe() -> tuple[np.ndarray, np.ndarray]:
            frame = render_goal_tiled(sim, position, quat, gripper, settings.cameras)
            return frame, state_from_pose(position, quat, gripper)

    else:
        sim.set_pose_target(start, blocking=True)

        def observe() -> tuple[np.ndarray, np.ndarray]:
            return render_tiled(sim, settings.cameras), sim.state7()

    frames, states = map(list, zip(observe()))
    for _ in range(settings.steps):
        measured = states[-1][:3]
        if target is not None and np.linalg.norm(target - measured) < REACH_TOLERANCE:
            target = rng.uniform(lo, hi)
        if rng.uniform() < settings.gripper_prob:
            gripper = 1.0 - gripper
        delta = next_delta(rng, measured, target, settings)
        if settings.dynamics == "kinematic":
            position = measured + delta
        else:
            sim.apply_delta(delta, gripper=gripper, blocking=True)
        frame, state = observe()
        frames.append(frame)
        states.append(state)
    stamps = np.arange(len(frames), dtype=np.int64) * round(1e9 / NOMINAL_FPS)
    return frames, np.asarray(states), stamps


_WORKER: dict[str, Any] = {}


def _init_worker(settings: PlaySettings, encoding: FrameEncoding) -> None:
    import vjepa2_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
    from vjepa2_sim.sim import FrankaSim

    size = settings.image_size
    sim = FrankaSim(image_size=(size, size), render_geometry=settings.render_geometry, randomize=True)
    _WORKER.update(sim=sim, settings=settings, encoding=encoding)


def _run_episode(episode_seed: int) -> tuple[int, list[bytes] | None, np.ndarray | None, np.ndarray | None, str | None]:
    try:
        frames, states, stamps = play_episode(_WORKER["sim"], episode_seed, _WORKER["settings"])
        encoded = [_WORKER["encoding"].encode(f) for f in frames]
        return episode_seed, encoded, states, stamps, None
    except Exception as err:  # one bad episode must not stop the batch; it is reported and retried on resume
        return episode_seed, None, None, None, f"{type(err).__name__}: {err}"


def episode_name(episode_seed: int) -> str:
    """Episode id (and manifest source name) of the play episode with this seed."""
    return f"sim_play_{episode_seed:07d}"


def collect(
    output: Path,
    episodes: int,
    seed: int = 0,
    workers: int = 2,
    settings: PlaySettings | None = None,
    encoding: FrameEncoding | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Write ``episodes`` play episodes (seeds ``seed`` .. ``seed + episodes - 1``) to ``output``; return the report."""
    settings = settings or PlaySettings()
    settings.validate()
    encoding = encoding or FrameEncoding()
    writer = DatasetWriter(output, NOMINAL_FPS, encoding, resume=resume)
    seeds = list(range(seed, seed + episodes))
    keys = {s: f"vjepa2_sim:{episode_name(s)}" for s in seeds}
    todo = [s for s in seeds if not writer.is_done(keys[s], settings.fingerprint(s))]
    summary = {"episodes": episodes, "skipped": episodes - len(todo), "written": 0, "failed": 0, "transitions": 0}
    failures: list[dict[str, Any]] = []
    start = time.monotonic()
    bar = tqdm(total=episodes, initial=episodes - len(todo), desc="sim episodes", unit="ep", dynamic_ncols=True)
    if todo:
        ctx = multiprocessing.get_context("spawn")  # fresh processes: each builds its own GL context
        with ctx.Pool(max(1, workers), initializer=_init_worker, initargs=(settings, encoding)) as pool:
            for episode_seed, frames, states, stamps, error in pool.imap_unordered(_run_episode, todo):
                key, name = keys[episode_seed], episode_name(episode_seed)
                output_ = None
                if error is None:
                    segment = Segment(np.arange(len(frames)), states, stamps)
                    size = settings.image_size
                    shape = (size, size * len(settings.cameras))
                    output_ = SourceOutput(segments=[(segment, frames)], frame_shape=shape)
                    summary["written"] += 1
                    summary["transitions"] += len(frames) - 1
                else:
                    LOG.warning("episode seed %d failed: %s", episode_seed, error)
                    failures.append({"seed": episode_seed, "error": error})
                    summary["failed"] += 1
                writer.commit_source(key, name, settings.fingerprint(episode_seed), output_, error)
                bar.update(1)
    bar.close()
    elapsed = time.monotonic() - start
    report = {
        "created_unix": time.time(),
        "command": "vjepa2-collect-sim",
        "settings": {**dataclasses.asdict(settings), "seed": seed, "workers": workers, "codec": encoding.codec},
        "summary": summary,
        "elapsed_s": elapsed,
        "s_per_1k_transitions": 1000 * elapsed / summary["transitions"] if summary["transitions"] else None,
        "failures": failures,
    }
    writer.write_report(report)
    return report


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _triple(text: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected x,y,z (three comma-separated numbers), got {text!r}")
    return values  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vjepa2-collect-sim``; exit code 1 when any episode failed."""
    defaults = PlaySettings()
    parser = argparse.ArgumentParser(prog="vjepa2-collect-sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset directory (created or resumed)")
    parser.add_argument(
        "--episodes", type=int, default=840, help="number of episodes (default 840 x 24 = 20160 transitions)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode; episode i uses seed + i")
    parser.add_argument("--workers", type=int, default=2, help="parallel simulator processes")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="actions per episode")
    parser.add_argument(
        "--cameras", nargs="+", default=list(defaults.cameras), help="vjepa2_sim cameras, tiled left to right"
    )
    parser.add_argument("--image-size", type=int, default=defaults.image_size, help="square size of each view [px]")
    parser.add_argument("--render-geometry", choices=("visual", "collision"), default=defaults.render_geometry)
    parser.add_argument("--max-delta", type=float, default=defaults.max_delta, help="[m] per-axis action bound")
    parser.add_argument(
        "--reach-prob", type=float, default=defaults.reach_prob, help="share of scripted-reach episodes"
    )
    parser.add_argument("--reach-noise", type=float, default=defaults.reach_noise, help="[m] noise std of reach steps")
    parser.add_argument("--gripper-prob", type=float, default=defaults.gripper_prob, help="gripper toggle probability")
    parser.add_argument(
        "--dynamics",
        choices=("kinematic", "physics"),
        default=defaults.dynamics,
        help="kinematic: the arm is placed at each target by IK (fast; objects never move); physics: each delta is "
        "executed by the simulated controller until the arm is at rest (2-3x slower on a CPU)",
    )
    parser.add_argument("--box-min", type=_triple, default=defaults.box_min, help="x,y,z [m] of the reach box")
    parser.add_argument("--box-max", type=_triple, default=defaults.box_max, help="x,y,z [m] of the reach box")
    parser.add_argument("--codec", choices=("jpeg", "png"), default="jpeg")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality")
    parser.add_argument("--no-resume", action="store_true", help="start the dataset over")
    args = parser.parse_args(argv)
    # SIGTERM ends the run like Ctrl-C: the pool's workers are terminated, finished episodes stay committed
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = PlaySettings(
        steps=args.steps,
        cameras=tuple(args.cameras),
        image_size=args.image_size,
        render_geometry=args.render_geometry,
        max_delta=args.max_delta,
        reach_prob=args.reach_prob,
        reach_noise=args.reach_noise,
        gripper_prob=args.gripper_prob,
        dynamics=args.dynamics,
        box_min=args.box_min,
        box_max=args.box_max,
    )
    try:
        settings.validate()
        if args.episodes < 1 or args.workers < 1:
            raise ValueError("--episodes and --workers must be >= 1")
        report = collect(
            args.output,
            args.episodes,
            args.seed,
            args.workers,
            settings,
            FrameEncoding(args.codec, args.quality),
            resume=not args.no_resume,
        )
    except (ValueError, DatasetError) as err:
        print(f"vjepa2-collect-sim: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vjepa2-collect-sim: interrupted; run the same command again to resume", file=sys.stderr)
        return 3
    s = report["summary"]
    rate = report["s_per_1k_transitions"]
    print(
        f"vjepa2-collect-sim: {s['written']} episodes written ({s['transitions']} transitions), {s['skipped']} "
        f"skipped, {s['failed']} failed in {report['elapsed_s']:.0f} s"
        + (f" ({rate:.0f} s per 1k transitions)" if rate else "")
    )
    return 1 if s["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
