"""/diagnostics without diagnostic_updater (absent from the PyPI wheels): a periodic status publisher."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import CallbackGroup, MutuallyExclusiveCallbackGroup
from rclpy.node import Node

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR, DiagnosticStatus.STALE)

StatusFn = Callable[[], tuple[int, str, dict[str, object]]]


class DiagnosticsPublisher:
    """Publish one DiagnosticStatus named ``<node name>: <task>`` per task on /diagnostics every period."""

    def __init__(
        self, node: Node, hardware_id: str, period_s: float = 1.0, callback_group: CallbackGroup | None = None
    ) -> None:
        """``callback_group``: give the timer its own group so that status keeps flowing while other
        callbacks of the node (a model load, a blocking service) are busy."""
        self._node = node
        self._hardware_id = hardware_id
        self._tasks: list[tuple[str, StatusFn]] = []
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(
            period_s, self.publish, callback_group=callback_group or MutuallyExclusiveCallbackGroup()
        )

    def add(self, task: str, fn: StatusFn) -> None:
        """Register ``fn() -> (level, message, values)`` as the status of ``task``."""
        self._tasks.append((task, fn))

    def publish(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        for task, fn in self._tasks:
            try:
                level, message, values = fn()
            except Exception as exc:  # a broken status function must not take the node down
                level, message, values = ERROR, f"status function failed: {exc}", {}
            array.status.append(
                DiagnosticStatus(
                    level=bytes([level]) if isinstance(level, int) else level,
                    name=f"{self._node.get_name()}: {task}",
                    message=message,
                    hardware_id=self._hardware_id,
                    values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
                )
            )
        self._pub.publish(array)


class RateMeter:
    """Events per second over a sliding time window; thread-safe."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        with self._lock:
            self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._times and now - self._times[0] > self._window:
                self._times.popleft()
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0


class LatencyStats:
    """Recent latencies (seconds) with percentiles; thread-safe."""

    def __init__(self, size: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)

    def percentile(self, q: float) -> float:
        with self._lock:
            values = sorted(self._values)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, round(q / 100.0 * (len(values) - 1)))]
