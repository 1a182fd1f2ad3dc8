"""Console script ``vjepa2-sim-snapshot``: save the cameras' views of a seeded episode as PNG files.

Used to make ``docs/sim_exterior.png`` and ``docs/sim_wrist.png``:
``vjepa2-sim-snapshot --out docs --size 384 --seed 0``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from vjepa2_sim.scene import CAMERAS
from vjepa2_sim.sim import FrankaSim


def main(argv: list[str] | None = None) -> int:
    """Render the requested cameras after a reset with ``--seed`` and write ``<out>/sim_<camera>.png``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder (default: docs)")
    parser.add_argument("--size", type=int, default=384, help="image height and width in pixels")
    parser.add_argument("--seed", type=int, default=0, help="episode seed")
    parser.add_argument("--cameras", nargs="+", default=["exterior", "wrist"], choices=CAMERAS)
    parser.add_argument("--nominal", action="store_true", help="no randomisation (nominal layout)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with FrankaSim(seed=args.seed, image_size=(args.size, args.size), randomize=not args.nominal) as sim:
        for camera in args.cameras:
            path = args.out / f"sim_{camera}.png"
            Image.fromarray(sim.render(camera)).save(path)
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
