"""Raw DROID episodes -> training episodes (CLI ``vjepa2-import-droid``).

A raw DROID episode directory holds ``trajectory.h5`` (``observation/robot_state/cartesian_position``
``[N, 6]`` = xyz + extrinsic-XYZ Euler angles in the robot base frame, ``observation/robot_state/
gripper_position`` ``[N]`` in [0, 1], 1 = closed), ``recordings/MP4/<camera serial>.mp4`` (one frame per
trajectory step) and usually a ``metadata_*.json`` naming the cameras (``ext1_cam_serial``, ...).
The output has exactly the format of ``vjepa2-convert-bags``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import h5py
import numpy as np
from scipy.spatial.transform import Rotation

from vjepa2_core.conventions import EULER_SEQ

from .config_io import ConfigError, from_dict, to_dict
from .convert import add_common_args, config_data, print_summary
from .dataset_writer import DatasetWriter, FrameEncoding, SourceOutput, run_batch
from .episodes import DatasetError
from .sync import SyncSettings, synchronise

LOG = logging.getLogger("vjepa2_training.droid")
CARTESIAN_KEY = "observation/robot_state/cartesian_position"
GRIPPER_KEY = "observation/robot_state/gripper_position"


@dataclass
class DroidConfig:
    """Settings of ``vjepa2-import-droid``.

    ``camera``: ``auto`` (the metadata's ``ext1_cam_serial``, else the first non-stereo MP4), a metadata key
    such as ``ext2_cam_serial`` / ``wrist_cam_serial``, or a camera serial number.
    ``source_fps``: trajectory/video rate; null uses the MP4's frame rate (DROID records at 15 Hz).
    """

    camera: str = "auto"
    source_fps: float | None = None
    sync: SyncSettings = field(default_factory=SyncSettings)
    codec: Literal["jpeg", "png"] = "jpeg"
    quality: int = 95
    resize_short_side: int | None = None

    def validate(self) -> None:
        self.sync.check()
        if self.source_fps is not None and not self.source_fps > 0:
            raise ValueError(f"source_fps must be > 0 or null, got {self.source_fps}")


def find_droid_episodes(paths: list[Path]) -> list[Path]:
    """Episode directories (those holding ``trajectory.h5``) at or below ``paths``."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"input {path} does not exist")
        if path.is_file() and path.name == "trajectory.h5":
            found.append(path.parent)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.rglob("trajectory.h5")))
    return found


def select_video(episode: Path, camera: str) -> Path:
    """The MP4 of the requested camera in ``episode/recordings/MP4``."""
    mp4_dir = episode / "recordings" / "MP4"
    videos = sorted(p for p in mp4_dir.glob("*.mp4") if not p.stem.endswith("-stereo"))
    if not videos:
        raise FileNotFoundError(f"no MP4 recordings in {mp4_dir}")
    metadata: dict[str, Any] = {}
    meta_files = sorted(episode.glob("metadata*.json"))
    if meta_files:
        metadata = json.loads(meta_files[0].read_text())
    if camera == "auto":
        serial = metadata.get("ext1_cam_serial")
        if serial is None:
            return videos[0]
    else:
        serial = metadata.get(camera, camera)
    path = mp4_dir / f"{serial}.mp4"
    if not path.is_file():
        raise FileNotFoundError(f"camera {camera!r} -> {path.name} not found; available: {[v.name for v in videos]}")
    return path


def _read_trajectory(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as h5:
        for key in (CARTESIAN_KEY, GRIPPER_KEY):
            if key not in h5:
                raise KeyError(f"{path} has no dataset {key!r}")
        cartesian = np.asarray(h5[CARTESIAN_KEY], dtype=np.float64)
        gripper = np.asarray(h5[GRIPPER_KEY], dtype=np.float64).reshape(len(cartesian), -1)[:, 0]
    if cartesian.ndim != 2 or cartesian.shape[1] != 6:
        raise ValueError(f"{path}: {CARTESIAN_KEY} must have shape [N, 6], got {cartesian.shape}")
    return cartesian, gripper


def _count_frames(video: Path) -> tuple[int, float]:
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise OSError(f"OpenCV cannot open video {video}")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    count = 0
    while cap.grab():
        count += 1
    cap.release()
    return count, fps


def _read_frames(video: Path, wanted: set[int], encoding: FrameEncoding) -> dict[int, bytes]:
    cap = cv2.VideoCapture(str(video))
    out: dict[int, bytes] = {}
    index = 0
    last = max(wanted, default=-1)
    while index <= last and cap.grab():
        if index in wanted:
            ok, bgr = cap.retrieve()
            if not ok:
                raise OSError(f"{video}: frame {index} could not be decoded")
            out[index] = encoding.encode(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        index += 1
    cap.release()
    if len(out) != len(wanted):
        raise OSError(f"{video}: only {len(out)} of {len(wanted)} needed frames could be read")
    return out


def import_droid_episode(episode: Path, cfg: DroidConfig) -> SourceOutput:
    """Synchronise one raw DROID episode into episode segments with encoded frames."""
    cartesian, gripper = _read_trajectory(episode / "trajectory.h5")
    video = select_video(episode, cfg.camera)
    num_video, video_fps = _count_frames(video)
    fps = cfg.source_fps or (video_fps if 1.0 <= video_fps <= 240.0 else None)
    if fps is None:
        raise ValueError(f"{video}: the video reports no usable frame rate; set source_fps in the config")
    n = min(num_video, len(cartesian))
    times = np.round(np.arange(n) * (1e9 / fps)).astype(np.int64)
    quats = Rotation.from_euler(EULER_SEQ, cartesian[:n, 3:6]).as_quat()
    result = synchronise(times, times, cartesian[:n, :3], quats, times, gripper[:n], cfg.sync)
    wanted = {int(i) for seg in result.segments for i in seg.frame_indices}
    encoding = FrameEncoding(cfg.codec, cfg.quality, cfg.resize_short_side)
    encoded = _read_frames(video, wanted, encoding)
    report = {
        **result.report,
        "camera": video.name,
        "trajectory_steps": len(cartesian),
        "video_frames": num_video,
        "length_mismatch": num_video != len(cartesian),
    }
    out = SourceOutput(report=report)
    out.segments = [(seg, [encoded[int(i)] for i in seg.frame_indices]) for seg in result.segments]
    if out.segments:
        first = cv2.imdecode(np.frombuffer(out.segments[0][1][0], np.uint8), cv2.IMREAD_COLOR)
        out.frame_shape = first.shape[:2]
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-import-droid``."""
    parser = argparse.ArgumentParser(
        prog="vjepa2-import-droid", description="Import raw DROID episodes as V-JEPA 2 training episodes."
    )
    parser.add_argument("episodes", nargs="+", type=Path, help="DROID episode directories or folders of them")
    parser.add_argument("--config", help="YAML DroidConfig")
    parser.add_argument("--camera", help="auto | metadata key (ext1_cam_serial, ...) | camera serial")
    parser.add_argument("--source-fps", type=float, help="trajectory/video rate (default: the MP4's rate)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    try:
        data = config_data(args, {"camera": args.camera, "source_fps": args.source_fps})
        cfg = from_dict(DroidConfig, data, args.config or "command line")
        episodes = find_droid_episodes(args.episodes)
        if not episodes:
            raise ValueError(f"no trajectory.h5 found under {[str(p) for p in args.episodes]}")
        encoding = FrameEncoding(cfg.codec, cfg.quality, cfg.resize_short_side)
        writer = DatasetWriter(args.output, cfg.sync.fps, encoding, resume=not args.no_resume)
    except (ConfigError, DatasetError, ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    report = run_batch(episodes, writer, lambda ep: import_droid_episode(ep, cfg), to_dict(cfg), desc="episodes")
    return print_summary(report, args.output)


if __name__ == "__main__":
    sys.exit(main())
