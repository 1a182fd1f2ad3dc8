"""vjepa2-play: rate, loop, start offset, remapping, topic selection, re-stamping, /clock, pause/resume and bad bags,
measured over loopback DDS against the bag's contents (publication times from DDS source timestamps; no sleeps)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from vjepa2_common.messages import NS_PER_S, stamp_to_ns
from vjepa2_training.data.bag_player import (
    DONE_LINE,
    PLAYING_LINE,
    Timeline,
    parse_remaps,
    parse_subscriber_count,
    parse_topic_qos,
    restamp_offset,
    shift_header_stamp,
)
from vjepa2_training.data.bagio import default_typestore
from vjepa2_training.data.synthetic import image_message

IMAGE = "/camera/image_raw"
POSE = "/franka_robot_state_broadcaster/current_pose"
PLAYER = "vjepa2_training.data.bag_player"


# ------------------------------------------------------------------------------------------ ROS-free parts
@pytest.mark.parametrize("little_endian", [True, False])
def test_shift_header_stamp_patches_only_the_stamp(little_endian: bool) -> None:
    ts = default_typestore()
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    stamp = 1_700_000_000 * NS_PER_S + 999_999_999
    raw = bytes(ts.serialize_cdr(image_message(ts, rgb, stamp), "sensor_msgs/msg/Image", little_endian=little_endian))
    shifted = shift_header_stamp(raw, 2 * NS_PER_S + 5)
    back = ts.deserialize_cdr(shifted, "sensor_msgs/msg/Image")
    assert stamp_to_ns(back.header.stamp) == stamp + 2 * NS_PER_S + 5
    assert (back.header.frame_id, back.width, back.height) == ("camera", 5, 4)
    np.testing.assert_array_equal(back.data, rgb.reshape(-1))
    zero = bytes(ts.serialize_cdr(image_message(ts, rgb, 0), "sensor_msgs/msg/Image", little_endian=little_endian))
    assert shift_header_stamp(zero, 10**9) == zero  # an unset stamp stays unset
    with pytest.raises(ValueError, match="plain CDR"):
        shift_header_stamp(b"\x00\x03" + raw[2:], 1)


def test_name_lists_are_checked_against_the_bag() -> None:
    recorded = {IMAGE, POSE}
    assert parse_remaps([f"{IMAGE}:=/replayed/image", f"{POSE}:=pose"], recorded) == {
        IMAGE: "/replayed/image",
        POSE: "pose",
    }
    with pytest.raises(ValueError, match="must look like"):
        parse_remaps([f"{IMAGE}=/x"], recorded)
    with pytest.raises(ValueError, match="/nope is not a topic of the bag"):
        parse_remaps(["/nope:=/x"], recorded)
    assert parse_topic_qos([f"{IMAGE}:sensor_data"], recorded) == {IMAGE: "sensor_data"}
    with pytest.raises(ValueError, match="profile must be one of"):
        parse_topic_qos([f"{IMAGE}:fast"], recorded)
    assert parse_subscriber_count("/a/b") == ("/a/b", 1)
    assert parse_subscriber_count("/a/b:3") == ("/a/b", 3)
    with pytest.raises(ValueError, match="N >= 1"):
        parse_subscriber_count("/a:0")


def test_timeline_deadlines_are_absolute_and_restamp_offsets_only_grow() -> None:
    line = Timeline(rate=2.0, bag_ns=10 * NS_PER_S, wall_ns=500)
    assert line.deadline(11 * NS_PER_S) == 500 + NS_PER_S // 2  # 1 s of bag at rate 2
    assert line.bag_time(500 + NS_PER_S) == 12 * NS_PER_S
    start = 100 * NS_PER_S
    first = restamp_offset(1000 * NS_PER_S, start)
    assert first == 900 * NS_PER_S
    # a pass lasting 5 s of bag time, replayed at rate 4, ends after 1.25 s of wall time: the next pass must not
    # be stamped before the previous one's last stamp
    second = restamp_offset(1001 * NS_PER_S, start, (first, start + 5 * NS_PER_S))
    assert second > first + 5 * NS_PER_S - 1
    assert restamp_offset(2000 * NS_PER_S, start, (first, start + 5 * NS_PER_S)) == 1900 * NS_PER_S


# ------------------------------------------------------------------------------------------ the node over DDS
def recorded(bag: Path, topic: str) -> list[tuple[int, int, bytes]]:
    """(receive time, header stamp, image data) of every message on ``topic``."""
    out = []
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, t_ns, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            out.append((t_ns, stamp_to_ns(msg.header.stamp), bytes(getattr(msg, "data", b""))))
    return out


class Arrivals:
    """(publication time [s], message) of every message on one topic. The time is the DDS source timestamp that
    the player's writer took when it published (system clock): what the player did, whatever delays this busy
    test process adds before its callback runs."""

    def __init__(self, ros, msg_type, topic: str, qos=100) -> None:
        self.items: list[tuple[float, object]] = []
        self._cond = threading.Condition()
        ros.node.create_subscription(msg_type, topic, self._on_message, qos)

    def _on_message(self, msg, info) -> None:
        with self._cond:
            self.items.append((info["source_timestamp"] / NS_PER_S, msg))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 120.0, predicate=None) -> list[tuple[float, object]]:
        """The messages so far, once there are ``count`` (and ``predicate(items)`` holds)."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: len(self.items) >= count and (predicate is None or predicate(self.items)), timeout
            ):
                raise TimeoutError(f"got {len(self.items)} of {count} messages within {timeout} s")
            return list(self.items)


def held_run(clock_items: list[tuple[float, object]]) -> int:
    """How many of the newest /clock messages carry the same time."""
    values = [stamp_to_ns(m.clock) for _, m in clock_items]
    run = 0
    for value in reversed(values):
        if value != values[-1]:
            break
        run += 1
    return run


def slope(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)[0])


def test_recorded_stamps_at_rate_with_clock(ros, launcher, make_bag) -> None:
    """sqlite3 bag at rate 2: every frame with its recorded stamp and bytes, paced at half the recorded
    intervals (fitted over all frames), /clock following the bag's time at twice the wall rate."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    bag = make_bag("sql", n=31, period_s=0.1, storage="sqlite3")
    expected = recorded(bag, IMAGE)
    images = Arrivals(ros, Image, IMAGE)
    clock = Arrivals(ros, Clock, "/clock")
    diagnostics = Arrivals(ros, DiagnosticArray, "/diagnostics")
    player = launcher.module(
        PLAYER, str(bag), "--rate", "2", "--wait-for-subscribers", IMAGE, "--exit-when-done", "--delay", "0.5"
    )
    got = images.wait_for(len(expected))
    assert player.proc.wait(120) == 0, player.output()[-2000:]
    assert PLAYING_LINE in player.output() and DONE_LINE in player.output()
    assert [stamp_to_ns(m.header.stamp) for _, m in got] == [s for _, s, _ in expected]  # recorded stamps, in order
    assert all(bytes(m.data) == data for (_, m), (_, _, data) in zip(got, expected, strict=True))
    bag_s = [(t - expected[0][0]) / NS_PER_S for t, _, _ in expected]
    pace = slope(bag_s, [published for published, _ in got])  # wall seconds per bag second
    print(f"rate 2: {pace:.4f} wall s per bag s over {len(got)} frames (expected 0.5)")
    assert pace == pytest.approx(0.5, rel=0.1)

    ticks = [(arrival, stamp_to_ns(m.clock)) for arrival, m in clock.items]
    values = [v for _, v in ticks]
    assert values == sorted(values), "/clock went back"
    assert values[0] >= expected[0][0] and values[-1] == expected[-1][0]  # ends on the last message's time
    playing = [(a, v) for a, v in ticks if expected[0][0] < v < expected[-1][0]]
    clock_rate = slope([a for a, _ in playing], [v / NS_PER_S for _, v in playing])
    tick_hz = len(playing) / (playing[-1][0] - playing[0][0])
    print(f"/clock: {clock_rate:.3f} bag s per wall s (expected 2), {tick_hz:.0f} messages/s while playing")
    assert clock_rate == pytest.approx(2.0, rel=0.1)
    assert tick_hz > 50  # 100 Hz of ticks plus one per message; a loaded machine may miss some wake-ups

    statuses = [s for _, array in diagnostics.items for s in array.status if s.name == "vjepa2_bag_player: player"]
    assert statuses, "no /diagnostics status from the player"
    values = {kv.key: kv.value for kv in statuses[-1].values}
    assert float(values["lateness_p95_ms"]) >= 0.0 and values["duration_s"] == "3.000"


def test_loop_restamp_remap_and_topic_selection(ros, launcher, make_bag) -> None:
    """Only the camera, renamed, three passes re-stamped: stamps keep the recorded spacing within a pass, start
    at the current time and only grow; /clock too; payloads unchanged; nothing on the recorded names."""
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    bag = make_bag("loop", n=5, period_s=0.05)
    expected = recorded(bag, IMAGE)
    replayed = Arrivals(ros, Image, "/replayed/image")
    original = Arrivals(ros, Image, IMAGE)
    clock = Arrivals(ros, Clock, "/clock")
    launcher.module(
        PLAYER,
        str(bag),
        "--loop",
        "--restamp",
        "--topics",
        IMAGE,
        "--remap",
        f"{IMAGE}:=/replayed/image",
        "--wait-for-subscribers",
        "/replayed/image",
    )
    got = replayed.wait_for(15)[:15]
    stamps = [stamp_to_ns(m.header.stamp) for _, m in got]
    assert stamps == sorted(set(stamps)), "re-stamped times must only grow"
    offsets = [s - rec for s, (_, rec, _) in zip(stamps, expected * 3, strict=True)]
    passes = [offsets[i : i + 5] for i in (0, 5, 10)]
    assert all(len(set(p)) == 1 for p in passes), f"one shift per pass: {passes}"
    assert passes[0][0] < passes[1][0] < passes[2][0]
    assert abs(stamps[0] - got[0][0] * NS_PER_S) < 0.5 * NS_PER_S  # shifted to the time it was published (from 2023)
    assert all(bytes(m.data) == data for (_, m), (_, _, data) in zip(got, expected * 3, strict=True))
    assert not original.items and ros.node.count_publishers(POSE) == 0  # renamed; the pose not selected
    ticks = clock.wait_for(1, predicate=lambda items: stamp_to_ns(items[-1][1].clock) >= stamps[14])
    values = [stamp_to_ns(m.clock) for _, m in ticks]
    assert values == sorted(values)  # /clock shifted the same way: monotonic over the passes


def test_start_offset_pause_and_resume(ros, launcher, make_bag) -> None:
    """Started paused 1 s into the bag: /clock holds that time and nothing is played until ~/resume; a pause
    mid-way holds /clock and the frames; after resuming, exactly the frames from 1 s on have been played."""
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image
    from std_srvs.srv import Trigger

    bag = make_bag("offset", n=20, period_s=0.1)
    expected = recorded(bag, IMAGE)
    start = expected[0][0] + NS_PER_S
    images = Arrivals(ros, Image, IMAGE)
    clock = Arrivals(ros, Clock, "/clock")
    launcher.module(PLAYER, str(bag), "--start-offset", "1.0", "--paused", "--rate", "0.5")
    ticks = clock.wait_for(20)
    assert {stamp_to_ns(m.clock) for _, m in ticks} == {start}  # held at the start, while paused
    assert not images.items
    assert ros.call(Trigger, "/vjepa2_bag_player/resume", Trigger.Request()).success
    images.wait_for(3)
    assert ros.call(Trigger, "/vjepa2_bag_player/pause", Trigger.Request()).success
    held = clock.wait_for(1, predicate=lambda items: held_run(items) >= 20)  # /clock holds the paused time
    count = len(images.items)  # frames sent before the pause have arrived by now (0.2 s of held ticks later)
    clock.wait_for(len(held) + 30)
    assert held_run(clock.items) >= 50  # still holding
    assert len(images.items) == count  # and no frame was played meanwhile
    assert ros.call(Trigger, "/vjepa2_bag_player/resume", Trigger.Request()).success
    got = images.wait_for(10)
    assert [stamp_to_ns(m.header.stamp) for _, m in got] == [s for _, s, _ in expected if s >= start]


def test_bad_bags_end_with_one_line(launcher, make_bag, tmp_path: Path) -> None:
    unfinished = make_bag("unfinished", n=3)
    (unfinished / "metadata.yaml").unlink()
    good = make_bag("good", n=3)
    garbage = tmp_path / "garbage"
    shutil.copytree(good, garbage)
    for storage in garbage.glob("*.mcap"):
        storage.write_bytes(b"not an mcap file" * 10)
    cases = [
        ([str(tmp_path / "nope")], "does not exist: a rosbag2 is a directory"),
        ([], "bag is empty: give the rosbag2 directory to play"),
        ([str(unfinished)], "has no metadata.yaml: the recording was never finalised"),
        ([str(garbage)], "rosbags cannot open it"),
        ([str(good), "--topics", "/nope"], "topics ['/nope'] are not in"),
        ([str(good), "--start-offset", "5"], "start_offset_s 5 is past the end"),
        ([str(good), "--wait-for-subscribers", "/other"], "wait_for_subscribers: /other is not played"),
    ]
    procs = [(launcher.module(PLAYER, *args), text) for args, text in cases]
    for proc, text in procs:
        assert proc.proc.wait(180) == 2, proc.output()[-2000:]
        errors = [line for line in proc.output().splitlines() if "error:" in line]
        assert len(errors) == 1 and text in errors[0], proc.output()[-2000:]
        assert "Traceback" not in proc.output()
