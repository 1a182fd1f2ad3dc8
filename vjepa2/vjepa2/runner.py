"""vjepa2-launch: start a graph of vjepa2.graphs as processes, like `ros2 launch` (where launch_ros is absent).

    vjepa2-launch sim                       # the closed loop in simulation with its default parameters
    vjepa2-launch camera_relay rate_hz:=10  # launch arguments as name:=value
    vjepa2-launch --list                    # graphs and their arguments
    vjepa2-launch sim --dry-run             # print the commands instead of running them

Every node is a separate process started with ``--ros-args`` (name, namespace, remaps, parameter files),
exactly what ``<graph>.launch.py`` asks launch_ros to do. Output lines are prefixed with the node name.
SIGINT/SIGTERM are forwarded; nodes get SIGINT, then SIGTERM, then SIGKILL if they do not exit.
When a ``required`` node exits, the whole graph is stopped. If the runner itself is killed (SIGKILL, a
crash), each node gets SIGTERM from the kernel (``PR_SET_PDEATHSIG``) and shuts down cleanly: no orphans.
A bad launch argument or graph name is one line on stderr and exit code 2; a graph whose packages are not
installed here (``franka`` without franka_ros2 and MoveIt) is one line naming them and exit code 3.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import yaml

from vjepa2.graph_spec import NodeSpec
from vjepa2.graphs import GRAPHS, get_graph
from vjepa2_common.dds import ensure_localhost_discovery

#: prctl(2) option: the signal a process gets when the thread that forked it ends
PR_SET_PDEATHSIG = 1
#: what a node gets when the runner dies without stopping it: a clean shutdown (bags finalised, ...)
DEATH_SIGNAL = signal.SIGTERM


class NoAliasDumper(yaml.SafeDumper):
    """YAML without anchors and aliases (``&id001`` / ``*id001`` for a value used twice): rcl refuses them."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def node_command(spec: NodeSpec, param_dir: Path) -> list[str]:
    """The command line of one node: its executable followed by the ``--ros-args`` launch_ros would pass."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = get_package_prefix(spec.package)
    except PackageNotFoundError as exc:
        raise SystemExit(
            f"package '{spec.package}' is not built or not sourced; run 'make build' and 'source env.sh'"
        ) from exc
    executable = Path(prefix, "lib", spec.package, spec.executable)
    if not executable.exists():
        raise SystemExit(f"package '{spec.package}' has no executable '{spec.executable}' ({executable})")
    cmd = [str(executable), *spec.arguments, "--ros-args", "-r", f"__node:={spec.name}"]
    if spec.namespace:
        cmd += ["-r", f"__ns:={spec.namespace if spec.namespace.startswith('/') else '/' + spec.namespace}"]
    for i, params in enumerate(spec.resolved_parameters()):
        if isinstance(params, dict):
            path = param_dir / f"{spec.name}_{i}.yaml"
            path.write_text(yaml.dump({"/**": {"ros__parameters": params}}, Dumper=NoAliasDumper))
            params = str(path)
        if not Path(params).is_file():
            raise SystemExit(f"parameter file '{params}' of node '{spec.name}' does not exist")
        cmd += ["--params-file", str(params)]
    for src, dst in spec.remappings:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get DEATH_SIGNAL when the forking thread (and so the runner) dies.

    libc is looked up here, before the fork; the child only calls prctl and checks that the runner did not
    die before it (then it exits at once).
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent_pid:  # the runner died between fork and prctl
            os._exit(1)

    return preexec


class GraphRunner:
    """Runs a list of node processes until a signal, a required node's exit or ``stop()``.

    Call ``start`` from a thread that outlives the nodes (the main thread): the kernel signals them when the
    thread that started them ends.
    """

    def __init__(self, specs: list[NodeSpec], param_dir: Path, out: IO[str] = sys.stdout) -> None:
        self.specs = specs
        self.param_dir = param_dir
        self.out = out
        self.procs: list[tuple[NodeSpec, subprocess.Popen]] = []
        self._stop = threading.Event()
        self._print_lock = threading.Lock()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            with self._print_lock:
                self.out.write(f"[{name}] {line.decode(errors='replace')}")
                self.out.flush()

    def start(self) -> None:
        commands = [(spec, node_command(spec, self.param_dir)) for spec in self.specs]
        preexec = die_with_parent(os.getpid())
        for spec, cmd in commands:
            # Each node leads its own process group (stop() signals the group: its children too).
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=preexec,
            )
            self.procs.append((spec, proc))
            threading.Thread(target=self._pump, args=(spec.name, proc.stdout), daemon=True).start()
            self._log(f"started {spec.name} (pid {proc.pid})")

    def _log(self, text: str) -> None:
        with self._print_lock:
            self.out.write(f"[vjepa2-launch] {text}\n")
            self.out.flush()

    def request_stop(self, *_args: object) -> None:
        self._stop.set()

    def wait(self) -> int:
        """Block until asked to stop or a required node exits; return the exit code for the runner."""
        code = 0
        reported: set[int] = set()
        while not self._stop.wait(0.1):
            for spec, proc in self.procs:
                if proc.poll() is not None and proc.pid not in reported:
                    reported.add(proc.pid)
                    self._log(f"{spec.name} exited with code {proc.returncode}")
                    if spec.required:
                        self._log(f"{spec.name} is required: stopping the graph")
                        code = proc.returncode or 1
                        self._stop.set()
            if len(reported) == len(self.procs):
                break
        return code

    def stop(self, sigint_timeout: float = 10.0, sigterm_timeout: float = 5.0) -> None:
        """SIGINT every node, then SIGTERM, then SIGKILL the ones that are still there."""
        for sig, timeout in (
            (signal.SIGINT, sigint_timeout),
            (signal.SIGTERM, sigterm_timeout),
            (signal.SIGKILL, 10.0),
        ):
            alive = [(spec, p) for spec, p in self.procs if p.poll() is None]
            if not alive:
                break
            if sig != signal.SIGINT:
                self._log(f"{', '.join(s.name for s, _ in alive)} still running: sending {sig.name}")
            for _spec, proc in alive:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + timeout
            for _spec, proc in alive:
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for _spec, proc in self.procs:  # grandchildren left in a node's process group
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log("all nodes stopped")


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """``name:=value`` items -> dict; ValueError for an item of another shape."""
    values = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise ValueError(f"launch arguments are name:=value, got '{item}'")
        values[name] = value
    return values


def print_graphs() -> None:
    for g in GRAPHS.values():
        print(f"{g.name}: {g.description}")
        if g.needs:
            print(f"    (needs {g.needs})")
        for a in g.arguments:
            choices = f" ({' | '.join(a.choices)})" if a.choices else ""
            print(f"    {a.name}:={a.default!s}    {a.description}{choices}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vjepa2-launch", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("graph", nargs="?", help="graph name (see --list)")
    parser.add_argument("arguments", nargs="*", help="launch arguments, name:=value")
    parser.add_argument("--list", action="store_true", help="list the graphs and their arguments")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the node commands and exit; their parameter files are kept in a new directory it names",
    )
    opts = parser.parse_intermixed_args(argv)

    if opts.list or not opts.graph:
        print_graphs()
        return 0 if opts.list else 2
    try:
        graph = get_graph(opts.graph)
        specs = graph.nodes(parse_launch_arguments(opts.arguments))
    except (KeyError, ValueError) as exc:
        print(f"vjepa2-launch: {exc.args[0]}", file=sys.stderr)
        return 2
    problem = graph.not_installed(specs)
    if problem:
        print(f"vjepa2-launch: {problem}", file=sys.stderr)
        return 3

    if opts.dry_run:  # the commands must work after this process is gone: keep their parameter files
        param_dir = Path(tempfile.mkdtemp(prefix=f"vjepa2-launch-{opts.graph}-"))
        print(f"# parameter files of these commands (kept): {param_dir}")
        for spec in specs:
            print(shlex.join(node_command(spec, param_dir)))
        return 0
    ensure_localhost_discovery()
    with tempfile.TemporaryDirectory(prefix="vjepa2-launch-") as tmp:
        runner = GraphRunner(specs, Path(tmp))
        signal.signal(signal.SIGINT, runner.request_stop)
        signal.signal(signal.SIGTERM, runner.request_stop)
        try:
            runner.start()
            code = runner.wait()
        finally:
            runner.stop()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
