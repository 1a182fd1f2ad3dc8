"""Node graphs as data: the single description that both `ros2 launch` and `vjepa2-launch` start.

A graph is a function ``(args: dict[str, str]) -> list[NodeSpec]`` registered with ``@graph`` together
with its declared launch arguments (name, default, description). ``launch/*.launch.py`` turn a graph into
launch_ros ``Node`` actions; ``vjepa2.runner`` turns it into processes with the same ``--ros-args``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Argument:
    """A launch argument: ``name:=value`` on either command line."""

    name: str
    default: str
    description: str


@dataclass
class NodeSpec:
    """One node process, in launch_ros terms."""

    package: str
    executable: str
    name: str
    namespace: str = ""
    #: Parameter files (paths) and inline parameter dicts, applied in order (later wins).
    parameters: list[str | dict[str, Any]] = field(default_factory=list)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    #: Stop the whole graph when this node exits (launch's ``on_exit=Shutdown()``).
    required: bool = False


@dataclass(frozen=True)
class Graph:
    name: str
    build: Callable[[dict[str, str]], list[NodeSpec]]
    arguments: tuple[Argument, ...]
    description: str

    def resolve(self, overrides: dict[str, str]) -> dict[str, str]:
        """Launch-argument values: declared defaults updated with ``overrides``; unknown names are errors."""
        known = {a.name: a.default for a in self.arguments}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(
                f"graph '{self.name}' has no argument(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}"
            )
        return {**known, **overrides}

    def nodes(self, overrides: dict[str, str] | None = None) -> list[NodeSpec]:
        return self.build(self.resolve(overrides or {}))


GRAPHS: dict[str, Graph] = {}


def graph(name: str, description: str, arguments: tuple[Argument, ...] = ()) -> Callable:
    """Register the decorated ``(args) -> list[NodeSpec]`` function as graph ``name``."""

    def register(fn: Callable[[dict[str, str]], list[NodeSpec]]) -> Callable[[dict[str, str]], list[NodeSpec]]:
        GRAPHS[name] = Graph(name, fn, tuple(arguments), description)
        return fn

    return register


def get_graph(name: str) -> Graph:
    from vjepa2 import graphs  # noqa: F401 - registers the graphs

    if name not in GRAPHS:
        raise KeyError(f"unknown graph '{name}'; available: {', '.join(sorted(GRAPHS))}")
    return GRAPHS[name]


def config_path(filename: str) -> str:
    """Path of a parameter file installed in share/vjepa2/config."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return str(Path(get_package_share_directory("vjepa2"), "config", filename))
    except Exception:  # not installed: running from the source tree
        return str(Path(__file__).resolve().parents[1] / "config" / filename)


def as_bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got '{value}'")
