"""The data types of a node graph: launch arguments, node specs and the graph that builds them.

A graph is a function ``(args: dict[str, str]) -> list[NodeSpec]`` made a :class:`Graph` by ``@graph``
together with its declared launch arguments (name, default, description, type). The graphs themselves and
their registry are in ``vjepa2.graphs``. ``launch/*.launch.py`` turn a graph into launch_ros ``Node``
actions; ``vjepa2.runner`` turns it into processes with the same ``--ros-args``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Launch-argument types: how a value is checked, and the name a user reads in the error.
ARGUMENT_TYPES: dict[type, str] = {str: "a string", float: "a number (e.g. 10.0)", int: "an integer (e.g. 3)"}


@dataclass(frozen=True)
class Argument:
    """A launch argument: ``name:=value`` on either command line; its value reaches the graph as text."""

    name: str
    default: str
    description: str
    type: type = str

    def check(self, value: str) -> None:
        """Raise ValueError naming the argument and the expected type if ``value`` does not parse as it."""
        try:
            self.type(value)
        except ValueError:
            raise ValueError(
                f"launch argument {self.name}:={value!r} must be {ARGUMENT_TYPES[self.type]}: {self.description}"
            ) from None


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
        """Launch-argument values: declared defaults updated with ``overrides``; unknown names and values
        of the wrong type are ValueErrors."""
        known = {a.name: a.default for a in self.arguments}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(
                f"graph '{self.name}' has no argument(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}"
            )
        values = {**known, **overrides}
        for argument in self.arguments:
            argument.check(values[argument.name])
        return values

    def nodes(self, overrides: dict[str, str] | None = None) -> list[NodeSpec]:
        return self.build(self.resolve(overrides or {}))


def graph(name: str, description: str, arguments: tuple[Argument, ...] = ()) -> Callable:
    """Make the decorated ``(args) -> list[NodeSpec]`` function the :class:`Graph` ``name``."""

    def make(fn: Callable[[dict[str, str]], list[NodeSpec]]) -> Graph:
        return Graph(name, fn, tuple(arguments), description)

    return make


def config_path(filename: str) -> str:
    """Path of a parameter file installed in share/vjepa2/config."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return str(Path(get_package_share_directory("vjepa2"), "config", filename))
    except Exception:  # not installed: running from the source tree
        return str(Path(__file__).resolve().parents[1] / "config" / filename)
