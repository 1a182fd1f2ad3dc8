"""ResponsiveExecutor: messages through a relay node stay fast, and callback groups still run concurrently."""

from __future__ import annotations

import threading
import time

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from vjepa2_common.image import rgb_to_image
from vjepa2_common.testing import DISCOVERY_TIMEOUT_S, RosHarness, wait_until
from vjepa2_common.tools.image_publisher import test_pattern

RELIABLE_1 = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


def test_relay_round_trip_latency_stays_low(launcher, ros: RosHarness) -> None:
    """Closed loop of 196 KB images through a relay process (stock MultiThreadedExecutor: ~50 ms median)."""
    launcher.node("vjepa2_common", "relay", params={"qos": "reliable"}, remaps={"input": "/in", "output": "/out"})
    arrivals: dict[int, float] = {}
    cond = threading.Condition()

    def arrived(msg: Image) -> None:
        with cond:
            arrivals[msg.header.stamp.sec] = time.monotonic()
            cond.notify_all()

    ros.node.create_subscription(Image, "/out", arrived, RELIABLE_1)
    pub = ros.publisher(Image, "/in", RELIABLE_1, subscribers=1)
    wait_until(lambda: ros.node.count_publishers("/out") >= 1, DISCOVERY_TIMEOUT_S, "the relay's output")
    frame = rgb_to_image(test_pattern(0, 256, 256))
    latencies = []
    for i in range(1, 41):
        frame.header.stamp = Time(sec=i)
        sent = time.monotonic()
        pub.publish(frame)
        with cond:
            assert cond.wait_for(lambda i=i: i in arrivals, 10.0), f"frame {i} was not relayed"
        latencies.append(arrivals[i] - sent)
    assert np.median(latencies[5:]) < 0.015, np.round(np.array(latencies) * 1e3, 1)


def test_a_blocking_callback_does_not_stop_other_groups(ros: RosHarness) -> None:
    release = threading.Event()
    ticks: list[float] = []
    ros.node.create_service(
        Trigger,
        "block",
        lambda _req, res: (release.wait(10.0), res)[1],
        callback_group=MutuallyExclusiveCallbackGroup(),
    )
    ros.node.create_timer(0.01, lambda: ticks.append(time.monotonic()), callback_group=MutuallyExclusiveCallbackGroup())
    client = ros.node.create_client(Trigger, "block")
    assert client.wait_for_service(timeout_sec=DISCOVERY_TIMEOUT_S)
    future = client.call_async(Trigger.Request())
    wait_until(lambda: len(ticks) > 5, 5.0, "timer ticks")
    count = len(ticks)
    wait_until(lambda: len(ticks) >= count + 10, 5.0, "timer ticks while the service blocks")
    assert not future.done()
    release.set()
    wait_until(future.done, 10.0, "the blocked service to answer")
