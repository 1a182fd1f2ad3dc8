"""Speed of the simulator, measured in one run: ``python -m vjepa2_sim.bench`` (console ``vjepa2-sim-bench``).

Prints physics speed (real-time factor without rendering), render time per frame for each camera and
geometry set, the wall time of a blocking 5 cm delta, and a control-loop rate (delta + one frame).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from vjepa2_sim.scene import CAMERAS
from vjepa2_sim.sim import FrankaSim


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print one line per number."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--size", type=int, default=256, help="image height and width [px]")
    parser.add_argument("--repeats", type=int, default=20, help="repetitions per timing")
    args = parser.parse_args(argv)
    size = (args.size, args.size)

    start = time.perf_counter()
    sim = FrankaSim(seed=0, image_size=size)
    print(f"construction (model compile + GL context): {time.perf_counter() - start:.2f} s")
    sim_seconds = 10.0
    start = time.perf_counter()
    sim.step(int(sim_seconds / sim.model.opt.timestep))
    wall = time.perf_counter() - start
    print(
        f"physics + controller, no rendering: {sim_seconds / wall:.1f}x real time "
        f"({sim_seconds / sim.model.opt.timestep / wall:.0f} steps/s)"
    )
    for camera in CAMERAS:
        print(
            f"render {camera} {size[1]}x{size[0]} visual meshes: "
            f"{_median_ms(lambda c=camera: sim.render(c), args.repeats):.1f} ms/frame"
        )
    sim.close()
    with FrankaSim(seed=0, image_size=size, render_geometry="collision") as coarse:
        print(
            f"render exterior {size[1]}x{size[0]} collision geometry: "
            f"{_median_ms(lambda: coarse.render(), args.repeats):.1f} ms/frame"
        )

    with FrankaSim(seed=0, image_size=size) as sim:
        sign = [1.0]

        def delta() -> None:
            sim.apply_delta([0.05 * sign[0], 0.0, 0.0])
            sign[0] = -sign[0]

        print(f"blocking 5 cm delta (to settled), no rendering: {_median_ms(delta, args.repeats):.1f} ms wall")
        loop_ms = _median_ms(
            lambda: (sim.apply_delta([0.0, 0.002, 0.0], blocking=False), sim.step(20), sim.render()), args.repeats
        )
        print(f"control loop (small delta + 40 ms physics + one frame): {1e3 / loop_ms:.1f} cycles/s")
        goal_ms = _median_ms(lambda: sim.render_goal([0.5, 0.1, 0.2]), args.repeats)
        print(f"goal image (IK + render + restore): {goal_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
