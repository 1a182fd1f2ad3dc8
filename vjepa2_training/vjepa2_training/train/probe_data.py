"""Labelled clips for attentive probes: where the labels come from and how clips are sampled from them.

Two label sources, both turned into :class:`LabelledVideo` items (one "video" = one labelled stretch of frames):

* an intervals file over converted episodes: CSV with the header ``episode,start,end,label[,split]`` or YAML
  (a list of mappings with those keys, or ``{intervals: [...]}``); ``start``/``end`` are frame indices of the
  episode (``end`` exclusive, ``end: -1`` = the episode's end), ``split`` is ``train`` or ``val`` (optional);
* a folder of video files per class, decoded with OpenCV: ``ROOT/<label>/<file>`` (split at random), or
  ``ROOT/train/<label>/<file>`` and ``ROOT/val/<label>/<file>``.

Clip sampling follows the official frozen video-classification eval: a video is cut into ``num_segments``
equal parts and one clip of ``frames_per_clip`` frames, every ``frame_step``-th frame, is taken from each part
(from the start of the part at evaluation; a clip longer than its part repeats the last frame). Each clip is
seen in ``num_views`` spatial crops spread along the long side of the frame; evaluation averages the softmax
over all segments x views of a video. Training uses ``train_clips_per_segment`` clip positions spread over each
part (the official loader draws one at random each epoch; a fixed set keeps features cacheable).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from vjepa2_core.files import FileCheckError, check_readable_file

from ..data.episodes import EpisodeStore

SPLITS = ("train", "val")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
INTERVAL_KEYS = ("episode", "start", "end", "label")
MAX_LABEL_FILE_BYTES = 64 * 1024 * 1024


class LabelError(ValueError):
    """A label file or video folder that cannot be used; the message names the entry and the fix."""


@dataclass(frozen=True)
class LabelledVideo:
    """Frames ``[start, end)`` of ``source`` (an episode id, or a video file) carry ``label``."""

    source: str
    start: int
    end: int
    label: str
    split: str | None = None

    @property
    def num_frames(self) -> int:
        return self.end - self.start


# ----------------------------------------------------------------------------------------------- label sources
def read_intervals(path: str | Path, store: EpisodeStore) -> list[LabelledVideo]:
    """The labelled intervals of an intervals file (CSV or YAML), checked against the episodes of ``store``."""
    try:
        path = check_readable_file(path, what="probe labels file", max_bytes=MAX_LABEL_FILE_BYTES)
    except FileCheckError as exc:
        raise LabelError(str(exc)) from None
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LabelError(f"{path}: not valid YAML: {exc}") from None
        rows = doc.get("intervals") if isinstance(doc, dict) else doc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise LabelError(
                f"{path}: expected a list of {{episode, start, end, label}} mappings (or intervals: [...])"
            )
    else:
        rows = list(csv.DictReader(text.splitlines()))
        if rows and not set(INTERVAL_KEYS) <= set(rows[0]):
            raise LabelError(f"{path}: the CSV header must name {', '.join(INTERVAL_KEYS)} (and optionally split)")
    lengths = {entry["id"]: store.num_frames(i) for i, entry in enumerate(store.entries)}
    videos = []
    for n, row in enumerate(rows, start=2 if path.suffix.lower() not in (".yaml", ".yml") else 1):
        where = f"{path}: entry {n}"
        missing = [k for k in INTERVAL_KEYS if row.get(k) in (None, "")]
        if missing:
            raise LabelError(f"{where}: {', '.join(missing)} missing")
        episode = str(row["episode"])
        if episode not in lengths:
            raise LabelError(f"{where}: episode {episode!r} is not in the datasets (first ids: {sorted(lengths)[:5]})")
        try:
            start, end = int(row["start"]), int(row["end"])
        except (TypeError, ValueError):
            raise LabelError(
                f"{where}: start and end must be frame indices, got {row['start']!r}, {row['end']!r}"
            ) from None
        end = lengths[episode] if end == -1 else end
        if not 0 <= start < end <= lengths[episode]:
            raise LabelError(
                f"{where}: frames [{start}, {end}) are not inside episode {episode!r} (0..{lengths[episode]})"
            )
        split = row.get("split") or None
        if split is not None and split not in SPLITS:
            raise LabelError(f"{where}: split must be one of {SPLITS}, got {split!r}")
        videos.append(LabelledVideo(episode, start, end, str(row["label"]), split))
    if not videos:
        raise LabelError(f"{path} labels no interval")
    return videos


def scan_video_folder(root: str | Path) -> list[LabelledVideo]:
    """One :class:`LabelledVideo` per video file under ``root/<label>/`` (or ``root/{train,val}/<label>/``)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LabelError(f"video folder {root} does not exist or is not a directory")
    split_dirs = [root / s for s in SPLITS if (root / s).is_dir()]
    parts = [(d, d.name) for d in split_dirs] if split_dirs else [(root, None)]
    videos = []
    for base, split in parts:
        for class_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() in VIDEO_SUFFIXES:
                    videos.append(LabelledVideo(str(file), 0, count_video_frames(file), class_dir.name, split))
    if not videos:
        raise LabelError(
            f"no video files ({', '.join(VIDEO_SUFFIXES)}) under {root}/<label>/ or {root}/train|val/<label>/"
        )
    return videos


def count_video_frames(path: Path) -> int:
    """Frames of a video file, counted by decoding (container frame counts can be wrong)."""
    return len(read_video(path))


def read_video(path: str | Path) -> np.ndarray:
    """All frames of a video file as RGB uint8 ``[T, H, W, 3]`` (OpenCV); one clear error if unreadable."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise LabelError(f"video {path} has no decodable frames (OpenCV could not read it); re-encode it (e.g. mp4)")
    if len({f.shape for f in frames}) > 1:
        raise LabelError(f"video {path} changes its frame size mid-stream")
    return np.stack(frames)


def class_names(videos: Sequence[LabelledVideo], order: Sequence[str] | None = None) -> list[str]:
    """The class list (index = class id): ``order`` if given (it must cover every label), else sorted labels."""
    found = sorted({v.label for v in videos})
    if order is None:
        return found
    unknown = sorted(set(found) - set(order))
    if unknown:
        raise LabelError(f"labels {unknown} are not in data.class_names {list(order)}")
    if len(set(order)) != len(order):
        raise LabelError(f"data.class_names lists a class twice: {list(order)}")
    return list(order)


def split_videos(
    videos: Sequence[LabelledVideo], val_fraction: float, seed: int
) -> tuple[list[LabelledVideo], list[LabelledVideo]]:
    """(train, val): explicit splits where given, the rest split per class (``val_fraction`` of each, >= 1)."""
    train = [v for v in videos if v.split == "train"]
    val = [v for v in videos if v.split == "val"]
    free = [v for v in videos if v.split is None]
    rng = random.Random(seed)
    for label in sorted({v.label for v in free}):
        items = [v for v in free if v.label == label]
        rng.shuffle(items)
        n_val = max(1, round(val_fraction * len(items))) if val_fraction > 0 and len(items) > 1 else 0
        val += items[:n_val]
        train += items[n_val:]
    if not train or not val:
        raise LabelError(
            f"need labelled clips for both training and validation (got {len(train)} train, {len(val)} val); "
            "label more intervals, or set data.val_fraction / a split column"
        )
    return train, val


# ----------------------------------------------------------------------------------------------- clip sampling
def clip_indices(
    num_frames: int, frames_per_clip: int, frame_step: int, num_segments: int, positions: int = 1
) -> list[list[int]]:
    """Frame indices (relative to the video's start) of its clips: ``positions`` clips per segment.

    The video is cut into ``num_segments`` equal parts; within a part the clips start at ``positions`` evenly
    spread offsets (1 = the part's start, the official evaluation clip). Indices past the video's end repeat
    its last frame.
    """
    if min(num_frames, frames_per_clip, frame_step, num_segments, positions) < 1:
        raise ValueError("num_frames, frames_per_clip, frame_step, num_segments and positions must be >= 1")
    span = (frames_per_clip - 1) * frame_step + 1
    part = num_frames / num_segments
    clips = []
    for segment in range(num_segments):
        first = int(segment * part)
        room = max(0, int((segment + 1) * part) - first - span)  # start offsets that keep the clip in its part
        for k in range(positions):
            offset = round(room * k / (positions - 1)) if positions > 1 else 0
            start = first + offset
            clips.append([min(start + i * frame_step, num_frames - 1) for i in range(frames_per_clip)])
    return clips


def spatial_views(frames: np.ndarray, num_views: int) -> list[np.ndarray]:
    """``num_views`` square crops (side = the short side) spread along the long side of ``[T, H, W, 3]`` frames;
    one view is the frames unchanged (the eval transform's centre crop, as the perception node sees them)."""
    if num_views == 1:
        return [frames]
    h, w = frames.shape[1:3]
    side = min(h, w)
    views = []
    for k in range(num_views):
        offset = round((max(h, w) - side) * k / (num_views - 1))
        views.append(frames[:, offset : offset + side] if h > w else frames[:, :, offset : offset + side])
    return views


class FrameSource:
    """Decoded frames of a :class:`LabelledVideo` (episodes from an :class:`EpisodeStore`, or video files)."""

    def __init__(self, store: EpisodeStore | None = None) -> None:
        self.store = store
        self._episode_index = {e["id"]: i for i, e in enumerate(store.entries)} if store is not None else {}

    def frames(self, video: LabelledVideo) -> np.ndarray:
        """All frames of ``video`` (its interval), RGB uint8 ``[num_frames, H, W, 3]``."""
        if video.source in self._episode_index:
            episode = self.store.load(self._episode_index[video.source])
            return episode.frames(range(video.start, video.end))
        return read_video(video.source)[video.start : video.end]
