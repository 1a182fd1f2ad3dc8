"""One entry point for every node of the suite: safe DDS defaults, multi-threaded spin, clean shutdown."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence

from vjepa2_common.dds import ensure_localhost_discovery


def run_node(
    factory: Callable[..., object],
    args: Sequence[str] | None = None,
    *,
    num_threads: int | None = None,
) -> int:
    """Create the node with ``factory(context=...)``, spin it until SIGINT/SIGTERM, then tear it down.

    ``args`` defaults to ``sys.argv`` so that ``--ros-args`` (remaps, ``--params-file``, ``-p``) work as
    with ``ros2 run``. A multi-threaded executor (:class:`~vjepa2_common.executors.ResponsiveExecutor`)
    keeps services and timers of other callback groups responsive while one callback blocks. Returns a
    process exit code.
    """
    ensure_localhost_discovery()
    import rclpy
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException

    from vjepa2_common.executors import ResponsiveExecutor

    # The default context: rclpy's SIGINT/SIGTERM handlers shut it down, which ends spin() below.
    rclpy.init(args=list(sys.argv if args is None else args))
    context = rclpy.get_default_context()
    node = None
    executor = ResponsiveExecutor(num_threads=num_threads, context=context)
    code = 0
    try:
        node = factory(context=context)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, TypeError, OSError, ParameterException) as exc:
        # Configuration errors (bad parameter values, missing files) end the process with one clear line,
        # not a traceback; anything else is a bug and keeps its traceback.
        name = getattr(factory, "__name__", "node")
        print(f"[{name}] error: {exc}", file=sys.stderr, flush=True)
        code = 2
    finally:
        # A second Ctrl-C must not interrupt the teardown half-way (e.g. while a node closes a device).
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            executor.shutdown(timeout_sec=1.0)
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown(context=context)
        finally:
            signal.signal(signal.SIGINT, previous)
    return code
