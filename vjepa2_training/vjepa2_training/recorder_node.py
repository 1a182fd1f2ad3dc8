"""ROS 2 recorder of training data (node ``vjepa2_recorder``, CLI ``vjepa2-record``).

Subscribes to the camera, end-effector pose, gripper and (optionally) command topics with raw subscriptions
(CDR bytes, no deserialisation) and writes them unchanged into a rosbag2 (mcap or sqlite3) with ``rosbags``.
Topic names and message types are parameters, so the same node records vjepa2_sim and a real robot.

Shutdown is safe: SIGINT/SIGTERM (or ``max_duration_s`` / ``max_frames``) end the spin loop INSIDE the bag
writer's ``with`` block, so the bag is always finalised (index + ``metadata.yaml``) and readable. Only a
SIGKILL leaves an unfinished bag, which ``vjepa2-convert-bags`` reports and skips.

Parameters (all optional): ``output`` (bag directory; default ``recording_<UTC time>``), ``storage``
(``mcap`` | ``sqlite3``), ``{image,pose,gripper,command}_topic`` and ``..._type`` (an empty topic disables
that stream), ``extra_topics`` (``["/topic:pkg/msg/Type", ...]``), ``qos`` (``sensor_data`` matches both
best-effort and reliable publishers; ``reliable``), ``command_qos`` (``reliable`` by default: no command is lost
while discovery completes), ``qos_depth``, ``max_duration_s``, ``max_frames``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from vjepa2_common import names
from vjepa2_common.dds import ensure_localhost_discovery
from vjepa2_common.params import declare
from vjepa2_common.qos import qos_from_name

from .bagio import STORAGES, BagWriter

STREAMS = (
    ("image", names.CAMERA_IMAGE_TOPIC, "sensor_msgs/msg/Image"),
    ("pose", names.CURRENT_POSE_TOPIC, "geometry_msgs/msg/PoseStamped"),
    ("gripper", names.GRIPPER_JOINT_STATES_TOPIC, "sensor_msgs/msg/JointState"),
    ("command", names.SERVO_TWIST_TOPIC, "geometry_msgs/msg/TwistStamped"),
)
READY_LINE = "vjepa2_recorder: camera, pose and gripper topics active"


def message_class(msgtype: str) -> Any:
    """The rclpy message class of ``pkg/msg/Name``."""
    parts = msgtype.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"message type must look like 'pkg/msg/Name', got {msgtype!r}")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import message type {msgtype!r} ({err}); is its package built and sourced?") from err


class RecorderNode(Node):
    """Raw-subscribes to the configured topics; :meth:`start` connects them to an open :class:`BagWriter`."""

    def __init__(self, context: Any = None) -> None:
        super().__init__(names.RECORDER_NODE, context=context)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
        self.output = Path(declare(self, "output", "", "rosbag2 directory to create") or f"recording_{stamp}")
        self.storage = declare(self, "storage", "mcap", "rosbag2 storage plugin", choices=sorted(STORAGES))
        self.topics: dict[str, str] = {}
        self.roles: dict[str, str] = {}
        for role, topic, msgtype in STREAMS:
            name = declare(self, f"{role}_topic", topic, f"{role} topic (empty: do not record)")
            kind = declare(self, f"{role}_type", msgtype, f"message type of {role}_topic (pkg/msg/Name)")
            if name:
                self._add(name, kind, role)
        extra = declare(
            self, "extra_topics", [], "more topics to record, each '/topic:pkg/msg/Type'", value_type=list[str]
        )
        for item in extra or []:
            name, sep, kind = item.partition(":")
            if not sep or not name.startswith("/"):
                raise ValueError(f"extra_topics entry {item!r} must look like '/topic:pkg/msg/Type'")
            self._add(name, kind, "extra")
        if not self.topics:
            raise ValueError("nothing to record: every topic parameter is empty")
        depth = declare(self, "qos_depth", 100, "subscription queue depth", min_value=1, max_value=10000)
        self.qos = qos_from_name(
            declare(
                self, "qos", "sensor_data", "QoS of the state/extra subscriptions", choices=("sensor_data", "reliable")
            ),
            depth,
        )
        # commands (MoveIt Servo, the planner, the sim) are published reliably: a reliable subscription gets
        # every one, including those sent while discovery is still completing
        self.command_qos = qos_from_name(
            declare(
                self, "command_qos", "reliable", "QoS of the command subscription", choices=("sensor_data", "reliable")
            ),
            depth,
        )
        self.max_duration_s = declare(self, "max_duration_s", 0.0, "stop after this long (0: never)", min_value=0.0)
        self.max_frames = declare(self, "max_frames", 0, "stop after this many image messages (0: never)", min_value=0)
        self.classes = {topic: message_class(kind) for topic, kind in self.topics.items()}
        self.done = False
        self._bag: BagWriter | None = None
        self._subscriptions: list[Any] = []
        self._started = 0.0
        self._announced = False
        self._state_topics: list[str] = []

    def _add(self, topic: str, msgtype: str, role: str) -> None:
        resolved = self.resolve_topic_name(topic)
        if resolved in self.topics:
            raise ValueError(f"topic {resolved} is configured twice")
        self.topics[resolved] = msgtype
        self.roles[resolved] = role

    def _qos_for(self, topic: str) -> Any:
        return self.command_qos if self.roles[topic] == "command" else self.qos

    def start(self, bag: BagWriter) -> None:
        """Register every topic in ``bag`` and subscribe (raw CDR) to them."""
        self._bag = bag
        for topic, msgtype in self.topics.items():
            bag.add_topic(topic, msgtype)
            callback = self._callback(topic)
            self._subscriptions.append(
                self.create_subscription(self.classes[topic], topic, callback, self._qos_for(topic), raw=True)
            )
        state = [t for t, role in self.roles.items() if role in ("image", "pose", "gripper")]
        self._state_topics = state or list(self.topics)  # commands may be sparse: not needed to be "active"
        self._started = time.monotonic()
        self.create_timer(5.0, self._report)
        self.get_logger().info(
            f"recording {len(self.topics)} topics to {self.output} ({self.storage}): {sorted(self.topics)}"
        )

    def _callback(self, topic: str) -> Any:
        def on_message(raw: bytes) -> None:
            if self.done or self._bag is None:
                return
            self._bag.write_raw(topic, self.get_clock().now().nanoseconds, raw)
            if not self._announced and all(self._bag.counts[t] for t in self._state_topics):
                self._announced = True
                self.get_logger().info("camera, pose and gripper topics active")
                print(READY_LINE, flush=True)
            self._check_limits(topic)

        return on_message

    def _check_limits(self, topic: str) -> None:
        if self.max_frames and self.roles[topic] == "image" and self._bag.counts[topic] >= self.max_frames:
            self.done = True
        self.check_duration()

    def check_duration(self) -> None:
        """Mark the recording done once ``max_duration_s`` has passed."""
        if self.max_duration_s and time.monotonic() - self._started >= self.max_duration_s:
            self.done = True

    def _report(self) -> None:
        if self._bag is not None:
            self.get_logger().info(f"messages so far: {self._bag.counts}")

    def stop(self) -> None:
        """Unsubscribe (no callback may write after the bag is closed)."""
        self.done = True
        for sub in self._subscriptions:
            self.destroy_subscription(sub)
        self._subscriptions.clear()


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """CLI options -> parameter overrides; anything after ``--ros-args`` is passed to rclpy unchanged."""
    if "--ros-args" in argv:
        cut = argv.index("--ros-args")
        own, ros = argv[:cut], argv[cut:]
    else:
        own, ros = argv, []
    parser = argparse.ArgumentParser(
        prog="vjepa2-record",
        description="Record camera, end-effector pose, gripper and command topics into a rosbag2.",
        epilog="Any ROS argument may follow --ros-args (remaps, -p name:=value, --params-file).",
    )
    parser.add_argument("-o", "--output", help="bag directory to create (default: recording_<UTC time>)")
    parser.add_argument("--storage", choices=sorted(STORAGES))
    for role, topic, msgtype in STREAMS:
        parser.add_argument(f"--{role}-topic", help=f"default {topic or '(none)'}; '' disables")
        parser.add_argument(f"--{role}-type", help=f"default {msgtype}")
    parser.add_argument("--extra-topic", action="append", help="'/topic:pkg/msg/Type' (repeatable)")
    parser.add_argument("--qos", choices=["sensor_data", "reliable"])
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--max-frames", type=int, help="stop after this many images")
    args = parser.parse_args(own)
    overrides = []
    for name, value in vars(args).items():
        if value is None or name == "extra_topic":
            continue
        param = {"duration": "max_duration_s"}.get(name, name)
        if isinstance(value, float):
            value = repr(value)
        overrides += ["-p", f"{param}:={value!s}" if value != "" else f"{param}:=''"]
    if args.extra_topic:
        overrides += ["-p", "extra_topics:=[" + ",".join(f"'{t}'" for t in args.extra_topic) + "]"]
    if overrides:
        ros = ["--ros-args", *overrides, *ros[1:]] if ros else ["--ros-args", *overrides]
    return args, ros


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-record`` (also the node executable)."""
    argv = sys.argv[1:] if argv is None else argv
    _, ros_argv = parse_args(argv)
    ensure_localhost_discovery()
    rclpy.init(args=["vjepa2-record", *ros_argv])
    node = None
    executor = SingleThreadedExecutor()
    try:
        node = RecorderNode()
        executor.add_node(node)
        with BagWriter(node.output, node.storage) as bag:
            node.start(bag)
            try:  # the interrupt is handled inside the writer's block, so the bag is finalised normally
                while rclpy.ok() and not node.done:
                    executor.spin_once(timeout_sec=0.1)
                    node.check_duration()
            except (KeyboardInterrupt, ExternalShutdownException):
                pass
            finally:
                node.stop()
        print(f"vjepa2_recorder: wrote {node.output}: {bag.counts}", flush=True)
        return 0
    except (ValueError, OSError) as err:
        print(f"vjepa2-record: error: {err}", file=sys.stderr)
        return 2
    finally:
        executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
