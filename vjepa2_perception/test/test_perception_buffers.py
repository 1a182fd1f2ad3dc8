"""The frame buffers stay bounded, drop the oldest, and sample clips at the target rate by stamp."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vjepa2_perception.buffers import ClipWindow, Frame, LatestFrames

CAMERA_NS = 33_333_333  # a 30 Hz camera


def frame(stamp_ns: int) -> Frame:
    return Frame(rgb=np.zeros((2, 2, 3), np.uint8), header=None, stamp_ns=stamp_ns, received_s=0.0)


def feed(buffer: LatestFrames | ClipWindow, stamps: list[int]) -> list[int]:
    """Offer each stamp and add the wanted ones; return the stamps that were wanted."""
    wanted = []
    for stamp in stamps:
        if buffer.offer(stamp):
            buffer.add(frame(stamp))
            wanted.append(stamp)
    return wanted


def test_latest_frames_keeps_the_newest_and_counts_drops() -> None:
    buffer = LatestFrames(capacity=2)
    feed(buffer, list(range(10)))
    stats = buffer.stats()
    assert (stats.size, stats.max_size, stats.received, stats.dropped) == (2, 2, 10, 8)
    assert [f.stamp_ns for f in buffer.take(timeout=1.0)] == [8, 9]
    assert buffer.stats().size == 0
    assert buffer.take(timeout=0.01) == []  # nothing new: times out empty


def test_latest_frames_take_wakes_on_add_and_on_close() -> None:
    buffer = LatestFrames()
    got: list[list[Frame]] = []
    taker = threading.Thread(target=lambda: got.append(buffer.take(timeout=10.0)))
    taker.start()
    buffer.offer(5)
    buffer.add(frame(5))
    taker.join(timeout=10.0)
    assert [f.stamp_ns for f in got[0]] == [5]

    taker = threading.Thread(target=lambda: got.append(buffer.take(timeout=10.0)))
    taker.start()
    buffer.close()
    taker.join(timeout=10.0)
    assert not taker.is_alive() and got[1] == []
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        LatestFrames(0)


def test_clip_window_samples_a_30hz_camera_at_4fps() -> None:
    window = ClipWindow(num_frames=4, fps=4.0)
    stamps = [i * CAMERA_NS for i in range(60)]  # 2 s of camera frames
    wanted = feed(window, stamps)
    gaps = np.diff(wanted) / 1e9
    # the first frame at or after each 250 ms due time: gaps of 7 or 8 camera periods, 4 fps on average
    assert set(np.round(gaps / (CAMERA_NS / 1e9)).astype(int)) <= {7, 8}
    assert abs(len(wanted) - 8) <= 1
    clip = window.take(timeout=1.0)
    assert [f.stamp_ns for f in clip] == wanted[-4:]
    stats = window.stats()
    assert stats.size == 4 and stats.max_size == 4
    assert stats.skipped == 60 - len(wanted)
    # len - 3 clips became ready (one per sample once full); all but the last were replaced before a take
    assert stats.dropped == len(wanted) - 4


def test_clip_window_stride_and_restart_on_time_going_back() -> None:
    window = ClipWindow(num_frames=2, fps=10.0, stride=3)
    period = 100_000_000
    ready = [window.add(frame(i * period)) for i in range(8) if window.offer(i * period)]
    # first clip when 3 samples arrived (window full), then every 3rd sample
    assert ready == [False, False, True, False, False, True, False, False]
    assert [f.stamp_ns for f in window.take(timeout=1.0)] == [4 * period, 5 * period]

    assert window.offer(0)  # a bag restarted: the window starts again
    window.add(frame(0))
    assert window.restarts == 1 and window.stats().size == 1
    assert window.take(timeout=0.01) == []


def test_clip_window_restarts_its_schedule_after_a_gap() -> None:
    window = ClipWindow(num_frames=2, fps=10.0)
    period = 100_000_000
    assert feed(window, [0, period, 5 * period + 1, 5 * period + period // 2, 6 * period + 1]) == [
        0,
        period,
        5 * period + 1,
        6 * period + 1,
    ]


def test_clip_window_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="fps must be > 0"):
        ClipWindow(4, 0.0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        ClipWindow(4, 1.0, stride=0)
