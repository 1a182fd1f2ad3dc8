"""Checks before a file is read, so that loading never blocks forever or fails with a bare OSError.

Import-light (standard library only): the ROS nodes and the training CLIs use it too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileCheckError(ValueError):
    """A file cannot be read as asked (missing, not a regular file, too large, no permission)."""


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_readable_file(path: str | os.PathLike[str], *, what: str, max_bytes: int | None = None) -> Path:
    """Return ``path`` as a Path if it is a regular file of at most ``max_bytes`` that this process can open.

    ``what`` names the file in the message (e.g. ``"checkpoint"``, ``"config JSON"``). Raises one
    :class:`FileCheckError` saying what is wrong. Never blocks: a FIFO, socket or device is refused before it
    is opened, and the readability probe opens with ``O_NONBLOCK`` and re-checks the opened file.
    """
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        raise FileCheckError(f"{what} {p}: no such file") from None
    except OSError as e:
        raise FileCheckError(f"{what} {p}: cannot access it ({e.strerror or e})") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileCheckError(f"{what} {p}: is {_kind_of(info.st_mode)}, expected a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise FileCheckError(f"{what} {p}: is {info.st_size} bytes, more than the {max_bytes} allowed for a {what}")
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise FileCheckError(f"{what} {p}: cannot be opened for reading ({e.strerror or e})") from None
    try:
        opened = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(opened.st_mode):  # replaced between the checks
        raise FileCheckError(f"{what} {p}: is {_kind_of(opened.st_mode)}, expected a regular file")
    return p


__all__ = ["FileCheckError", "check_readable_file"]
