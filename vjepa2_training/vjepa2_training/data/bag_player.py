"""ROS 2 player of recorded bags (node ``vjepa2_bag_player``, CLI ``vjepa2-play``, executable ``bag_player``).

Plays a rosbag2 directory (mcap or sqlite3: what ``vjepa2-record`` writes) onto ROS topics with ``rosbags``
(no rosbag2_py): the recorded CDR bytes are published unchanged (``publish`` of raw bytes), at ``rate`` times
the recorded pace, from ``start_offset_s`` on, optionally in a ``loop``, on the recorded topic names or
``remap``-ped ones, and with the recorded header stamps or ``restamp``-ed ones (shifted so that playback
starts now, relative timing kept). ``/clock`` (rosgraph_msgs/Clock) carries the bag's time (shifted the same
way when restamping), so that other nodes can run with ``use_sim_time``. Parameters: :class:`BagPlayerParams`.

Timing: one playback thread publishes every message at an absolute deadline, ``start + (t - t0) / rate`` on
the monotonic clock, so a slow publish or a late wake-up delays that message only; nothing accumulates.
Between messages it publishes ``/clock`` at ``clock_rate_hz``. The player itself always runs on the wall
clock (``use_sim_time`` is switched off for it: it is the clock's source).

A missing, unfinished or damaged bag, an unknown topic in ``topics``/``remap``/``topic_qos``, or an offset past
the end ends the node at start-up with one line (exit code 2, via ``run_node``). A read error during playback
(a storage file damaged after the start) stops playback with one error line and an ERROR in ``/diagnostics``;
the node stays up.
"""

from __future__ import annotations

import argparse
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from std_srvs.srv import Trigger

from vjepa2_common import names
from vjepa2_common.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher, LatencyStats
from vjepa2_common.messages import NS_PER_S, ns_to_stamp
from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, param
from vjepa2_common.qos import QOS_CHOICES, qos_from_name

from .bagio import check_bag_files, open_bag
from .recorder_node import message_class
from .ros_cli import parameter_overrides, split_ros_args, with_overrides

HEADER_TYPE = "std_msgs/msg/Header"
PLAYING_LINE = "vjepa2_bag_player: playing"
DONE_LINE = "vjepa2_bag_player: finished"
#: period of the "still waiting for subscribers" warning [s]
WAIT_WARNING_PERIOD_S = 10.0
#: CDR encapsulation identifiers (first two bytes of a serialized message): plain CDR, big and little endian
_CDR_BE, _CDR_LE = b"\x00\x00", b"\x00\x01"
_INT32_MAX = 2**31 - 1


@dataclass
class BagPlayerParams:
    """Parameters of ``vjepa2_bag_player``; all are read at start-up (``-p``, a parameter file or the CLI flags)."""

    bag: str = param("", "rosbag2 directory to play (mcap or sqlite3, e.g. written by vjepa2-record)", read_only=True)
    rate: float = param(
        1.0, "Speed factor: 2 plays twice as fast, 0.5 at half speed", min=0.01, max=100.0, read_only=True
    )
    loop: bool = param(False, "Play again from start_offset_s after the last message, until stopped", read_only=True)
    start_offset_s: float = param(
        0.0, "Start this far into the bag [s] (from its first message)", min=0.0, max=1e7, read_only=True
    )
    topics: list[str] = param([], "Recorded topics to play (empty: all of them)", read_only=True)
    remap: list[str] = param(
        [],
        "Output names, '/recorded/topic:=/output/topic' entries (a relative output is in the node's namespace)",
        read_only=True,
    )
    restamp: bool = param(
        False,
        "Shift header stamps and /clock so that playback starts at the current time, keeping the relative timing "
        "(false: the recorded stamps)",
        read_only=True,
    )
    clock: bool = param(
        True, "Publish /clock (rosgraph_msgs/Clock, the bag's time) for nodes running with use_sim_time", read_only=True
    )
    clock_rate_hz: float = param(
        100.0, "/clock publishing rate between messages [Hz]", min=1.0, max=1000.0, read_only=True
    )
    qos: str = param(
        "reliable",
        "QoS of the publishers (reliable also reaches best-effort subscribers such as the encoder's sensor_data)",
        choices=QOS_CHOICES,
        read_only=True,
    )
    qos_depth: int = param(10, "Publisher history depth", min=1, max=10000, read_only=True)
    topic_qos: list[str] = param([], "Per-topic QoS, '/recorded/topic:profile' entries", read_only=True)
    wait_for_subscribers: list[str] = param(
        [],
        "Output topics that need a subscriber before playback starts, '/topic' or '/topic:N' (at least N), e.g. "
        "the encoder's camera topic",
        read_only=True,
    )
    start_paused: bool = param(
        False, "Wait for ~/resume before playing (/clock then holds the start time)", read_only=True
    )
    delay_s: float = param(
        0.0,
        "Wait this long before the first message, after wait_for_subscribers [s]",
        min=0.0,
        max=3600.0,
        read_only=True,
    )
    exit_when_done: bool = param(False, "End the node after the last message (never with loop)", read_only=True)
    diagnostics_period_s: float = param(
        1.0, "Period of the /diagnostics status [s]", min=0.05, max=60.0, read_only=True
    )


# ---------------------------------------------------------------------------------------------- ROS-free parts
def parse_remaps(entries: list[str], recorded: set[str]) -> dict[str, str]:
    """``'/recorded:=/output'`` entries -> ``{recorded: output}``; ValueError naming a bad entry."""
    out: dict[str, str] = {}
    for entry in entries:
        source, sep, target = entry.partition(":=")
        if not sep or not source or not target:
            raise ValueError(f"remap entry {entry!r} must look like '/recorded/topic:=/output/topic'")
        if source not in recorded:
            raise ValueError(f"remap {entry!r}: {source} is not a topic of the bag; it has {sorted(recorded)}")
        if source in out:
            raise ValueError(f"remap: {source} is remapped twice")
        out[source] = target
    return out


def parse_topic_qos(entries: list[str], recorded: set[str]) -> dict[str, str]:
    """``'/recorded:profile'`` entries -> ``{recorded: profile}``; ValueError naming a bad entry."""
    out: dict[str, str] = {}
    for entry in entries:
        topic, sep, profile = entry.rpartition(":")
        if not sep or not topic:
            raise ValueError(f"topic_qos entry {entry!r} must look like '/recorded/topic:profile'")
        if profile not in QOS_CHOICES:
            raise ValueError(f"topic_qos {entry!r}: the profile must be one of {', '.join(QOS_CHOICES)}")
        if topic not in recorded:
            raise ValueError(f"topic_qos {entry!r}: {topic} is not a topic of the bag; it has {sorted(recorded)}")
        out[topic] = profile
    return out


def parse_subscriber_count(entry: str) -> tuple[str, int]:
    """``'/topic'`` -> (topic, 1); ``'/topic:N'`` -> (topic, N); ValueError naming a bad entry."""
    topic, sep, count = entry.rpartition(":")
    if not sep:
        return entry, 1
    if not topic or not count.isdigit() or int(count) < 1:
        raise ValueError(f"wait_for_subscribers entry {entry!r} must look like '/topic' or '/topic:N' with N >= 1")
    return topic, int(count)


def header_first(typestore: Any, msgtype: str) -> bool:
    """Whether ``msgtype``'s first field is a ``std_msgs/Header`` (stamped messages: images, poses, ...)."""
    fields = typestore.fielddefs.get(msgtype, ((), ()))[1]
    return bool(fields) and fields[0][1][1] == HEADER_TYPE


def shift_header_stamp(raw: bytes | memoryview, offset_ns: int) -> bytes:
    """CDR of a message whose first field is a Header, with its stamp moved by ``offset_ns``.

    The stamp sits right after the 4-byte encapsulation header (``int32 sec``, ``uint32 nanosec``), so it is
    patched in place without deserialising the message. A zero stamp (unset) stays zero.
    """
    data = bytes(raw)
    kind = data[:2]
    if kind not in (_CDR_BE, _CDR_LE) or len(data) < 12:
        raise ValueError(f"not a plain CDR message with a header (encapsulation {kind.hex()}, {len(data)} bytes)")
    fmt = "<iI" if kind == _CDR_LE else ">iI"
    sec, nanosec = struct.unpack_from(fmt, data, 4)
    stamp = sec * NS_PER_S + nanosec
    if stamp == 0:
        return data
    sec, nanosec = divmod(stamp + offset_ns, NS_PER_S)
    if not 0 <= sec <= _INT32_MAX:
        raise ValueError(f"the shifted stamp {sec} s does not fit builtin_interfaces/Time")
    out = bytearray(data)
    struct.pack_into(fmt, out, 4, sec, nanosec)
    return bytes(out)


@dataclass(frozen=True)
class Timeline:
    """Bag time <-> monotonic wall time at ``rate``: ``bag_ns`` is played at ``wall_ns``."""

    rate: float
    bag_ns: int
    wall_ns: int

    def deadline(self, bag_ns: int) -> int:
        """When (monotonic ns) the message recorded at ``bag_ns`` is due."""
        return self.wall_ns + round((bag_ns - self.bag_ns) / self.rate)

    def bag_time(self, wall_ns: int) -> int:
        """The bag time that is being played at monotonic ``wall_ns``."""
        return self.bag_ns + round((wall_ns - self.wall_ns) * self.rate)


def restamp_offset(now_ns: int, start_ns: int, previous: tuple[int, int] | None = None) -> int:
    """The shift of one pass's stamps: the start ``start_ns`` is stamped ``now_ns``; a loop's pass never starts
    before the previous one's last stamp (``previous`` = (its offset, its last bag time)), so stamps only grow."""
    offset = now_ns - start_ns
    if previous is not None:
        prev_offset, prev_last_ns = previous
        offset = max(offset, prev_offset + prev_last_ns - start_ns + 1)
    return offset


class _Stopped(Exception):
    """The node is shutting down: the playback thread ends quietly."""


# ---------------------------------------------------------------------------------------------- the node
class BagPlayerNode(Node):
    """Publishes a bag's messages on a dedicated thread; see the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        self._cv = threading.Condition()  # guards _stop and _paused; wakes the playback thread
        self._stop = False
        self._thread: threading.Thread | None = None
        super().__init__(names.BAG_PLAYER_NODE, **kwargs)
        if self.get_parameter("use_sim_time").value:  # it is the clock's source: it paces on the wall clock
            self.set_parameters([Parameter("use_sim_time", Parameter.Type.BOOL, False)])
            self.get_logger().info("use_sim_time ignored: the player runs on the wall clock and publishes /clock")
        self.settings = s = declare_parameters(self, BagPlayerParams)
        if not s.bag:
            raise ValueError(
                "bag is empty: give the rosbag2 directory to play (vjepa2-play /path/to/bag, -p bag:=/path/to/bag, "
                "or vjepa2-launch replay bag:=/path/to/bag)"
            )
        if s.loop and s.exit_when_done:
            raise ValueError("exit_when_done cannot be combined with loop (a loop never ends)")
        self.bag = Path(s.bag).expanduser()
        check_bag_files(self.bag)
        with open_bag(self.bag) as reader:
            types = {c.topic: c.msgtype for c in reader.connections}
            counts = Counter()
            for c in reader.connections:
                counts[c.topic] += c.msgcount
            self._header_first = {topic: header_first(reader.typestore, t) for topic, t in types.items()}
            bag_start, bag_end = reader.start_time, reader.end_time
        recorded = set(types)
        unknown = sorted(set(s.topics) - recorded)
        if unknown:
            raise ValueError(f"topics {unknown} are not in {self.bag}; it has {sorted(recorded)}")
        remaps = parse_remaps(s.remap, recorded)
        topic_qos = parse_topic_qos(s.topic_qos, recorded)
        selected = [t for t in sorted(recorded) if not s.topics or t in s.topics]
        if s.clock and names.CLOCK_TOPIC in selected and names.CLOCK_TOPIC not in remaps:
            selected.remove(names.CLOCK_TOPIC)
            self.get_logger().warning(
                f"{self.bag} holds a recorded {names.CLOCK_TOPIC}: it is not played while the player publishes its "
                "own (set clock: false to play the recorded one)"
            )
        classes = {}
        for topic in selected:
            try:
                classes[topic] = message_class(types[topic])
            except ValueError as err:
                if topic in s.topics:
                    raise
                self.get_logger().warning(f"not playing {topic}: {err}")
        if not classes:
            raise ValueError(f"nothing to play from {self.bag}: no selected topic has messages of a known type")
        if bag_end <= bag_start:
            raise ValueError(f"{self.bag} holds no messages")
        self.start_ns = bag_start + round(s.start_offset_s * NS_PER_S)
        self.end_ns = bag_end
        if self.start_ns >= bag_end:
            raise ValueError(
                f"start_offset_s {s.start_offset_s:g} is past the end of {self.bag} "
                f"(it lasts {(bag_end - bag_start) / NS_PER_S:.3f} s)"
            )

        self._pubs: dict[str, Any] = {}
        outputs: dict[str, str] = {}
        for topic, cls in classes.items():
            target = remaps.get(topic, topic)
            qos = qos_from_name(topic_qos.get(topic, s.qos), s.qos_depth)
            try:
                pub = self.create_publisher(cls, target, qos)
            except Exception as err:  # rclpy's name validation errors
                raise ValueError(f"cannot publish {topic} as {target!r}: {err}") from err
            if pub.topic_name in outputs:
                raise ValueError(f"{outputs[pub.topic_name]} and {topic} would both be published on {pub.topic_name}")
            outputs[pub.topic_name] = topic
            self._pubs[topic] = pub
        self.outputs = {topic: pub.topic_name for topic, pub in self._pubs.items()}
        self._wait_for: list[tuple[Any, int]] = []
        for entry in s.wait_for_subscribers:
            name, count = parse_subscriber_count(entry)
            resolved = self.resolve_topic_name(name)
            if resolved not in outputs:
                raise ValueError(
                    f"wait_for_subscribers: {resolved} is not played; the output topics are {sorted(outputs)}"
                )
            self._wait_for.append((self._pubs[outputs[resolved]], count))
        self._clock_pub = self.create_publisher(Clock, names.CLOCK_TOPIC, 10) if s.clock else None
        self._clock_period_ns = round(NS_PER_S / s.clock_rate_hz)
        self._next_tick = 0
        self._expected = sum(counts[t] for t in self._pubs)

        self._paused = s.start_paused
        self._state = "starting"
        self._error = ""
        self._loops = 0
        self._published: Counter[str] = Counter()
        self._bag_time = self.start_ns
        self._lateness = LatencyStats()
        self._max_lateness_s = 0.0
        self._last_clock_ns = 0
        self.create_service(Trigger, "~/pause", self._on_pause)
        self.create_service(Trigger, "~/resume", self._on_resume)
        self.diagnostics = DiagnosticsPublisher(self, names.BAG_PLAYER_NODE, s.diagnostics_period_s)
        self.diagnostics.add("player", self._status)
        played = ", ".join(f"{t} -> {o}" if t != o else t for t, o in self.outputs.items())
        self.get_logger().info(
            f"{self.bag}: {self._expected} messages over {(bag_end - bag_start) / NS_PER_S:.3f} s; playing "
            f"{played} at rate {s.rate:g} from {s.start_offset_s:g} s{', looped' if s.loop else ''}, "
            f"{'re-stamped' if s.restamp else 'recorded stamps'}{', /clock' if s.clock else ''}"
        )
        self._thread = threading.Thread(target=self._run, name="vjepa2_bag_player", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------------ services
    def _on_pause(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._cv:
            if self._state in ("done", "failed"):
                response.success, response.message = False, f"nothing to pause: playback {self._state}"
                return response
            response.success = not self._paused
            response.message = "paused" if response.success else "already paused"
            self._paused = True
            self._cv.notify_all()
        return response

    def _on_resume(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._cv:
            response.success = self._paused
            response.message = "resumed" if response.success else "not paused"
            self._paused = False
            self._cv.notify_all()
        return response

    # ------------------------------------------------------------------------------------------ playback thread
    def _run(self) -> None:
        s = self.settings
        try:
            with open_bag(self.bag) as reader:  # opened by this thread: an sqlite3 bag must be read where it was opened
                connections = [c for c in reader.connections if c.topic in self._pubs]
                offset = 0
                self._wait_to_start()
                print(f"{PLAYING_LINE} {self.bag}", flush=True)
                previous: tuple[int, int] | None = None
                while True:
                    if s.restamp:
                        offset = restamp_offset(time.time_ns(), self.start_ns, previous)
                    last = self._play_pass(reader, connections, offset)
                    self._loops += 1
                    if not s.loop:
                        break
                    previous = (offset, last)
            self._state = "done"
            self.get_logger().info(f"played {sum(self._published.values())} messages: {dict(self._published)}")
            print(DONE_LINE, flush=True)
            if s.exit_when_done:
                self.context.try_shutdown()
        except _Stopped:
            return
        except Exception as err:  # a damaged storage file: report it, keep the node (and its diagnostics) up
            if self._stop or not self.context.ok():
                return
            self._error = f"playback of {self.bag} stopped: {type(err).__name__}: {err}"
            self._state = "failed"
            self.get_logger().error(self._error)

    def _wait(self, until_ns: int) -> None:
        """Sleep until monotonic ``until_ns`` or a pause/resume/stop; raise _Stopped when stopping."""
        with self._cv:
            if self._stop:
                raise _Stopped
            remaining = until_ns - time.monotonic_ns()
            if remaining > 0:
                self._cv.wait(remaining / NS_PER_S)
            if self._stop:
                raise _Stopped

    def _tick(self, clock_ns: int, now: int) -> int:
        """Publish /clock if a tick is due; return when the next one is (monotonic ns, far away without /clock)."""
        if self._clock_pub is None:
            return now + NS_PER_S
        if now >= self._next_tick:
            self._publish_clock(clock_ns)
            self._next_tick = now + self._clock_period_ns
        return self._next_tick

    def _publish_clock(self, clock_ns: int) -> None:
        if not (self.settings.loop and not self.settings.restamp):  # only a loop on recorded stamps goes back
            clock_ns = max(clock_ns, self._last_clock_ns)
        self._clock_pub.publish(Clock(clock=ns_to_stamp(max(clock_ns, 0))))
        self._last_clock_ns = clock_ns

    def _wait_to_start(self) -> None:
        """Hold until every wait_for_subscribers topic has a subscriber, ~/resume (start_paused) and delay_s;
        /clock holds the start time meanwhile (with restamp: the current time, where the playback will start)."""
        s = self.settings
        warned = time.monotonic()
        while True:
            now = time.monotonic_ns()
            missing = [
                p.topic_name if n == 1 else f"{p.topic_name} ({p.get_subscription_count()} of {n})"
                for p, n in self._wait_for
                if p.get_subscription_count() < n
            ]
            if not missing and not self._paused:
                break
            self._state = f"waiting for a subscriber on {', '.join(missing)}" if missing else "paused"
            if missing and time.monotonic() - warned > WAIT_WARNING_PERIOD_S:
                warned = time.monotonic()
                self.get_logger().warning(f"{self._state} (wait_for_subscribers) before playing")
            clock = time.time_ns() if s.restamp else self.start_ns
            wake = self._tick(clock, now)
            self._wait(min(wake, now + 50_000_000))  # subscriptions appear without an event: look every 50 ms
        until = time.monotonic_ns() + round(s.delay_s * NS_PER_S)
        self._state = "delay"
        while (now := time.monotonic_ns()) < until:
            self._wait(min(self._tick(time.time_ns() if s.restamp else self.start_ns, now), until))

    def _hold(self, timeline: Timeline, due_ns: int, offset: int) -> Timeline:
        """Paused: /clock holds the time reached; on resume the timeline goes on from there."""
        held = min(timeline.bag_time(time.monotonic_ns()), due_ns)
        self._state = "paused"
        self.get_logger().info(f"paused at {(held - self.start_ns) / NS_PER_S:.3f} s into the playback")
        while self._paused:
            now = time.monotonic_ns()
            self._wait(self._tick(held + offset, now))
        self._state = "playing"
        self.get_logger().info("resumed")
        return Timeline(timeline.rate, held, time.monotonic_ns())

    def _play_pass(self, reader: Any, connections: list[Any], offset: int) -> int:
        """Play the bag once from start_ns; return the bag time of its last message."""
        s = self.settings
        timeline = Timeline(s.rate, self.start_ns, time.monotonic_ns())
        self._state = "playing"
        self._next_tick = 0
        last = self.start_ns
        for conn, t_ns, raw in reader.messages(connections=connections, start=self.start_ns):
            while True:  # absolute deadline; /clock ticks (and pauses) in between
                if self._paused:
                    timeline = self._hold(timeline, t_ns, offset)
                now = time.monotonic_ns()
                due = timeline.deadline(t_ns)
                if now >= due:
                    break
                self._wait(min(due, self._tick(min(timeline.bag_time(now), t_ns) + offset, now)))
            late_s = (time.monotonic_ns() - due) / NS_PER_S
            self._lateness.add(late_s)
            self._max_lateness_s = max(self._max_lateness_s, late_s)
            if self._clock_pub is not None:
                self._publish_clock(t_ns + offset)
            data = shift_header_stamp(raw, offset) if s.restamp and self._header_first[conn.topic] else raw
            if self._stop:
                raise _Stopped
            self._pubs[conn.topic].publish(bytes(data))
            self._published[conn.topic] += 1
            self._bag_time = last = t_ns
        return last

    # ------------------------------------------------------------------------------------------ status, teardown
    def _status(self) -> tuple[int, str, dict[str, object]]:
        """/diagnostics task ``player``."""
        s = self.settings
        values: dict[str, object] = {
            "bag": self.bag,
            "state": self._state,
            "rate": s.rate,
            "loop": s.loop,
            "restamp": s.restamp,
            "passes_done": self._loops,
            "position_s": f"{(self._bag_time - self.start_ns) / NS_PER_S:.3f}",
            "duration_s": f"{(self.end_ns - self.start_ns) / NS_PER_S:.3f}",
            "messages_per_pass": self._expected,
            "published": sum(self._published.values()),
            "lateness_p50_ms": f"{self._lateness.percentile(50) * 1e3:.2f}",
            "lateness_p95_ms": f"{self._lateness.percentile(95) * 1e3:.2f}",
            "lateness_max_ms": f"{self._max_lateness_s * 1e3:.2f}",
            **{f"published {topic}": n for topic, n in sorted(self._published.items())},
        }
        if self._error:
            return ERROR, self._error, values
        if self._state.startswith("waiting"):
            return WARN, self._state, values
        return OK, self._state, values

    def destroy_node(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        super().destroy_node()


# ---------------------------------------------------------------------------------------------- CLI
def parse_args(argv: list[str]) -> list[str]:
    """CLI options -> ROS arguments (``-p`` overrides); anything after ``--ros-args`` is passed on unchanged."""
    own, ros = split_ros_args(argv)
    parser = argparse.ArgumentParser(
        prog="vjepa2-play",
        description="Play a rosbag2 (mcap or sqlite3) onto ROS topics, with /clock for use_sim_time.",
        epilog="Any ROS argument may follow --ros-args (-p name:=value, --params-file, -r remaps).",
    )
    parser.add_argument("bag", nargs="?", help="rosbag2 directory")
    parser.add_argument("--rate", type=float, help="speed factor (default 1)")
    parser.add_argument("--loop", action="store_true", default=None, help="play again and again")
    parser.add_argument("--start-offset", type=float, help="start this many seconds into the bag")
    parser.add_argument("--topics", nargs="+", help="recorded topics to play (default: all)")
    parser.add_argument("--remap", nargs="+", metavar="FROM:=TO", help="output names of recorded topics")
    parser.add_argument("--restamp", action="store_true", default=None, help="shift header stamps to now")
    parser.add_argument("--no-clock", dest="clock", action="store_false", default=None, help="do not publish /clock")
    parser.add_argument("--qos", choices=QOS_CHOICES)
    parser.add_argument("--wait-for-subscribers", nargs="+", metavar="TOPIC", help="start once these have a reader")
    parser.add_argument("--paused", dest="start_paused", action="store_true", default=None, help="wait for ~/resume")
    parser.add_argument("--delay", type=float, help="seconds to wait before the first message")
    parser.add_argument("--exit-when-done", action="store_true", default=None, help="end after the last message")
    args = parser.parse_args(own)
    return with_overrides(ros, parameter_overrides(vars(args), {"start_offset": "start_offset_s", "delay": "delay_s"}))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-play`` and of the node executable ``bag_player``."""
    argv = sys.argv[1:] if argv is None else argv
    return run_node(BagPlayerNode, ["vjepa2-play", *parse_args(argv)], num_threads=2)


if __name__ == "__main__":
    sys.exit(main())
