"""ROS 2 recorder of training data (node ``vjepa2_recorder``, CLI ``vjepa2-record``).

Subscribes to the camera, end-effector pose, gripper and (optionally) command topics with raw subscriptions
(CDR bytes, no deserialisation) and writes them unchanged into a rosbag2 (mcap or sqlite3) with ``rosbags``.
Topic names and message types are parameters (:class:`RecorderParams`), so the same node records vjepa2_sim
and a real robot. It runs under :func:`vjepa2_common.node.run_node` like every node of the suite.

Shutdown is safe: the bag is opened last in ``__init__`` and finalised (index + ``metadata.yaml``) by
:meth:`RecorderNode.close`, which ``destroy_node`` calls on every exit path of ``run_node`` (SIGINT, SIGTERM,
an exception). ``max_duration_s`` / ``max_frames`` stop the recording by shutting the node's context down,
which takes the same path. Only a SIGKILL leaves an unfinished bag, which ``vjepa2-convert-bags`` reports and
skips.
"""

from __future__ import annotations

import argparse
import atexit
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rclpy.node import Node

from vjepa2_common import names
from vjepa2_common.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher
from vjepa2_common.messages import interface_class
from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, param
from vjepa2_common.qos import qos_from_name

from .bagio import STORAGES, BagError, BagWriter, default_typestore, ensure_type
from .ros_cli import parameter_overrides, split_ros_args, with_overrides

#: the recorded streams, each a ``<role>_topic`` / ``<role>_type`` parameter pair
ROLES = ("image", "pose", "gripper", "command")
#: roles that must all have delivered a message before the node reports itself active (commands may be sparse)
STATE_ROLES = ("image", "pose", "gripper")
READY_LINE = "vjepa2_recorder: camera, pose and gripper topics active"
RECORDER_QOS_CHOICES = ("sensor_data", "reliable")
#: period of the "messages so far" log line [s]
REPORT_PERIOD_S = 5.0
#: raw bytes waiting for the bag writer beyond which the subscriptions wait for it
MAX_QUEUED_BYTES = 512 * 1024 * 1024


@dataclass
class RecorderParams:
    """Parameters of ``vjepa2_recorder``; all are read at start-up (set them with ``-p`` or a parameter file)."""

    output: str = param("", "rosbag2 directory to create (empty: recording_<UTC time>)", read_only=True)
    storage: str = param("mcap", "rosbag2 storage plugin", choices=sorted(STORAGES), read_only=True)
    image_topic: str = param(names.CAMERA_IMAGE_TOPIC, "Camera topic (empty: not recorded)", read_only=True)
    image_type: str = param("sensor_msgs/msg/Image", "Message type of image_topic (pkg/msg/Name)", read_only=True)
    pose_topic: str = param(names.CURRENT_POSE_TOPIC, "End-effector pose topic (empty: not recorded)", read_only=True)
    pose_type: str = param("geometry_msgs/msg/PoseStamped", "Message type of pose_topic", read_only=True)
    gripper_topic: str = param(
        names.GRIPPER_JOINT_STATES_TOPIC, "Gripper state topic (empty: not recorded)", read_only=True
    )
    gripper_type: str = param("sensor_msgs/msg/JointState", "Message type of gripper_topic", read_only=True)
    command_topic: str = param(names.SERVO_TWIST_TOPIC, "Command topic (empty: not recorded)", read_only=True)
    command_type: str = param("geometry_msgs/msg/TwistStamped", "Message type of command_topic", read_only=True)
    extra_topics: list[str] = param([], "More topics to record, each '/topic:pkg/msg/Type'", read_only=True)
    qos: str = param(
        "sensor_data",
        "QoS of the state/extra subscriptions (sensor_data also matches reliable publishers)",
        choices=RECORDER_QOS_CHOICES,
        read_only=True,
    )
    command_qos: str = param(
        "reliable",
        "QoS of the command subscription (reliable: no command is lost while discovery completes)",
        choices=RECORDER_QOS_CHOICES,
        read_only=True,
    )
    qos_depth: int = param(100, "Subscription queue depth", min=1, max=10000, read_only=True)
    max_duration_s: float = param(0.0, "Stop after this long [s] (0: never)", min=0.0, max=1e7, read_only=True)
    max_frames: int = param(0, "Stop after this many image messages (0: never)", min=0, read_only=True)
    silence_warning_s: float = param(
        5.0,
        "Warn once per topic when a camera/pose/gripper/extra topic has sent nothing for this long [s] (0: never)",
        min=0.0,
        max=3600.0,
        read_only=True,
    )
    diagnostics_period_s: float = param(
        1.0, "Period of the /diagnostics status [s]", min=0.05, max=60.0, read_only=True
    )


def message_class(msgtype: str) -> Any:
    """The rclpy message class of ``pkg/msg/Name``."""
    return interface_class(msgtype, "msg")


class BagThread:
    """A :class:`BagWriter` owned by one thread: an sqlite3 bag must be written by the thread that opened it.

    :meth:`put` queues raw messages from any thread (it blocks while more than ``max_queued_bytes`` wait, so
    a burst slows the subscriptions down instead of exhausting memory); :meth:`close` writes what is queued
    and finalises the bag. ``counts`` are the messages written per topic.
    """

    def __init__(
        self,
        path: Path,
        storage: str,
        typestore: Any,
        topics: dict[str, str],
        on_error: Callable[[str], None],
        max_queued_bytes: int = MAX_QUEUED_BYTES,
    ) -> None:
        self.path = path
        self.counts = dict.fromkeys(topics, 0)
        self._on_error = on_error
        self._max_queued_bytes = max_queued_bytes
        self._queue: queue.SimpleQueue[tuple[str, int, bytes] | None] = queue.SimpleQueue()
        self._space = threading.Condition()
        self._queued_bytes = 0
        self._closed = False
        #: why writing stopped (empty while it works)
        self.error = ""
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(storage, typestore, topics), name="vjepa2_recorder_bag", daemon=True
        )
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            self._thread.join()
            raise self._open_error
        atexit.register(self.close)  # a safety net: every exit path of the node closes it already

    def _run(self, storage: str, typestore: Any, topics: dict[str, str]) -> None:
        try:
            bag = BagWriter(self.path, storage, typestore).__enter__()
            try:
                for topic, msgtype in topics.items():
                    bag.add_topic(topic, msgtype)
            except BaseException:
                bag.__exit__(None, None, None)
                raise
        except BaseException as err:
            self._open_error = err
            self._opened.set()
            return
        self._opened.set()
        failed = False
        try:
            while (item := self._queue.get()) is not None:
                topic, stamp_ns, raw = item
                if not failed:
                    try:
                        bag.write_raw(topic, stamp_ns, raw)
                        self.counts[topic] += 1
                    except Exception as err:  # e.g. the disk is full: keep what was written, stop writing
                        failed = True
                        self.error = f"cannot write {topic} to {self.path}: {err}"
                        self._on_error(self.error)
                with self._space:
                    self._queued_bytes -= len(raw)
                    self._space.notify_all()
        finally:
            bag.__exit__(None, None, None)

    def put(self, topic: str, stamp_ns: int, raw: bytes) -> bool:
        """Queue one message (False once closed)."""
        with self._space:
            self._space.wait_for(lambda: self._queued_bytes < self._max_queued_bytes or self._closed)
            if self._closed:
                return False
            self._queued_bytes += len(raw)
            self._queue.put((topic, stamp_ns, raw))
        return True

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def close(self) -> None:
        """Write what is queued and finalise the bag (index + metadata.yaml); idempotent."""
        with self._space:
            if self._closed:
                return
            self._closed = True
            self._space.notify_all()
            self._queue.put(None)
        self._thread.join()
        atexit.unregister(self.close)


class RecorderNode(Node):
    """Raw-subscribes to the configured topics and writes them into a new bag until :meth:`close`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(names.RECORDER_NODE, **kwargs)
        self.settings = settings = declare_parameters(self, RecorderParams)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
        self.output = Path(settings.output or f"recording_{stamp}")
        self.storage = settings.storage
        self.topics: dict[str, str] = {}
        self.roles: dict[str, str] = {}
        for role in ROLES:
            topic = getattr(settings, f"{role}_topic")
            if topic:
                self._add(topic, getattr(settings, f"{role}_type"), role)
        for item in settings.extra_topics:
            topic, sep, msgtype = item.partition(":")
            if not sep or not topic.startswith("/"):
                raise ValueError(f"extra_topics entry {item!r} must look like '/topic:pkg/msg/Type'")
            self._add(topic, msgtype, "extra")
        if not self.topics:
            raise ValueError("nothing to record: every topic parameter is empty")
        self.qos = qos_from_name(settings.qos, settings.qos_depth)
        # commands (MoveIt Servo, the planner, the sim) are published reliably: a reliable subscription gets
        # every one, including those sent while discovery is still completing
        self.command_qos = qos_from_name(settings.command_qos, settings.qos_depth)
        self.classes = {topic: message_class(msgtype) for topic, msgtype in self.topics.items()}
        typestore = default_typestore()
        try:
            for msgtype in self.topics.values():
                ensure_type(typestore, msgtype)
        except BagError as err:
            raise ValueError(str(err)) from err

        self.done = False
        self._lock = threading.Lock()  # guards the received counts (read by the status timers)
        self.received = dict.fromkeys(self.topics, 0)
        self._announced = False
        self._silent_warned: set[str] = set()
        state = [t for t, role in self.roles.items() if role in STATE_ROLES]
        self._state_topics = state or list(self.topics)
        self._started = time.monotonic()
        # Opened last: from here on every exit (an error below included) finalises the bag.
        try:
            self._bag = BagThread(self.output, self.storage, typestore, self.topics, self._on_write_error)
        except BagError as err:
            raise ValueError(str(err)) from err
        try:
            for topic in self.topics:
                qos = self.command_qos if self.roles[topic] == "command" else self.qos
                self.create_subscription(self.classes[topic], topic, self._callback(topic), qos, raw=True)
            self.create_timer(REPORT_PERIOD_S, self._report)
            if settings.silence_warning_s:
                self.create_timer(min(1.0, settings.silence_warning_s), self._warn_silent_topics)
            self.diagnostics = DiagnosticsPublisher(self, names.RECORDER_NODE, settings.diagnostics_period_s)
            self.diagnostics.add("recorder", self._status)
            if settings.max_duration_s:
                self.create_timer(settings.max_duration_s, lambda: self._finish("max_duration_s reached"))
        except BaseException:
            self.close()
            raise
        self.get_logger().info(
            f"recording {len(self.topics)} topics to {self.output} ({self.storage}): {sorted(self.topics)}"
        )

    def _add(self, topic: str, msgtype: str, role: str) -> None:
        resolved = self.resolve_topic_name(topic)
        if resolved in self.topics:
            raise ValueError(f"topic {resolved} is configured twice")
        self.topics[resolved] = msgtype
        self.roles[resolved] = role

    def _callback(self, topic: str) -> Callable[[bytes], None]:
        is_image = self.roles[topic] == "image"

        def on_message(raw: bytes) -> None:
            # put() may wait for the writer (a burst): never while holding the lock. The subscriptions share the
            # node's default (mutually exclusive) group, so the max_frames check below still sees each image once.
            if self.done or not self._bag.put(topic, self.get_clock().now().nanoseconds, raw):
                return
            with self._lock:
                self.received[topic] += 1
                announce = not self._announced and all(self.received[t] for t in self._state_topics)
                self._announced |= announce
                limit = bool(self.settings.max_frames) and is_image and self.received[topic] >= self.settings.max_frames
                self.done |= limit
            if announce:
                self.get_logger().info("camera, pose and gripper topics active")
                print(READY_LINE, flush=True)
            if limit:
                self._finish("max_frames reached")

        return on_message

    def _on_write_error(self, message: str) -> None:
        self.get_logger().error(f"{message}; stopping the recording (what was written stays readable)")
        self._finish("write error")

    def _finish(self, reason: str) -> None:
        """Stop recording and end ``run_node``'s spin (it then finalises the bag through destroy_node)."""
        self.done = True
        self.get_logger().info(f"{reason}: stopping")
        self.context.try_shutdown()

    def _report(self) -> None:
        with self._lock:
            received = dict(self.received)
        self.get_logger().info(f"messages so far: {received}")

    def _silent_topics(self) -> list[str]:
        """Subscribed streams (commands excepted: they may be sparse) silent for ``silence_warning_s``."""
        limit = self.settings.silence_warning_s
        if not limit or time.monotonic() - self._started < limit:
            return []
        with self._lock:
            return [t for t, role in self.roles.items() if role != "command" and not self.received[t]]

    def _warn_silent_topics(self) -> None:
        """Name each silent stream once, with how to fix it."""
        for topic in self._silent_topics():
            if topic in self._silent_warned:
                continue
            self._silent_warned.add(topic)
            role = self.roles[topic]
            hint = ""
            if role == "image" and topic != names.SIM_EXTERIOR_IMAGE_TOPIC:
                hint = (
                    f" (a bare vjepa2_sim sim_node publishes {names.SIM_EXTERIOR_IMAGE_TOPIC}: pass --image-topic "
                    f"{names.SIM_EXTERIOR_IMAGE_TOPIC}, or start the sim with vjepa2-launch, which remaps it here)"
                )
            self.get_logger().warning(
                f"no {role} message on {topic} after {self.settings.silence_warning_s:g} s: is it published "
                f"(ros2 topic list)? Set {role}_topic to the right name{hint}"
            )

    def _status(self) -> tuple[int, str, dict[str, object]]:
        """/diagnostics task ``recorder``: messages received per topic, bytes waiting for the writer."""
        with self._lock:
            received = dict(self.received)
        values: dict[str, object] = {"output": self.output, "storage": self.storage, **received}
        values["queued_bytes"] = self._bag.queued_bytes
        if self._bag.error:
            return ERROR, self._bag.error, values
        silent = self._silent_topics()
        if silent:
            return WARN, f"no message on {', '.join(silent)}", values
        return OK, f"recording {sum(received.values())} messages to {self.output}", values

    def close(self) -> None:
        """Stop recording and finalise the bag (index + metadata.yaml); idempotent."""
        self.done = True
        bag = getattr(self, "_bag", None)
        if bag is not None and not bag.closed:
            bag.close()
            print(f"vjepa2_recorder: wrote {self.output}: {bag.counts}", flush=True)

    def destroy_node(self) -> None:
        try:
            self.close()
        finally:
            super().destroy_node()


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """CLI options -> parameter overrides; anything after ``--ros-args`` is passed to rclpy unchanged."""
    own, ros = split_ros_args(argv)
    parser = argparse.ArgumentParser(
        prog="vjepa2-record",
        description="Record camera, end-effector pose, gripper and command topics into a rosbag2.",
        epilog="Any ROS argument may follow --ros-args (remaps, -p name:=value, --params-file).",
    )
    parser.add_argument("-o", "--output", help="bag directory to create (default: recording_<UTC time>)")
    parser.add_argument("--storage", choices=sorted(STORAGES))
    defaults = RecorderParams()
    for role in ROLES:
        parser.add_argument(f"--{role}-topic", help=f"default {getattr(defaults, f'{role}_topic')}; '' disables")
        parser.add_argument(f"--{role}-type", help=f"default {getattr(defaults, f'{role}_type')}")
    parser.add_argument("--extra-topic", action="append", help="'/topic:pkg/msg/Type' (repeatable)")
    parser.add_argument("--qos", choices=RECORDER_QOS_CHOICES)
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--max-frames", type=int, help="stop after this many images")
    args = parser.parse_args(own)
    overrides = parameter_overrides(vars(args), {"duration": "max_duration_s", "extra_topic": "extra_topics"})
    return args, with_overrides(ros, overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-record`` (also the node executable)."""
    argv = sys.argv[1:] if argv is None else argv
    _, ros_argv = parse_args(argv)
    return run_node(RecorderNode, ["vjepa2-record", *ros_argv])


if __name__ == "__main__":
    sys.exit(main())
