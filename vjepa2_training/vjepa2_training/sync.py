"""Time synchronisation and resampling of camera, pose and gripper streams into episodes.

A regular grid at the target fps is laid over the time span that all streams cover. Each grid point takes
the nearest camera frame; the state is the pose and gripper interpolated at that frame's own timestamp
(linear position, slerp orientation, linear gripper), so image and state refer to the same instant.
A grid point without a camera frame, pose or gripper reading within ``tolerance`` is dropped and splits
the recording into separate episodes; episodes shorter than ``min_frames`` are discarded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from vjepa2_core.conventions import make_states

NS = 1_000_000_000


def interpolate_poses(
    times: np.ndarray, positions: np.ndarray, quats_xyzw: np.ndarray, query_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pose at ``query_times``: linear in position, spherical-linear in orientation.

    ``times`` must be strictly increasing and bracket every query time (callers clip or drop the rest).
    """
    times = np.asarray(times, dtype=np.float64)
    query = np.asarray(query_times, dtype=np.float64)
    if len(times) == 1:
        return np.repeat(positions[:1], len(query), 0), np.repeat(quats_xyzw[:1], len(query), 0)
    pos = np.stack([np.interp(query, times, positions[:, i]) for i in range(3)], axis=1)
    quat = Slerp(times, Rotation.from_quat(quats_xyzw))(query).as_quat()
    return pos, quat


@dataclass(frozen=True)
class SyncSettings:
    """Resampling settings (all validated in :meth:`check`)."""

    fps: float = 4.0
    tolerance_s: float | None = None  # default: half a period at the target fps
    min_frames: int = 2
    gap_factor: float = 3.0  # an interval > gap_factor x the median interval is reported as a gap
    gripper_tolerance: float = 0.05  # readings outside [-tol, 1 + tol] are reported (then clipped)
    workspace_min: tuple[float, float, float] | None = None
    workspace_max: tuple[float, float, float] | None = None

    def check(self) -> SyncSettings:
        """Raise ValueError with a clear message for invalid settings; return self."""
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.tolerance_s is not None and not self.tolerance_s > 0:
            raise ValueError(f"tolerance_s must be > 0 (or null for half a period), got {self.tolerance_s}")
        if self.min_frames < 2:
            raise ValueError(f"min_frames must be >= 2 (an episode needs one action), got {self.min_frames}")
        if not self.gap_factor > 1:
            raise ValueError(f"gap_factor must be > 1, got {self.gap_factor}")
        return self

    @property
    def tolerance_ns(self) -> int:
        """Maximum distance (ns) between a grid point / frame time and the readings used for it."""
        tol = self.tolerance_s if self.tolerance_s is not None else 0.5 / self.fps
        return round(tol * NS)


@dataclass
class Segment:
    """One synchronised episode: indices into the camera stream, states and frame timestamps."""

    frame_indices: np.ndarray
    states: np.ndarray
    timestamps_ns: np.ndarray


@dataclass
class SyncResult:
    """Synchronised segments and the validation statistics of the recording."""

    segments: list[Segment]
    report: dict[str, Any] = field(default_factory=dict)


def stream_gaps(times_ns: np.ndarray, gap_factor: float) -> dict[str, Any]:
    """Message count, median rate and gaps (intervals > gap_factor x median) of a sorted timestamp array."""
    info: dict[str, Any] = {"count": len(times_ns), "rate_hz": None, "gaps": [], "max_gap_s": 0.0}
    if len(times_ns) < 2:
        return info
    dt = np.diff(times_ns)
    median = float(np.median(dt))
    info["rate_hz"] = NS / median if median > 0 else None
    info["max_gap_s"] = float(dt.max()) / NS
    if median > 0:
        big = np.nonzero(dt > gap_factor * median)[0]
        info["gaps"] = [
            {"start_s": float(times_ns[i] - times_ns[0]) / NS, "duration_s": float(dt[i]) / NS} for i in big
        ]
    return info


def _sorted_unique(times_ns: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(times_ns, kind="stable")
    times_ns = times_ns[order]
    keep = np.ones(len(times_ns), dtype=bool)
    keep[1:] = np.diff(times_ns) > 0
    return (times_ns[keep], *(v[order][keep] for v in values))


def _nearest(times_ns: np.ndarray, query_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest time in sorted ``times_ns`` for each query, and the absolute distance."""
    right = np.clip(np.searchsorted(times_ns, query_ns), 1, len(times_ns) - 1)
    left = right - 1
    pick_right = np.abs(times_ns[right] - query_ns) < np.abs(query_ns - times_ns[left])
    idx = np.where(pick_right, right, left)
    if len(times_ns) == 1:
        idx = np.zeros_like(query_ns)
    return idx, np.abs(times_ns[idx] - query_ns)


def synchronise(
    frame_times_ns: np.ndarray,
    pose_times_ns: np.ndarray,
    positions: np.ndarray,
    quats_xyzw: np.ndarray,
    gripper_times_ns: np.ndarray,
    gripper: np.ndarray,
    settings: SyncSettings,
) -> SyncResult:
    """Resample the three streams onto a regular grid and split it at dropped grid points.

    ``frame_indices`` of the returned segments refer to the camera stream in its ORIGINAL order.
    """
    settings.check()
    tol = settings.tolerance_ns
    period = NS / settings.fps
    report: dict[str, Any] = {"out_of_range": {}, "dropped_frames": {}, "streams": {}}
    oor = report["out_of_range"]

    frame_times = np.asarray(frame_times_ns, dtype=np.int64)
    frame_order = np.argsort(frame_times, kind="stable")
    frame_times = frame_times[frame_order]

    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    quats = np.asarray(quats_xyzw, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(positions).all(1) & np.isfinite(quats).all(1)
    norms = np.linalg.norm(quats, axis=1)
    oor["pose_nonfinite"] = int((~finite).sum())
    oor["quaternion_not_unit"] = int((finite & (np.abs(norms - 1.0) > 1e-3)).sum())
    finite &= norms > 1e-6
    pose_times, positions, quats = _sorted_unique(
        np.asarray(pose_times_ns, dtype=np.int64)[finite], positions[finite], quats[finite]
    )
    quats = quats / np.linalg.norm(quats, axis=1, keepdims=True)
    if settings.workspace_min is not None and settings.workspace_max is not None:
        low, high = np.asarray(settings.workspace_min), np.asarray(settings.workspace_max)
        oor["position_outside_workspace"] = int(((positions < low) | (positions > high)).any(1).sum())

    grip = np.asarray(gripper, dtype=np.float64)
    grip_ok = np.isfinite(grip)
    oor["gripper_nonfinite"] = int((~grip_ok).sum())
    grip_times, grip = _sorted_unique(np.asarray(gripper_times_ns, dtype=np.int64)[grip_ok], grip[grip_ok])
    g_tol = settings.gripper_tolerance
    oor["gripper_outside_0_1"] = int(((grip < -g_tol) | (grip > 1 + g_tol)).sum())
    grip = np.clip(grip, 0.0, 1.0)

    for name, times in (("camera", frame_times), ("pose", pose_times), ("gripper", grip_times)):
        report["streams"][name] = stream_gaps(times, settings.gap_factor)
    named = (("camera", frame_times), ("pose", pose_times), ("gripper", grip_times))
    if any(len(t) == 0 for _, t in named):
        empty = [n for n, t in named if len(t) == 0]
        raise ValueError(f"no usable messages on stream(s) {empty}")

    start = max(frame_times[0], pose_times[0], grip_times[0])
    end = min(frame_times[-1], pose_times[-1], grip_times[-1])
    if end < start:
        raise ValueError("the camera, pose and gripper streams do not overlap in time")
    grid = start + np.round(np.arange(int((end - start) // period) + 1) * period).astype(np.int64)
    report["grid_points"] = len(grid)

    frame_idx, frame_dist = _nearest(frame_times, grid)
    ok_frame = frame_dist <= tol
    duplicate = np.zeros(len(grid), dtype=bool)  # a frame already used by the previous grid point
    duplicate[1:] = (frame_idx[1:] == frame_idx[:-1]) & ok_frame[:-1]
    ok_frame &= ~duplicate
    tau = frame_times[frame_idx]  # state is taken at the frame's own time
    _, pose_dist = _nearest(pose_times, tau)
    _, grip_dist = _nearest(grip_times, tau)
    ok_pose = pose_dist <= tol
    ok_grip = grip_dist <= tol
    valid = ok_frame & ok_pose & ok_grip
    report["dropped_frames"] = {
        "total": int((~valid).sum()),
        "no_camera_frame": int((~ok_frame).sum()),
        "no_pose": int((ok_frame & ~ok_pose).sum()),
        "no_gripper": int((ok_frame & ok_pose & ~ok_grip).sum()),
    }

    segments: list[Segment] = []
    short = 0
    boundaries = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    for seg_start, seg_end in zip(boundaries[::2], boundaries[1::2]):
        if seg_end - seg_start < settings.min_frames:
            short += 1
            continue
        times = tau[seg_start:seg_end]
        inside = np.clip(times, pose_times[0], pose_times[-1])
        pos, quat = interpolate_poses(pose_times, positions, quats, inside)
        g = np.interp(times, grip_times, grip)
        segments.append(
            Segment(
                frame_indices=frame_order[frame_idx[seg_start:seg_end]],
                states=make_states(pos, quat, g),
                timestamps_ns=times.astype(np.int64),
            )
        )
    report["segments_too_short"] = short
    report["episodes_frames"] = [len(s.frame_indices) for s in segments]
    return SyncResult(segments, report)
