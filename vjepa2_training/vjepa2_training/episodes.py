"""Training-episode storage: one compressed shard per episode plus a JSON manifest.

Layout of a dataset directory::

    manifest.json             format/version, fps, frame codec, episode list, per-source status
    report.json               validation report of the latest conversion run
    episodes/<id>.npz         one shard per episode (numpy .npz, loaded with allow_pickle=False)

Keys of an episode shard (T = number of frames):

    frames_data     uint8  [total_bytes]   the T encoded frames (JPEG or PNG, RGB) concatenated
    frames_offsets  int64  [T + 1]         frame i is frames_data[offsets[i]:offsets[i+1]]
    states          float32 [T, 7]         x, y, z, Euler-xyz (extrinsic), gripper in [0, 1]
    actions         float32 [T - 1, 7]     Δxyz, Euler-xyz(R_{t+1} R_tᵀ), Δgripper
    timestamps_ns   int64  [T]             time of each frame (ns, recording clock)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vjepa2_core.conventions import ACTION_DIM, EULER_SEQ, STATE_DIM, STATE_LAYOUT, states_to_actions

from .fileio import atomic_write

FORMAT_NAME = "vjepa2_training.episodes"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REPORT = "report.json"
EPISODE_DIR = "episodes"
CODECS = ("jpeg", "png")
_SHARD_KEYS = ("frames_data", "frames_offsets", "states", "actions", "timestamps_ns")
_ID_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")


class DatasetError(RuntimeError):
    """A dataset directory is missing, malformed, or incompatible with the requested settings."""


def sanitize_id(text: str) -> str:
    """A file-name-safe episode id derived from ``text``."""
    return _ID_PATTERN.sub("_", text).strip("_") or "episode"


def encode_frame(rgb: np.ndarray, codec: str = "jpeg", quality: int = 95) -> bytes:
    """Encode an ``HxWx3`` uint8 RGB frame as JPEG or PNG bytes."""
    if codec not in CODECS:
        raise ValueError(f"frame codec must be one of {CODECS}, got {codec!r}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"encode_frame expects an HxWx3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if codec == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError(f"OpenCV failed to encode a {rgb.shape} frame as {codec}")
    return buf.tobytes()


def decode_frame(data: np.ndarray | bytes) -> np.ndarray:
    """Decode JPEG/PNG bytes into an ``HxWx3`` uint8 RGB array."""
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError("a stored frame could not be decoded (corrupt shard?)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_episode(
    root: Path, episode_id: str, frames: Sequence[bytes], states: np.ndarray, timestamps_ns: np.ndarray
) -> Path:
    """Write one episode shard atomically; actions are derived from ``states``. Returns the shard path."""
    states = np.asarray(states, dtype=np.float64)
    if states.shape != (len(frames), STATE_DIM):
        raise ValueError(f"write_episode: states {states.shape} do not match {len(frames)} frames x 7")
    if len(timestamps_ns) != len(frames):
        raise ValueError("write_episode: one timestamp per frame is required")
    offsets = np.zeros(len(frames) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(f) for f in frames])
    arrays = {
        "frames_data": np.frombuffer(b"".join(frames), dtype=np.uint8),
        "frames_offsets": offsets,
        "states": states.astype(np.float32),
        "actions": states_to_actions(states).astype(np.float32),
        "timestamps_ns": np.asarray(timestamps_ns, dtype=np.int64),
    }
    path = root / EPISODE_DIR / f"{episode_id}.npz"
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


@dataclass
class Episode:
    """One loaded episode; frames stay encoded until :meth:`frames` decodes the requested ones."""

    episode_id: str
    states: np.ndarray
    actions: np.ndarray
    timestamps_ns: np.ndarray
    frames_data: np.ndarray
    frames_offsets: np.ndarray

    @property
    def num_frames(self) -> int:
        """Number of frames (= number of states)."""
        return len(self.frames_offsets) - 1

    def frame_bytes(self, index: int) -> np.ndarray:
        """The encoded bytes of frame ``index``."""
        return self.frames_data[self.frames_offsets[index] : self.frames_offsets[index + 1]]

    def frames(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Decoded RGB frames ``[n, H, W, 3]`` uint8 (all frames when ``indices`` is None)."""
        idx = range(self.num_frames) if indices is None else indices
        return np.stack([decode_frame(self.frame_bytes(int(i))) for i in idx])


def load_episode(path: Path, episode_id: str | None = None) -> Episode:
    """Load an episode shard written by :func:`write_episode`, validating its arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in _SHARD_KEYS}
    except (OSError, ValueError, KeyError) as err:
        raise DatasetError(f"episode shard {path} is unreadable or incomplete: {err}") from err
    n = len(arrays["frames_offsets"]) - 1
    if arrays["states"].shape != (n, STATE_DIM) or arrays["actions"].shape != (max(n - 1, 0), ACTION_DIM):
        raise DatasetError(
            f"episode shard {path}: states {arrays['states'].shape} / actions {arrays['actions'].shape} "
            f"do not match {n} frames"
        )
    return Episode(episode_id or path.stem, **arrays)


def new_manifest(fps: float, codec: str, quality: int) -> dict[str, Any]:
    """An empty manifest for a dataset converted at ``fps`` with the given frame codec."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "fps": float(fps),
        "frames": {"codec": codec, "quality": int(quality), "color": "rgb"},
        "state_layout": list(STATE_LAYOUT),
        "euler_convention": f"scipy '{EULER_SEQ}' (extrinsic X, then Y, then Z)",
        "action_definition": "[p_{t+1} - p_t, euler_xyz(R_{t+1} R_t^T), g_{t+1} - g_t]",
        "gripper_convention": "0 = open, 1 = closed",
        "episodes": [],
        "sources": {},
    }


def load_manifest(root: Path) -> dict[str, Any]:
    """Read and check ``root/manifest.json``."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{root} is not an episode dataset: {MANIFEST} is missing (convert data first)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path} is not valid JSON: {err}") from err
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise DatasetError(
            f"{path}: unsupported dataset format {manifest.get('format')!r} v{manifest.get('version')}; "
            f"expected {FORMAT_NAME!r} v{FORMAT_VERSION}"
        )
    return manifest


class EpisodeStore:
    """Read access to a converted dataset directory (one or more, concatenated)."""

    def __init__(self, roots: Path | str | Sequence[Path | str]) -> None:
        roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
        if not roots:
            raise DatasetError("no dataset directory given")
        self.entries: list[dict[str, Any]] = []
        self._paths: list[Path] = []
        self._keys: dict[int, str] = {}
        fps_values = set()
        for root in map(Path, roots):
            manifest = load_manifest(root)
            fps_values.add(manifest["fps"])
            for entry in manifest["episodes"]:
                self.entries.append(entry)
                self._paths.append(root / entry["file"])
        if len(fps_values) > 1:
            raise DatasetError(f"datasets were converted at different frame rates {sorted(fps_values)}")
        self.fps = fps_values.pop()

    def __len__(self) -> int:
        return len(self.entries)

    def num_frames(self, index: int) -> int:
        """Frame count of episode ``index`` (from the manifest, no I/O)."""
        return int(self.entries[index]["num_frames"])

    def load(self, index: int) -> Episode:
        """Load episode ``index``."""
        return load_episode(self._paths[index], self.entries[index]["id"])

    def content_key(self, index: int) -> str:
        """Name for derived data of episode ``index`` (e.g. cached features): its id plus a hash of the shard's
        location, size and mtime, so equal ids in different datasets and re-converted episodes never clash."""
        if index not in self._keys:
            path = self._paths[index]
            stat = path.stat()
            digest = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
            self._keys[index] = f"{self.entries[index]['id']}-{digest[:10]}"
        return self._keys[index]
