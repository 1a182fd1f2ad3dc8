"""Batch conversion driver shared by the rosbag converter and the DROID importer.

Handles the manifest (resume: sources already converted with an unchanged fingerprint are skipped), one
episode shard per synchronised segment, per-source error isolation (a corrupt input is reported and the
batch goes on), the validation report and the tqdm progress bar.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from vjepa2_core.files import check_readable_file

from ..fileio import atomic_write_json
from .episodes import (
    EPISODE_DIR,
    MANIFEST,
    REPORT,
    DatasetError,
    encode_frame,
    load_manifest,
    new_manifest,
    sanitize_id,
    write_episode,
)
from .sync import Segment

LOG = logging.getLogger(__name__)
REPORT_MAX_BYTES = 256 << 20  # the report of a batch of many thousand sources


def fingerprint(path: Path) -> list[list[Any]]:
    """Size and mtime of every file under ``path`` (a file or a directory), to detect changed inputs."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[str(p.relative_to(path.parent)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def resize_short_side(rgb: np.ndarray, short_side: int | None) -> np.ndarray:
    """Resize so that the shorter image side equals ``short_side`` (aspect kept); None keeps the frame."""
    if not short_side:
        return rgb
    h, w = rgb.shape[:2]
    scale = short_side / min(h, w)
    if scale == 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interp)


@dataclass
class SourceOutput:
    """What converting one source produced: segments with their encoded frames, and its validation stats."""

    segments: list[tuple[Segment, list[bytes]]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    frame_shape: tuple[int, int] | None = None


@dataclass(frozen=True)
class FrameEncoding:
    """How frames are stored: codec, JPEG quality and optional resize of the short side."""

    codec: str = "jpeg"
    quality: int = 95
    resize_short_side: int | None = None

    def encode(self, rgb: np.ndarray) -> bytes:
        """Resize (if configured) and encode an RGB frame."""
        return encode_frame(resize_short_side(rgb, self.resize_short_side), self.codec, self.quality)


class DatasetWriter:
    """Owns an output dataset directory: manifest, episode shards, validation report."""

    def __init__(self, root: Path | str, fps: float, encoding: FrameEncoding, resume: bool = True) -> None:
        self.root = Path(root)
        self.encoding = encoding
        manifest_path = self.root / MANIFEST
        if manifest_path.exists() and resume:
            self.manifest = load_manifest(self.root)
            stored = (self.manifest["fps"], self.manifest["frames"]["codec"])
            if stored != (float(fps), encoding.codec):
                raise DatasetError(
                    f"{self.root} was converted with fps={stored[0]}, codec={stored[1]!r}; this run asks for "
                    f"fps={fps}, codec={encoding.codec!r}. Use a new output directory or --no-resume."
                )
        else:
            if manifest_path.exists():
                for old in (self.root / EPISODE_DIR).glob("*.npz"):
                    old.unlink()
            self.manifest = new_manifest(fps, encoding.codec, encoding.quality)
        self.root.mkdir(parents=True, exist_ok=True)
        self._save()

    def _save(self) -> None:
        atomic_write_json(self.root / MANIFEST, self.manifest)

    def is_done(self, key: str, print_: list[list[Any]]) -> bool:
        """True when ``key`` was converted before from identical input files and its shards still exist."""
        entry = self.manifest["sources"].get(key)
        if not entry or entry["status"] not in ("ok", "empty") or entry["fingerprint"] != print_:
            return False
        files = [e["file"] for e in self.manifest["episodes"] if e["source"] == key]
        return all((self.root / f).is_file() for f in files)

    def _episode_id(self, key: str, name: str, index: int, count: int) -> str:
        base = sanitize_id(name)
        taken = {e["id"] for e in self.manifest["episodes"] if e["source"] != key}
        if base in taken:
            base = f"{base}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        return base if count == 1 else f"{base}_seg{index:02d}"

    def commit_source(
        self, key: str, name: str, print_: list[list[Any]], output: SourceOutput | None, error: str | None
    ) -> dict[str, Any]:
        """Write the episodes of one source and record its status in the manifest (atomically)."""
        old = [e for e in self.manifest["episodes"] if e["source"] == key]
        self.manifest["episodes"] = [e for e in self.manifest["episodes"] if e["source"] != key]
        for entry in old:
            (self.root / entry["file"]).unlink(missing_ok=True)
        ids: list[str] = []
        if output is not None:
            count = len(output.segments)
            for i, (segment, frames) in enumerate(output.segments):
                eid = self._episode_id(key, name, i, count)
                path = write_episode(self.root, eid, frames, segment.states, segment.timestamps_ns)
                h, w = output.frame_shape or (None, None)
                self.manifest["episodes"].append(
                    {
                        "id": eid,
                        "file": str(path.relative_to(self.root)),
                        "source": key,
                        "num_frames": len(frames),
                        "height": h,
                        "width": w,
                        "duration_s": float(segment.timestamps_ns[-1] - segment.timestamps_ns[0]) / 1e9,
                    }
                )
                ids.append(eid)
        status = "failed" if error else ("ok" if ids else "empty")
        self.manifest["sources"][key] = {
            "fingerprint": print_,
            "status": status,
            "episodes": ids,
            "error": error,
        }
        self._save()
        return {"status": status, "episodes": ids, "error": error}

    def previous_report_entries(self) -> dict[str, dict[str, Any]]:
        """Per-source entries of the last report (kept for sources that a resumed run skips)."""
        try:
            path = check_readable_file(self.root / REPORT, what="previous report", max_bytes=REPORT_MAX_BYTES)
            old = json.loads(path.read_bytes().decode("utf-8"))
            return {item["source"]: item for item in old.get("sources", []) if "source" in item}
        except (OSError, ValueError, TypeError, AttributeError):  # FileCheckError is a ValueError
            return {}

    def write_report(self, report: dict[str, Any]) -> Path:
        """Write the validation report of this run next to the manifest."""
        path = self.root / REPORT
        atomic_write_json(path, report)
        return path


def run_batch(
    sources: Sequence[Path],
    writer: DatasetWriter,
    convert_one: Callable[[Path], SourceOutput],
    settings: dict[str, Any],
    desc: str = "converting",
) -> dict[str, Any]:
    """Convert every source, skipping finished ones and isolating failures; returns and writes the report."""
    report: dict[str, Any] = {
        "created_unix": time.time(),
        "settings": settings,
        "sources": [],
        "summary": {"converted": 0, "skipped": 0, "failed": 0, "empty": 0, "episodes": 0, "frames": 0},
    }
    summary = report["summary"]
    previous = writer.previous_report_entries()
    for source in tqdm(list(sources), desc=desc, unit="src", dynamic_ncols=True):
        key = str(Path(source).resolve())
        try:
            print_ = fingerprint(Path(source))
        except OSError as err:
            print_ = []
            LOG.warning("cannot stat %s: %s", source, err)
        if print_ and writer.is_done(key, print_):
            summary["skipped"] += 1
            earlier = previous.get(key, {"source": key})
            report["sources"].append({**earlier, "skipped": "already converted by an earlier run"})
            continue
        try:
            output = convert_one(Path(source))
        except Exception as err:  # one bad input must never stop the batch
            message = f"{type(err).__name__}: {err}"
            LOG.warning("skipping %s: %s", source, message)
            result = writer.commit_source(key, Path(source).name, print_, None, message)
            summary["failed"] += 1
            report["sources"].append({"source": key, **result})
            continue
        result = writer.commit_source(key, Path(source).name, print_, output, None)
        summary["converted" if result["status"] == "ok" else "empty"] += 1
        summary["episodes"] += len(result["episodes"])
        summary["frames"] += sum(len(f) for _, f in output.segments)
        report["sources"].append({"source": key, **result, **output.report})
    writer.write_report(report)
    return report
