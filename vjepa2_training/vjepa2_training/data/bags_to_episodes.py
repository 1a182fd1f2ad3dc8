"""rosbag2 -> training episodes (CLI ``vjepa2-convert-bags``).

Reads camera, end-effector pose and gripper topics with ``rosbags`` (mcap and sqlite3 storage, message
types from the bag's embedded definitions or ROS 2 Jazzy), synchronises and resamples them
(:mod:`vjepa2_training.data.sync`) and writes episode shards (:mod:`vjepa2_training.data.episodes`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from rosbags.highlevel import AnyReader

from vjepa2_common import names
from vjepa2_common.messages import stamp_to_ns

from ..config_io import ConfigError, apply_override, from_dict, read_yaml_mapping, to_dict
from . import extractors
from .bagio import check_bag_files, open_bag
from .dataset_writer import DatasetWriter, FrameEncoding, SourceOutput, run_batch
from .episodes import DatasetError, decode_frame
from .sync import SyncSettings, synchronise

LOG = logging.getLogger("vjepa2_training.data.bags_to_episodes")


@dataclass
class StreamConfig:
    """One input topic. Its message type comes from the bag; ``options`` go to the extractor."""

    topic: str
    time_source: Literal["header", "receive"] = "header"
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.topic.startswith("/"):
            raise ValueError(f"topic must be an absolute name starting with '/', got {self.topic!r}")


def _default_gripper() -> StreamConfig:
    return StreamConfig(
        names.GRIPPER_JOINT_STATES_TOPIC,
        options={"joints": [], "open_value": 0.04, "closed_value": 0.0},  # joints [] = names with "finger"
    )


@dataclass
class ConvertConfig:
    """Settings of ``vjepa2-convert-bags`` (YAML via ``--config``, every key optional)."""

    image: StreamConfig = field(default_factory=lambda: StreamConfig(names.CAMERA_IMAGE_TOPIC))
    pose: StreamConfig = field(default_factory=lambda: StreamConfig(names.CURRENT_POSE_TOPIC))
    gripper: StreamConfig = field(default_factory=_default_gripper)
    sync: SyncSettings = field(default_factory=SyncSettings)
    codec: Literal["jpeg", "png"] = "jpeg"
    quality: int = 95
    resize_short_side: int | None = None
    plugins: list[str] = field(default_factory=list)

    def validate(self) -> None:
        self.sync.check()
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be in [1, 100], got {self.quality}")
        if self.resize_short_side is not None and self.resize_short_side < 8:
            raise ValueError(f"resize_short_side must be >= 8 or null, got {self.resize_short_side}")

    @property
    def encoding(self) -> FrameEncoding:
        return FrameEncoding(self.codec, self.quality, self.resize_short_side)


def _message_time(msg: Any, receive_ns: int, source: str) -> int:
    """The header stamp (``source: header``) unless the message has none or a zero one, else the receive time."""
    header = getattr(msg, "header", None) if source == "header" else None
    return (stamp_to_ns(header.stamp) if header is not None else 0) or receive_ns


def convert_bag(bag: Path, cfg: ConvertConfig) -> SourceOutput:
    """Synchronise one rosbag2 directory into episode segments with encoded frames."""
    streams = {"image": cfg.image, "pose": cfg.pose, "gripper": cfg.gripper}
    check_bag_files(bag)
    with open_bag(bag) as reader:
        by_topic = {c.topic: c for c in reader.connections}
        missing = [s.topic for s in streams.values() if s.topic not in by_topic]
        if missing:
            raise ValueError(f"topic(s) {missing} not in bag; it has {sorted(by_topic)}")
        conns = {kind: by_topic[s.topic] for kind, s in streams.items()}
        funcs = {kind: extractors.get_extractor(kind, conns[kind].msgtype) for kind in streams}

        frame_times: list[int] = []
        pose_times: list[int] = []
        positions: list[np.ndarray] = []
        quats: list[np.ndarray] = []
        grip_times: list[int] = []
        grip: list[float] = []
        extract_errors: dict[str, int] = {"image": 0, "pose": 0, "gripper": 0}
        kind_of = {conns[k].id: k for k in streams}
        image_id = conns["image"].id
        header_images = cfg.image.time_source == "header"
        for conn, t_ns, raw in reader.messages(connections=list(conns.values())):
            kind = kind_of[conn.id]
            if conn.id == image_id:
                msg = reader.deserialize(raw, conn.msgtype) if header_images else None
                frame_times.append(_message_time(msg, t_ns, "header") if header_images else t_ns)
                continue
            msg = reader.deserialize(raw, conn.msgtype)
            try:
                value = funcs[kind](msg, streams[kind].options)
            except extractors.ExtractorError:
                extract_errors[kind] += 1
                if extract_errors[kind] == 1:
                    LOG.warning("%s: cannot extract %s from %s", bag, kind, conn.topic, exc_info=True)
                continue
            stamp = _message_time(msg, t_ns, streams[kind].time_source)
            if kind == "pose":
                pose_times.append(stamp)
                positions.append(value.position)
                quats.append(value.quat_xyzw)
            else:
                grip_times.append(stamp)
                grip.append(float(value))

        pose_arrays = (
            np.asarray(pose_times, dtype=np.int64),
            np.asarray(positions).reshape(-1, 3),
            np.asarray(quats).reshape(-1, 4),
            np.asarray(grip_times, dtype=np.int64),
            np.asarray(grip, dtype=np.float64),
        )
        images = _ImagePass(reader, conns["image"], funcs["image"], cfg, bag)
        # Second pass: decode and encode only the frames the segments use. A frame that does not decode is
        # dropped and the camera stream re-synchronised without it (its neighbours may take its grid slot).
        usable = list(range(len(frame_times)))
        while True:
            times = np.asarray([frame_times[i] for i in usable], dtype=np.int64)
            result = synchronise(times, *pose_arrays, cfg.sync)
            segments = [[usable[int(i)] for i in seg.frame_indices] for seg in result.segments]
            bad = images.encode({i for frames in segments for i in frames})
            if not bad:
                break
            usable = [i for i in usable if i not in bad]
    extract_errors["image"] = len(images.failed)
    report = {**result.report, "extract_errors": extract_errors, "image_shape_changes": images.shape_changes}
    if images.failed:
        report["undecodable_frames"] = {"count": len(images.failed), "first_error": images.first_error}
    out = SourceOutput(report=report)
    out.segments = [(seg, [images.encoded[i] for i in frames]) for seg, frames in zip(result.segments, segments)]
    if out.segments:
        out.frame_shape = tuple(decode_frame(out.segments[0][1][0]).shape[:2])
    return out


class _ImagePass:
    """Decodes the wanted camera messages of a bag (by index in the stream) and encodes them as episode frames;
    frames that cannot be decoded are remembered in ``failed`` instead of failing the bag."""

    def __init__(self, reader: AnyReader, conn: Any, extract: extractors.Extractor, cfg: ConvertConfig, bag: Path):
        self.reader, self.conn, self.extract, self.cfg, self.bag = reader, conn, extract, cfg, bag
        self.encoded: dict[int, bytes] = {}
        self.failed: set[int] = set()
        self.first_error = ""
        self.shape: tuple[int, int] | None = None
        self.shape_changes = 0

    def encode(self, wanted: set[int]) -> set[int]:
        """Encode the ``wanted`` frames not done yet; returns the indices among them that failed to decode."""
        todo = wanted - set(self.encoded) - self.failed
        if not todo:
            return set()
        bad: set[int] = set()
        for index, (conn, _, raw) in enumerate(self.reader.messages(connections=[self.conn])):
            if index not in todo:
                continue
            try:
                rgb = self.extract(self.reader.deserialize(raw, conn.msgtype), self.cfg.image.options)
            except (extractors.ExtractorError, cv2.error) as err:
                bad.add(index)
                if not self.failed and len(bad) == 1:
                    self.first_error = f"frame {index}: {err}"
                    LOG.warning("%s: dropping undecodable camera frame %d on %s: %s", self.bag, index, conn.topic, err)
                continue
            if self.shape is None:
                self.shape = rgb.shape[:2]
            elif rgb.shape[:2] != self.shape:
                self.shape_changes += 1
                rgb = np.ascontiguousarray(_resize_to(rgb, self.shape))
            self.encoded[index] = self.cfg.encoding.encode(rgb)
        missing = todo - set(self.encoded) - bad
        if missing:
            raise ValueError(f"camera stream changed between reads ({len(missing)} of {len(todo)} frames missing)")
        self.failed |= bad
        return bad


def _resize_to(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def find_bags(paths: list[Path]) -> list[Path]:
    """rosbag2 directories at or below ``paths``: directories holding metadata.yaml or .mcap/.db3 files.

    A directory with storage files but no metadata.yaml (a recorder killed with SIGKILL) is still
    returned, so that the conversion reports it instead of silently ignoring it.
    """
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"input {path} does not exist")
        if path.is_file():
            raise ValueError(f"input {path} is a file; pass the rosbag2 directory that contains it")
        candidates = [path, *sorted(p for p in path.rglob("*") if p.is_dir())]
        for d in candidates:
            is_bag = (d / "metadata.yaml").is_file() or any(d.glob("*.mcap")) or any(d.glob("*.db3"))
            if is_bag and not any(parent in found for parent in d.parents):
                found.append(d)
    return found


def build_config(args: argparse.Namespace) -> ConvertConfig:
    """ConvertConfig from ``--config`` plus command-line overrides."""
    data = config_data(
        args, {"image.topic": args.image_topic, "pose.topic": args.pose_topic, "gripper.topic": args.gripper_topic}
    )
    if args.plugin:
        data["plugins"] = [*data.get("plugins", []), *args.plugin]
    return from_dict(ConvertConfig, data, args.config or "command line")


def config_data(args: argparse.Namespace, flags: dict[str, Any]) -> dict[str, Any]:
    """The config mapping of a converter run: the ``--config`` YAML (if given), then the tool's own ``flags``
    (``{dotted key: value}``, ``None`` = not given) and those of :func:`add_common_args`, then ``--set``."""
    data = read_yaml_mapping(args.config) if args.config else {}
    common = {"sync.fps": args.fps, "codec": args.codec, "resize_short_side": args.resize_short_side}
    for key, value in {**flags, **common}.items():
        if value is not None:
            apply_override(data, f"{key}={value}")
    for item in args.set or []:
        apply_override(data, item)
    return data


def output_directory(text: str) -> Path:
    """``-o``: a dataset directory to create or extend; an existing file is refused (argparse exits 2)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} exists and is not a directory; pass a new or dataset directory")
    return path


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by the bag converter and the DROID importer."""
    parser.add_argument("-o", "--output", required=True, type=output_directory, help="dataset directory to write")
    parser.add_argument("--fps", type=float, help="target frame rate (default 4)")
    parser.add_argument("--codec", choices=["jpeg", "png"], help="frame codec (default jpeg)")
    parser.add_argument("--resize-short-side", type=int, help="resize frames so the short side has N pixels")
    parser.add_argument("--no-resume", action="store_true", help="start over instead of skipping done inputs")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("-v", "--verbose", action="store_true")


def print_summary(report: dict[str, Any], output: Path) -> int:
    """Print a one-screen summary; returns the exit code (1 when any input failed)."""
    s = report["summary"]
    print(
        f"{s['converted']} converted, {s['skipped']} skipped (done before), {s['empty']} without usable "
        f"episodes, {s['failed']} failed; {s['episodes']} episodes / {s['frames']} frames written to {output}"
    )
    for item in report["sources"]:
        if item["status"] == "failed":
            print(f"  FAILED {item['source']}: {item['error']}", file=sys.stderr)
        elif item["status"] == "empty":
            print(f"  no episodes from {item['source']} (too short or no overlap)", file=sys.stderr)
        if item.get("undecodable_frames"):
            bad = item["undecodable_frames"]
            print(
                f"  dropped {bad['count']} undecodable camera frame(s) of {item['source']} ({bad['first_error']})",
                file=sys.stderr,
            )
    print(f"validation report: {output / 'report.json'}")
    return 1 if s["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-convert-bags``."""
    parser = argparse.ArgumentParser(
        prog="vjepa2-convert-bags", description="Convert rosbag2 recordings into V-JEPA 2 training episodes."
    )
    parser.add_argument("bags", nargs="+", type=Path, help="rosbag2 directories or folders containing them")
    parser.add_argument("--config", help="YAML conversion config (topics, extractor options, sync settings)")
    parser.add_argument("--image-topic")
    parser.add_argument("--pose-topic")
    parser.add_argument("--gripper-topic")
    parser.add_argument("--plugin", action="append", help="module registering extra extractors")
    add_common_args(parser)
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    try:
        cfg = build_config(args)
        extractors.load_plugins(cfg.plugins)
        bags = find_bags(args.bags)
        if not bags:
            raise ValueError(f"no rosbag2 directories found under {[str(p) for p in args.bags]}")
        writer = DatasetWriter(args.output, cfg.sync.fps, cfg.encoding, resume=not args.no_resume)
    except (ConfigError, DatasetError, ValueError, FileNotFoundError, ImportError) as err:
        parser.error(str(err))
    report = run_batch(bags, writer, lambda bag: convert_bag(bag, cfg), to_dict(cfg), desc="bags")
    return print_summary(report, args.output)


if __name__ == "__main__":
    sys.exit(main())
