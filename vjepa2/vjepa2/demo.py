"""make demo: run the most complete path of the planning loop that works today, and report what it saw.

Today: the ``camera_relay`` graph (test-pattern camera -> relay) is started by the same runner as
``vjepa2-launch``; a subscriber in this process measures the relayed frame rate, then the graph is stopped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from vjepa2_common.dds import ensure_localhost_discovery


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to watch the relayed camera")
    opts = parser.parse_args(argv)
    ensure_localhost_discovery()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from vjepa2.graph import get_graph
    from vjepa2.runner import GraphRunner
    from vjepa2_common.qos import qos_from_name

    rclpy.init()
    node = rclpy.create_node("vjepa2_demo")
    stamps: list[float] = []
    node.create_subscription(Image, "/camera/image_relayed", lambda _m: stamps.append(time.monotonic()),
                             qos_from_name("sensor_data"))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    with tempfile.TemporaryDirectory() as tmp:
        runner = GraphRunner(get_graph("camera_relay").nodes({"rate_hz": "30.0"}), Path(tmp))
        runner.start()
        try:
            deadline = time.monotonic() + 20.0
            while not stamps and time.monotonic() < deadline:
                time.sleep(0.05)
            if not stamps:
                print("demo: no frame arrived within 20 s; is the workspace built (make setup)?", file=sys.stderr)
                return 1
            first = len(stamps)
            time.sleep(opts.seconds)
            received = stamps[first:]
        finally:
            runner.stop()
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown()
    rate = (len(received) - 1) / (received[-1] - received[0]) if len(received) > 1 else 0.0
    print(f"demo: camera -> relay -> demo over DDS (loopback): {len(received)} frames in {opts.seconds:.0f} s, "
          f"{rate:.1f} Hz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
