"""Bounded frame buffers between the image callbacks and the encoder thread (no ROS, no torch).

Both buffers hold decoded frames and never grow past their capacity: when the encoder is slower than the
camera, the oldest frames are dropped (and counted), so latency cannot build up.

* :class:`LatestFrames` (per-frame mode): the newest ``capacity`` frames; the worker takes all of them.
* :class:`ClipWindow` (clip mode): frames sampled at a target rate by their stamps; a clip is the newest
  ``num_frames`` of them, ready every ``stride`` new samples.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded camera frame."""

    rgb: np.ndarray  #: (H, W, 3) uint8
    header: Any  #: std_msgs/Header of the source message (stamp and camera frame_id)
    stamp_ns: int  #: the header stamp in ns (the receive time when the camera left it at zero)
    received_s: float  #: time.monotonic() when the callback got it, for pipeline latency


@dataclass
class BufferStats:
    """Counters of a buffer, read under its lock."""

    size: int = 0  #: frames held now
    capacity: int = 0  #: the most frames it can hold
    max_size: int = 0  #: the most frames it has held at once
    received: int = 0  #: frames offered to the buffer
    dropped: int = 0  #: frames (or whole clips) overwritten before the encoder took them
    skipped: int = 0  #: frames not kept because they came sooner than the target rate (clip mode)


class _Waitable:
    """A condition variable with a stop flag, shared by the buffers' blocking ``take``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._closed = False

    def close(self) -> None:
        """Wake every waiting ``take`` (which then returns nothing)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


class LatestFrames(_Waitable):
    """The newest ``capacity`` frames, oldest dropped first; the worker takes them all at once."""

    def __init__(self, capacity: int = 1) -> None:
        super().__init__()
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self._frames: deque[Frame] = deque()
        self._stats = BufferStats(capacity=capacity)

    def offer(self, stamp_ns: int) -> bool:
        """Count an arriving frame; every frame is wanted (decode it and ``add`` it)."""
        with self._cond:
            self._stats.received += 1
            return True

    def add(self, frame: Frame) -> bool:
        """Add a decoded ``frame``; return True if an older frame had to be dropped to make room."""
        with self._cond:
            dropped = len(self._frames) >= self._stats.capacity
            if dropped:
                self._frames.popleft()
                self._stats.dropped += 1
            self._frames.append(frame)
            self._stats.max_size = max(self._stats.max_size, len(self._frames))
            self._cond.notify_all()
            return dropped

    def take(self, timeout: float) -> list[Frame]:
        """Wait up to ``timeout`` s for frames and return all held ones, oldest first ([] on timeout/close)."""
        with self._cond:
            self._cond.wait_for(lambda: self._frames or self._closed, timeout)
            if self._closed:
                return []
            frames = list(self._frames)
            self._frames.clear()
            return frames

    def clear(self) -> None:
        with self._cond:
            self._frames.clear()

    def stats(self) -> BufferStats:
        with self._cond:
            return BufferStats(**{**self._stats.__dict__, "size": len(self._frames)})


class ClipWindow(_Waitable):
    """Frames sampled at ``fps`` (by stamp) into a window of ``num_frames``; a clip every ``stride`` samples.

    Sampling keeps the first frame at or after each due time (due times advance by 1/fps), so a 30 Hz
    camera sampled at 4 fps gives frames 7 or 8 camera periods apart, 4 fps on average. A stamp that goes
    backwards (a bag restarting, a simulator reset) starts a new window. The first clip is ready when the
    window is full and ``stride`` samples have arrived; then one every ``stride`` new samples. When the
    encoder is busy while several clips become ready, only the newest is encoded; the others count as
    dropped.
    """

    def __init__(self, num_frames: int, fps: float, stride: int = 1) -> None:
        super().__init__()
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.num_frames = num_frames
        self.period_ns = round(1e9 / fps)
        self.stride = stride
        self._frames: deque[Frame] = deque(maxlen=num_frames)
        self._next_due_ns: int | None = None
        self._new_samples = 0  # samples since the last clip was made ready (or the window restarted)
        self._ready: tuple[Frame, ...] | None = None
        self._stats = BufferStats(capacity=num_frames)
        self.restarts = 0  #: windows restarted because a stamp went backwards

    def offer(self, stamp_ns: int) -> bool:
        """Count an arriving frame and say whether it is due; only due frames need decoding and ``add``."""
        with self._cond:
            self._stats.received += 1
            if self._frames and stamp_ns < self._frames[-1].stamp_ns:
                self._restart()
                self.restarts += 1
            if self._next_due_ns is not None and stamp_ns < self._next_due_ns:
                self._stats.skipped += 1
                return False
            return True

    def add(self, frame: Frame) -> bool:
        """Add a due (see ``offer``) decoded ``frame``; return True if it made a clip ready."""
        with self._cond:
            due = frame.stamp_ns if self._next_due_ns is None else self._next_due_ns
            # more than a period late (a gap in the stream): restart the schedule at this frame
            start = due if frame.stamp_ns - due < self.period_ns else frame.stamp_ns
            self._next_due_ns = start + self.period_ns
            self._frames.append(frame)
            self._stats.max_size = max(self._stats.max_size, len(self._frames))
            self._new_samples += 1
            if len(self._frames) < self.num_frames or self._new_samples < self.stride:
                return False
            if self._ready is not None:
                self._stats.dropped += 1
            self._ready = tuple(self._frames)
            self._new_samples = 0
            self._cond.notify_all()
            return True

    def take(self, timeout: float) -> list[Frame]:
        """Wait up to ``timeout`` s for a ready clip and return its frames, oldest first ([] on timeout/close)."""
        with self._cond:
            self._cond.wait_for(lambda: self._ready is not None or self._closed, timeout)
            if self._closed or self._ready is None:
                return []
            clip, self._ready = self._ready, None
            return list(clip)

    def _restart(self) -> None:
        self._frames.clear()
        self._ready = None
        self._next_due_ns = None
        self._new_samples = 0

    def clear(self) -> None:
        with self._cond:
            self._restart()

    def stats(self) -> BufferStats:
        with self._cond:
            return BufferStats(**{**self._stats.__dict__, "size": len(self._frames)})
