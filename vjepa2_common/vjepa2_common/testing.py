"""pytest plugin: DDS isolation for every test, node processes with guaranteed teardown, event waits.

Loaded by the workspace's root conftest.py (``pytest_plugins``). Every test gets a random
``ROS_DOMAIN_ID``, ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and its own ``ROS_LOG_DIR`` (autouse), so
no test can multicast discovery off this host or hear another test. Child processes inherit that
environment. rclpy is imported only by the fixtures that need it, so ROS-free tests run without ROS.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

#: How long tests wait for DDS discovery; matching takes ~0.1 s but sometimes ~3 s (missed announcement).
DISCOVERY_TIMEOUT_S = 15.0


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.02) -> None:
    """Return as soon as ``predicate()`` is true; fail the test naming ``what`` after ``timeout`` s.

    For conditions that have no event to wait on (DDS graph changes, process exit); ``poll_s`` is the
    re-check interval, not a sleep that the test depends on.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(poll_s)


def isolate_ros(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> int:
    """Set a random DDS domain, loopback-only discovery and a fresh log directory; return the domain.

    The autouse fixture below does it per test; a module that shares one set of node processes between its
    tests (e.g. vjepa2_planner's node tests) overrides ``ros_isolation`` with a module-scoped fixture calling this.
    """
    domain = random.SystemRandom().randint(1, 101)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_LOG_DIR", str(tmp_path_factory.mktemp("ros_log")))
    monkeypatch.setenv("RCUTILS_COLORIZED_OUTPUT", "0")
    return domain


@pytest.fixture(autouse=True)
def ros_isolation(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> int:
    """Give this test its own DDS domain, loopback-only discovery and log directory; return the domain."""
    return isolate_ros(monkeypatch, tmp_path_factory)


class Collector:
    """Messages received on one topic, with a condition variable to wait for them."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(
        self, count: int = 1, timeout: float = DISCOVERY_TIMEOUT_S, predicate: Callable[[Any], bool] | None = None
    ) -> list[Any]:
        """Wait until ``count`` messages (matching ``predicate``, if given) arrived; return those messages."""

        def matching() -> list[Any]:
            return [m for m in self.messages if predicate is None or predicate(m)]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"got {len(matching())} of {count} expected messages within {timeout:.1f} s")
            return matching()


class RosHarness:
    """An rclpy node in the test process, spun by a background executor on a private context."""

    def __init__(self, name: str) -> None:
        import rclpy

        from vjepa2_common.executors import ResponsiveExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = ResponsiveExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def collect(self, msg_type: Any, topic: str, qos: Any = 10, raw: bool = False) -> Collector:
        collector = Collector()
        self.node.create_subscription(msg_type, topic, collector, qos, raw=raw)
        return collector

    def publisher(
        self, msg_type: Any, topic: str, qos: Any = 10, subscribers: int = 0, timeout: float = DISCOVERY_TIMEOUT_S
    ) -> Any:
        """Create a publisher; with ``subscribers`` > 0, wait until that many subscriptions matched."""
        pub = self.node.create_publisher(msg_type, topic, qos)
        if subscribers:
            wait_until(
                lambda: pub.get_subscription_count() >= subscribers, timeout, f"{subscribers} subscriber(s) on {topic}"
            )
        return pub

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 30.0) -> Any:
        """Call a service (waiting for it to appear first) and return the response."""
        from vjepa2_common.messages import call_service

        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=DISCOVERY_TIMEOUT_S):
                raise TimeoutError(f"service {name} did not appear within {DISCOVERY_TIMEOUT_S} s")
            return call_service(self.node, client, request, timeout)
        finally:
            self.node.destroy_client(client)

    @staticmethod
    def wait_future(future: Any, timeout: float, what: str) -> Any:
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        return future.result()

    def in_group(self, group: Any, fn: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Run ``fn()`` in a callback of ``group`` (a mutually exclusive group) on this node's executor; return its
        result.

        For action clients: rclpy's ``ActionClient`` files a request's future only after sending it, so a response
        handled by another executor thread in between is dropped. Create the client in ``group`` and send goal,
        result and cancel requests through this.
        """
        out: list[tuple[bool, Any]] = []
        done = threading.Event()

        def run() -> None:
            try:
                out.append((True, fn()))
            except Exception as exc:  # re-raised in the test's thread
                out.append((False, exc))
            finally:
                done.set()

        guard = self.node.create_guard_condition(run, callback_group=group)
        try:
            guard.trigger()
            if not done.wait(timeout):
                raise TimeoutError(f"this test node's executor did not run the request within {timeout:.0f} s")
        finally:
            self.node.destroy_guard_condition(guard)
        ok, value = out[0]
        if not ok:
            raise value
        return value

    def wait_for_node(self, name: str, namespace: str = "/", timeout: float = DISCOVERY_TIMEOUT_S) -> None:
        wait_until(
            lambda: (name, namespace) in self.node.get_node_names_and_namespaces(),
            timeout,
            f"node {namespace.rstrip('/')}/{name}",
        )

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)


@pytest.fixture
def ros(ros_isolation: int, request: pytest.FixtureRequest) -> Iterator[RosHarness]:
    """A spinning rclpy node named after the test, torn down afterwards."""
    harness = RosHarness(f"pytest_{os.getpid()}_{ros_isolation}")
    yield harness
    harness.close()


def executable_path(package: str, executable: str) -> str:
    """Path of a node executable in the built workspace, as ``ros2 run`` resolves it."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = get_package_prefix(package)
    except PackageNotFoundError as exc:
        raise RuntimeError(f"package '{package}' is not built; run 'make build' and 'source env.sh'") from exc
    path = Path(prefix, "lib", package, executable)
    if not path.exists():
        raise RuntimeError(f"no executable '{executable}' in package '{package}' ({path}); rebuild with 'make build'")
    return str(path)


def ros_args(
    name: str | None = None,
    namespace: str | None = None,
    params: dict[str, Any] | None = None,
    params_file: str | Path | None = None,
    remaps: dict[str, str] | None = None,
    log_level: str | None = None,
    params_dir: Path | None = None,
) -> list[str]:
    """``--ros-args`` for a node process: name, namespace, parameter file/values and remaps."""
    import yaml

    out = ["--ros-args"]
    if name:
        out += ["-r", f"__node:={name}"]
    if namespace:
        out += ["-r", f"__ns:={namespace}"]
    if params_file:
        out += ["--params-file", str(params_file)]
    if params:
        target = Path(params_dir or ".") / f"params_{name or 'node'}_{len(params)}_{os.getpid()}.yaml"
        target.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
        out += ["--params-file", str(target)]
    for src, dst in (remaps or {}).items():
        out += ["-r", f"{src}:={dst}"]
    if log_level:
        out += ["--log-level", log_level]
    return out


class ManagedProcess:
    """A child process in its own process group that is always stopped: SIGINT, SIGTERM, then SIGKILL.

    A node can hang in ``rcl_wait`` on SIGTERM, so escalation with waits (not a single signal) is needed.
    """

    def __init__(
        self, cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: str | Path | None = None
    ) -> None:
        self.cmd = list(cmd)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float) -> None:
        wait_until(
            lambda: text in self.output() or not self.alive(), timeout, f"'{text}' in the output of {self.cmd[0]}"
        )
        if text not in self.output():
            raise RuntimeError(
                f"{self.cmd[0]} exited with {self.proc.returncode} before printing '{text}':\n" + self.output()[-3000:]
            )

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, sigint_timeout: float = 5.0, sigterm_timeout: float = 3.0) -> int:
        """Stop the process group and return the exit code (negative: killed by that signal)."""
        for sig, timeout in ((signal.SIGINT, sigint_timeout), (signal.SIGTERM, sigterm_timeout)):
            if self.proc.poll() is not None:
                break
            self._signal_group(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        if self.proc.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(10)
        self._signal_group(signal.SIGKILL)  # leftovers of the group (grandchildren)
        self._log.close()
        return self.proc.returncode


class ProcessLauncher:
    """Start node executables or Python modules as processes; all of them are stopped at teardown."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.processes: list[ManagedProcess] = []

    def start(self, cmd: Sequence[str], label: str = "proc") -> ManagedProcess:
        proc = ManagedProcess(cmd, self.tmp_dir / f"{label}_{len(self.processes)}.log", env=dict(os.environ))
        self.processes.append(proc)
        return proc

    def node(
        self,
        package: str,
        executable: str,
        *,
        name: str | None = None,
        namespace: str | None = None,
        params: dict[str, Any] | None = None,
        params_file: str | Path | None = None,
        remaps: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> ManagedProcess:
        """Start ``executable`` of ``package`` (like ``ros2 run``) with the given ROS arguments."""
        cmd = [
            executable_path(package, executable),
            *args,
            *ros_args(name, namespace, params, params_file, remaps, params_dir=self.tmp_dir),
        ]
        return self.start(cmd, label=name or executable)

    def module(self, module: str, *args: str) -> ManagedProcess:
        """Start ``python -m module args...`` with this interpreter."""
        return self.start([sys.executable, "-m", module, *args], label=module.rsplit(".", 1)[-1])

    def stop_all(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"vjepa2_report_{report.when}", report)


@pytest.fixture
def launcher(tmp_path: Path, request: pytest.FixtureRequest, ros_isolation: int) -> Iterator[ProcessLauncher]:
    """Start processes for this test; they are stopped after it, and their logs shown if it failed."""
    procs = ProcessLauncher(tmp_path)
    yield procs
    procs.stop_all()
    report = getattr(request.node, "vjepa2_report_call", None)
    if report is not None and report.failed:
        for proc in procs.processes:
            print(f"----- output of {' '.join(proc.cmd)[:200]} (exit {proc.proc.returncode}) -----")
            print(proc.output()[-4000:])
