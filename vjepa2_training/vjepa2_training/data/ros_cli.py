"""Command lines of the recorder and player nodes: own flags before ``--ros-args``, turned into ``-p`` overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the CLI's own arguments, ``--ros-args ...``): everything from ``--ros-args`` on goes to rclpy unchanged."""
    if "--ros-args" in argv:
        cut = argv.index("--ros-args")
        return argv[:cut], argv[cut:]
    return argv, []


def parameter_overrides(values: Mapping[str, Any], renames: Mapping[str, str] | None = None) -> list[str]:
    """``-p name:=value`` for every value that is not None, in ROS 2 YAML spelling (lists of quoted strings,
    lower-case booleans, exact floats, ``''`` for an empty string); ``renames`` maps a flag to its parameter."""
    out: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            text = "[" + ",".join(f"'{v}'" for v in value) + "]"
        elif isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = str(value) if value != "" else "''"
        out += ["-p", f"{(renames or {}).get(name, name)}:={text}"]
    return out


def with_overrides(ros: list[str], overrides: list[str]) -> list[str]:
    """``ros`` (``--ros-args ...`` or empty) with ``overrides`` first, so that later ROS arguments win."""
    if not overrides:
        return ros
    return ["--ros-args", *overrides, *ros[1:]]
