"""Test helpers: a franky-sim server (the libfranka protocol over 127.0.0.1, MuJoCo behind it) as a process.

franky-sim listens on 127.0.0.1:1337 (arm) and :1338 (hand) and takes one client at a time, so each test
starts its own server (a process group, always killed) and its own bridge. Used by this package's tests and by
vjepa2's graph tests (``with running_franky_sim(tmp_path) as sim: ...``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vjepa2_common.testing import ManagedProcess, wait_until

HOST = "127.0.0.1"
PORTS = (1337, 1338)  # libfranka robot and gripper ports (fixed by the protocol)
START_TIMEOUT_S = 60.0
#: franky_bridge parameters for franky-sim (no real-time kernel here)
SIM_BRIDGE_PARAMS = {"robot_ip": HOST, "realtime_policy": "ignore", "dynamics_factor": 0.2, "autostart": True}


def port_open(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=0.2).close()
    except OSError:
        return False
    return True


class FrankySim:
    """A franky-sim server process on 127.0.0.1 that can be killed and started again."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.proc: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        exe = shutil.which("franky-sim")
        assert exe, "franky-sim is not installed: run 'make setup' (requirements.txt pins it)"
        busy = [p for p in PORTS if port_open(p)]
        assert not busy, f"{HOST}:{busy} already in use (another franky-sim? it takes one client at a time)"
        self.starts += 1
        self.proc = ManagedProcess(
            [exe, "-s", "mujoco", "--hostname", HOST],
            self.log_dir / f"franky_sim_{self.starts}.log",
            env=dict(os.environ),
        )
        wait_until(
            lambda: all(port_open(p) for p in PORTS) or not self.proc.alive(), START_TIMEOUT_S, "franky-sim ports"
        )
        assert self.proc.alive(), self.proc.output()[-3000:]

    def kill(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.stop()
            wait_until(lambda: not any(port_open(p) for p in PORTS), 10.0, "franky-sim ports closed")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


@contextmanager
def running_franky_sim(log_dir: Path) -> Iterator[FrankySim]:
    """A started franky-sim, stopped (its process group killed) on exit, whatever happened."""
    sim = FrankySim(log_dir)
    try:
        sim.start()
        yield sim
    finally:
        sim.stop()
