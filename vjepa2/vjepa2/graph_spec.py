"""The data types of a node graph: launch arguments, node specs and the graph that builds them.

A graph is a function ``(args: dict[str, str]) -> list[NodeSpec]`` made a :class:`Graph` by ``@graph``
together with its declared launch arguments (name, default, description, type). The graphs themselves and
their registry are in ``vjepa2.graphs``. ``launch/*.launch.py`` turn a graph into launch_ros ``Node``
actions; ``vjepa2.runner`` turns it into processes with the same ``--ros-args``.

Files of other packages (franka_ros2's URDF, MoveIt's kinematics) are named by :class:`PackageFile`,
:class:`XacroValue` and :class:`YamlValue` and read only when the graph starts: a graph's data is complete
(and testable) on a machine where those packages are not installed.
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
    #: the values it may take (empty: any value of its type)
    choices: tuple[str, ...] = ()

    def check(self, value: str) -> None:
        """Raise ValueError naming the argument and what it expects if ``value`` does not parse as its type or
        is not one of its choices."""
        try:
            self.type(value)
        except ValueError:
            raise ValueError(
                f"launch argument {self.name}:={value!r} must be {ARGUMENT_TYPES[self.type]}: {self.description}"
            ) from None
        if self.choices and value not in self.choices:
            raise ValueError(
                f"launch argument {self.name}:={value!r} must be one of {', '.join(self.choices)}: {self.description}"
            )


@dataclass(frozen=True)
class PackageFile:
    """A file in an installed package's share directory (``share/<package>/<path>``), found when the graph starts."""

    package: str
    path: str

    def resolve(self) -> str:
        from ament_index_python.packages import get_package_share_directory

        return str(Path(get_package_share_directory(self.package), self.path))


@dataclass(frozen=True)
class XacroValue:
    """A parameter value: the XML that xacro makes of ``file`` with ``mappings`` (e.g. ``robot_description``)."""

    file: PackageFile
    mappings: tuple[tuple[str, str], ...] = ()

    def resolve(self) -> str:
        import xacro

        return xacro.process_file(self.file.resolve(), mappings=dict(self.mappings)).toprettyxml(indent="  ")


@dataclass(frozen=True)
class YamlValue:
    """A parameter value: the contents of a YAML file (e.g. ``robot_description_kinematics``)."""

    file: PackageFile

    def resolve(self) -> Any:
        import yaml

        return yaml.safe_load(Path(self.file.resolve()).read_text())


#: A parameter value read when the graph starts.
DeferredValue = XacroValue | YamlValue


@dataclass
class NodeSpec:
    """One node process, in launch_ros terms."""

    package: str
    executable: str
    name: str
    namespace: str = ""
    #: Parameter files (paths, or files of other packages) and inline parameter dicts (values may be deferred),
    #: applied in order (later wins).
    parameters: list[str | PackageFile | dict[str, Any]] = field(default_factory=list)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    #: Stop the whole graph when this node exits (launch's ``on_exit=Shutdown()``).
    required: bool = False

    def packages(self) -> set[str]:
        """Every package this node needs installed: its own and those its parameters read files from."""
        needed = {self.package}
        for params in self.parameters:
            values = params.values() if isinstance(params, dict) else [params]
            for value in values:
                if isinstance(value, PackageFile):
                    needed.add(value.package)
                elif isinstance(value, XacroValue):
                    needed |= {value.file.package, "xacro"}
                elif isinstance(value, YamlValue):
                    needed.add(value.file.package)
        return needed

    def resolved_parameters(self) -> list[str | dict[str, Any]]:
        """``parameters`` with package files found and deferred values read: what a launcher passes on."""
        out: list[str | dict[str, Any]] = []
        for params in self.parameters:
            if isinstance(params, PackageFile):
                out.append(params.resolve())
            elif isinstance(params, dict):
                out.append({k: v.resolve() if isinstance(v, DeferredValue) else v for k, v in params.items()})
            else:
                out.append(params)
        return out


@dataclass(frozen=True)
class Graph:
    name: str
    build: Callable[[dict[str, str]], list[NodeSpec]]
    arguments: tuple[Argument, ...]
    description: str
    #: What the graph needs beyond ``make setup`` (said when its packages are missing); "" = nothing.
    needs: str = ""

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

    def not_installed(self, specs: list[NodeSpec]) -> str | None:
        """One line naming every package that ``specs`` (this graph's nodes) need and this machine lacks, with
        what to do about it; None when all are there."""
        missing = missing_packages(specs)
        if not missing:
            return None
        if any(p.startswith("vjepa2") for p in missing):
            fix = "run 'make setup', then source env.sh"
        elif self.needs:
            fix = f"it needs {self.needs}; install them, source them, then source env.sh again"
        else:
            fix = "install them for ROS 2 Jazzy, source them, then source env.sh again"
        return f"graph '{self.name}' cannot start here: {', '.join(missing)} not found ({fix})"


def missing_packages(specs: list[NodeSpec]) -> list[str]:
    """The packages the nodes need (their own, and those whose files their parameters read) that are not on
    the ament index (not built, installed or sourced here)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    missing = set()
    for package in {p for spec in specs for p in spec.packages()}:
        try:
            get_package_prefix(package)
        except (PackageNotFoundError, ValueError):
            missing.add(package)
    return sorted(missing)


def graph(name: str, description: str, arguments: tuple[Argument, ...] = (), needs: str = "") -> Callable:
    """Make the decorated ``(args) -> list[NodeSpec]`` function the :class:`Graph` ``name``."""

    def make(fn: Callable[[dict[str, str]], list[NodeSpec]]) -> Graph:
        return Graph(name, fn, tuple(arguments), description, needs)

    return make


def config_path(filename: str) -> str:
    """Path of a parameter file installed in share/vjepa2/config."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return str(Path(get_package_share_directory("vjepa2"), "config", filename))
    except Exception:  # not installed: running from the source tree
        return str(Path(__file__).resolve().parents[1] / "config" / filename)
