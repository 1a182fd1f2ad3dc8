"""rosbag2 I/O (mcap or sqlite3) via ``rosbags``, shared by the recorder and player nodes, the converter and
ROS-free writers.

:class:`BagWriter` takes raw CDR bytes (what ``create_subscription(..., raw=True)`` delivers) or message
objects built from the rosbags typestore. Unlike a bare ``rosbags.rosbag2.Writer``, leaving its ``with`` block
through an exception still finalises the bag (index + ``metadata.yaml``), so everything written before a
Ctrl-C, SIGTERM or error stays readable; the exception is then re-raised. :func:`check_bag_files` and
:func:`open_bag` open a bag for reading with one clear message for a missing, unfinished or damaged one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from vjepa2_core.files import check_readable_file

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
MSG_DEFINITION_MAX_BYTES = 1 << 20  # a .msg file is a few lines
METADATA_MAX_BYTES = 64 << 20  # a rosbag2 metadata.yaml is kilobytes, even for long recordings


class BagError(RuntimeError):
    """The bag cannot be written as requested (bad storage name, unknown message type, existing path)."""


def default_typestore() -> Typestore:
    """A typestore with all ROS 2 Jazzy standard message types."""
    return get_typestore(Stores.ROS2_JAZZY)


def find_msg_definition_dirs(package: str) -> list[Path]:
    """``share/<package>/msg`` directories on ``AMENT_PREFIX_PATH`` (where ament installs .msg files)."""
    dirs = []
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidate = Path(prefix) / "share" / package / "msg"
        if candidate.is_dir():
            dirs.append(candidate)
    return dirs


def register_package_types(typestore: Typestore, package: str, extra_dirs: list[Path] = ()) -> int:
    """Register every ``<package>/msg/*.msg`` on AMENT_PREFIX_PATH or in ``extra_dirs``; returns the count."""
    types: dict[str, Any] = {}
    for directory in [*find_msg_definition_dirs(package), *map(Path, extra_dirs)]:
        for msg_file in sorted(directory.glob("*.msg")):
            check_readable_file(msg_file, what="message definition", max_bytes=MSG_DEFINITION_MAX_BYTES)
            types.update(get_types_from_msg(msg_file.read_text(), f"{package}/msg/{msg_file.stem}"))
    if types:
        typestore.register(types)
    return len(types)


def ensure_type(typestore: Typestore, msgtype: str) -> None:
    """Make sure ``msgtype`` is known to ``typestore``, loading its package's .msg files when needed."""
    if msgtype in typestore.fielddefs:
        return
    parts = msgtype.split("/")
    if len(parts) != 3:
        raise BagError(f"message type must look like 'pkg/msg/Name', got {msgtype!r}")
    register_package_types(typestore, parts[0])
    if msgtype not in typestore.fielddefs:
        raise BagError(
            f"message type {msgtype!r} is not a ROS 2 Jazzy standard type and no {parts[0]}/msg/*.msg "
            "definition was found on AMENT_PREFIX_PATH; source the workspace that provides it"
        )


class BagWriter:
    """Context manager writing a rosbag2 directory with one connection per registered topic."""

    def __init__(self, path: Path | str, storage: str = "mcap", typestore: Typestore | None = None) -> None:
        if storage not in STORAGES:
            raise BagError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} already exists; rosbag2 output must be a new directory")
        self.storage = storage
        self.typestore = typestore or default_typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self._open = False

    def __enter__(self) -> BagWriter:
        self._writer.open()
        self._open = True
        return self

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Register ``topic`` with message type ``msgtype`` (e.g. ``sensor_msgs/msg/Image``)."""
        if not self._open:
            raise BagError("add_topic called outside the BagWriter 'with' block")
        if topic in self._connections:
            raise BagError(f"topic {topic!r} registered twice")
        ensure_type(self.typestore, msgtype)
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
        self.counts[topic] = 0

    def msgtype(self, topic: str) -> str:
        """Message type registered for ``topic``."""
        return self._connections[topic].msgtype

    def write_raw(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Append serialized CDR ``data`` received at ``timestamp_ns`` on ``topic``."""
        try:
            conn = self._connections[topic]
        except KeyError:
            raise BagError(f"topic {topic!r} was not registered with add_topic") from None
        self._writer.write(conn, int(timestamp_ns), bytes(data))
        self.counts[topic] += 1

    def write_message(self, topic: str, timestamp_ns: int, message: object) -> None:
        """Serialize a typestore message object to CDR and append it."""
        self.write_raw(topic, timestamp_ns, self.typestore.serialize_cdr(message, self.msgtype(topic)))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        """Finalise the bag even when an exception is propagating; abort only if finalising fails."""
        self._open = False
        try:
            self._writer.close()
        except Exception:
            self._writer.abort()
            if exc_type is None:
                raise
        return False


def check_bag_files(bag: Path) -> None:
    """Check a rosbag2 directory before rosbags reads it: ``metadata.yaml`` and the storage files must be readable
    regular files and the metadata valid UTF-8 YAML, so that a garbage, FIFO or unreadable file gets a message
    naming it instead of a decoder traceback or a read that never returns."""
    bag = Path(bag)
    if not bag.is_dir():
        raise ValueError(
            f"{bag} {'is not a directory' if bag.exists() else 'does not exist'}: a rosbag2 is a directory with "
            "metadata.yaml and .mcap or .db3 files (what vjepa2-record writes)"
        )
    metadata = bag / "metadata.yaml"
    if not metadata.exists():
        raise ValueError(
            f"{bag} has no metadata.yaml: the recording was never finalised (recorder killed with SIGKILL or "
            "crashed), so rosbags cannot index it"
        )
    check_readable_file(metadata, what="rosbag2 metadata file", max_bytes=METADATA_MAX_BYTES)
    try:
        info = yaml.safe_load(metadata.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{metadata} is not a rosbag2 metadata file (not UTF-8 YAML: {err})") from None
    if not isinstance(info, dict) or "rosbag2_bagfile_information" not in info:
        raise ValueError(f"{metadata} is not a rosbag2 metadata file (no rosbag2_bagfile_information mapping)")
    for storage_file in sorted([*bag.glob("*.mcap"), *bag.glob("*.db3")]):
        check_readable_file(storage_file, what="rosbag2 storage file")


@contextlib.contextmanager
def open_bag(bag: Path) -> Iterator[AnyReader]:
    """rosbags' reader of ``bag`` (call :func:`check_bag_files` first); its errors while opening name the bag
    (rosbags' own often do not). An sqlite3 bag must be read by the thread that opened it."""
    try:
        reader = AnyReader([Path(bag)], default_typestore=default_typestore())
        reader.open()
    except Exception as err:  # rosbags raises many types for a damaged bag
        raise ValueError(f"{bag}: rosbags cannot open it: {type(err).__name__}: {err}") from err
    try:
        yield reader
    finally:
        reader.close()
