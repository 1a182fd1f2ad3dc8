"""make demo's path works end to end: sim graph up, goal image rendered and embedded, energy falls."""

from __future__ import annotations

import re
import sys


def test_demo_runs_the_planning_path(launcher, tmp_path) -> None:
    demo = launcher.start([sys.executable, "-m", "vjepa2.demo", "--steps", "3", "--out", str(tmp_path)], label="demo")
    assert demo.proc.wait(300) == 0, demo.output()[-3000:]
    out = demo.output()
    first, last = map(float, re.search(r"demo: energy ([\d.]+) -> ([\d.]+)", out).groups())
    assert last < first
    assert re.search(r"-> 0\.\d cm from the goal", out), out[-2000:]
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert "all nodes stopped" in out
