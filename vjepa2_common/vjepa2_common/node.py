"""One entry point for every node of the suite: safe DDS defaults, multi-threaded spin, clean shutdown."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vjepa2_common.dds import ensure_localhost_discovery


def params_file_args(args: Sequence[str]) -> list[str]:
    """The ``--params-file`` paths among ROS arguments (only after ``--ros-args``, as rcl reads them)."""
    paths, in_ros_args = [], False
    for i, arg in enumerate(args):
        if arg == "--ros-args":
            in_ros_args = True
        elif arg == "--":
            in_ros_args = False
        elif in_ros_args and arg == "--params-file" and i + 1 < len(args):
            paths.append(args[i + 1])
    return paths


def check_params_files(args: Sequence[str]) -> str | None:
    """One line saying why a ``--params-file`` cannot be used (missing, not a file, not YAML), or None."""
    import yaml

    for path in params_file_args(args):
        file = Path(path)
        if not file.is_file():
            return f"parameter file '{path}' {'is not a regular file' if file.exists() else 'does not exist'}"
        try:
            data = yaml.safe_load(file.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            return f"cannot parse parameter file '{path}': {' '.join(str(exc).split())[:300]}"
        if not isinstance(data, dict):
            return f"parameter file '{path}' must map node names to 'ros__parameters' (see the package README)"
    return None


def warn_unknown_parameters(node: Any, args: Sequence[str]) -> list[str]:
    """Log one warning naming the keys of ``--params-file`` files that ``node`` does not declare; return them.

    ROS 2 ignores such keys silently, so a misspelt parameter would otherwise keep its default unnoticed.
    """
    from vjepa2_common.params import parameter_file_values

    unknown: list[str] = []
    for path in params_file_args(args):
        try:
            values = parameter_file_values(path, node.get_name(), node.get_namespace())
        except ValueError:
            continue  # rcl already parsed the file; a section it accepted but we do not is not the user's error
        unknown += [name for name in values if not node.has_parameter(name) and name not in unknown]
    if unknown:
        node.get_logger().warning(
            f"ignoring unknown parameter(s) {', '.join(unknown)} from the parameter file(s) (misspelt? see "
            "the node's parameter table in its README)"
        )
    return unknown


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
    argv = list(sys.argv if args is None else args)
    name = getattr(factory, "__name__", "node")
    problem = check_params_files(argv)
    if problem:
        print(f"[{name}] error: {problem}", file=sys.stderr, flush=True)
        return 2
    ensure_localhost_discovery()
    import rclpy
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException

    from vjepa2_common.executors import ResponsiveExecutor

    # The default context: rclpy's SIGINT/SIGTERM handlers shut it down, which ends spin() below.
    rclpy.init(args=argv)
    context = rclpy.get_default_context()
    node = None
    executor = ResponsiveExecutor(num_threads=num_threads, context=context)
    code = 0
    try:
        node = factory(context=context)
        warn_unknown_parameters(node, argv)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:  # rclpy's RCLError: SIGINT shut the context down while spin() built its wait set
        if context.ok():
            raise
    except (ValueError, TypeError, OSError, ParameterException) as exc:
        # Configuration errors (bad parameter values, missing files) end the process with one clear line,
        # not a traceback; anything else is a bug and keeps its traceback.
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
