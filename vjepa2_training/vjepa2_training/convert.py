"""rosbag2 -> training episodes (CLI ``vjepa2-convert-bags``).

Reads camera, end-effector pose and gripper topics with ``rosbags`` (mcap and sqlite3 storage, message
types from the bag's embedded definitions or ROS 2 Jazzy), synchronises and resamples them
(:mod:`vjepa2_training.sync`) and writes episode shards (:mod:`vjepa2_training.episodes`).
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
import yaml
from rosbags.highlevel import AnyReader

from vjepa2_common import names

from . import extractors
from .bagio import default_typestore
from .config_io import ConfigError, apply_override, from_dict, to_dict
from .dataset_writer import DatasetWriter, FrameEncoding, SourceOutput, run_batch
from .episodes import DatasetError, decode_frame
from .sync import SyncSettings, synchronise

LOG = logging.getLogger("vjepa2_training.convert")


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
    if source == "header":
        stamp = extractors.stamp_ns(msg)
        if stamp is not None:
            return stamp
    return receive_ns


def convert_bag(bag: Path, cfg: ConvertConfig) -> SourceOutput:
    """Synchronise one rosbag2 directory into episode segments with encoded frames."""
    streams = {"image": cfg.image, "pose": cfg.pose, "gripper": cfg.gripper}
    if not (bag / "metadata.yaml").is_file():
        raise ValueError(
            f"{bag} has no metadata.yaml: the recording was never finalised (recorder killed with SIGKILL or "
            "crashed), so rosbags cannot index it"
        )
    with AnyReader([bag], default_typestore=default_typestore()) as reader:
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

        result = synchronise(
            np.asarray(frame_times, dtype=np.int64),
            np.asarray(pose_times, dtype=np.int64),
            np.asarray(positions).reshape(-1, 3),
            np.asarray(quats).reshape(-1, 4),
            np.asarray(grip_times, dtype=np.int64),
            np.asarray(grip, dtype=np.float64),
            cfg.sync,
        )
        # second pass: decode and encode only the frames the segments use
        wanted = {int(i) for seg in result.segments for i in seg.frame_indices}
        encoded: dict[int, bytes] = {}
        shape: tuple[int, int] | None = None
        shape_changes = 0
        index = -1
        for conn, _, raw in reader.messages(connections=[conns["image"]]):
            index += 1
            if index not in wanted:
                continue
            rgb = funcs["image"](reader.deserialize(raw, conn.msgtype), cfg.image.options)
            if shape is None:
                shape = rgb.shape[:2]
            elif rgb.shape[:2] != shape:
                shape_changes += 1
                rgb = np.ascontiguousarray(_resize_to(rgb, shape))
            encoded[index] = cfg.encoding.encode(rgb)
    if set(encoded) != wanted:
        raise ValueError(f"camera stream changed between reads ({len(encoded)} of {len(wanted)} frames)")
    report = {**result.report, "extract_errors": extract_errors, "image_shape_changes": shape_changes}
    out = SourceOutput(report=report)
    out.segments = [(seg, [encoded[int(i)] for i in seg.frame_indices]) for seg in result.segments]
    if out.segments:
        out.frame_shape = tuple(decode_frame(out.segments[0][1][0]).shape[:2])
    return out


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
    data: dict[str, Any] = {}
    if args.config:
        data = yaml.safe_load(Path(args.config).read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{args.config}: the top level must be a mapping")
    common = {"sync.fps": args.fps, "codec": args.codec, "resize_short_side": args.resize_short_side}
    for key, value in {**flags, **common}.items():
        if value is not None:
            apply_override(data, f"{key}={value}")
    for item in args.set or []:
        apply_override(data, item)
    return data


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by the bag converter and the DROID importer."""
    parser.add_argument("-o", "--output", required=True, type=Path, help="dataset directory to write")
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
