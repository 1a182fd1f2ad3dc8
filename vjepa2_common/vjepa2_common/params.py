"""Typed ROS 2 parameters: one schema per node declares them, checks them and returns a typed settings object.

A schema is a dataclass whose fields are :func:`param` (or nested schema dataclasses, which become dotted
namespaces)::

    @dataclass
    class ModelParams:
        checkpoint: str = param("", "Encoder weights (.pt, HF directory or ours)", configure=True)
        dtype: str = param("float32", "Weights and compute dtype", choices=("float32", "bfloat16"), configure=True)

    @dataclass
    class EncoderParams:
        model: ModelParams = namespace(ModelParams)  # -> model.checkpoint, model.dtype
        queue_size: int = param(1, "Frames kept for the encoder", min=1, max=64, configure=True)
        rate_hz: float = param(10.0, "Publishing rate [Hz]", min=0.1)  # one-sided ranges are fine

    settings = declare_parameters(node, EncoderParams)  # -> EncoderParams(model=ModelParams(...), ...)
    settings.model.checkpoint

Ranges are enforced by rclpy (start-up and ``set_parameters``); choices by the callback that
:func:`declare_parameters` installs, which also refuses configure-time parameters while the node is
configured (when given ``frozen_state``). Every parameter is declared with a typed value, so
``describe_parameters``/``get_parameters``/``list_parameters`` answer for all of them.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

#: rclpy's IntegerRange is int64: the open side of a one-sided integer range
INT64_MAX = 2**63 - 1
_METADATA_KEY = "vjepa2_param"
_ROS_TYPES: dict[Any, Parameter.Type] = {
    bool: Parameter.Type.BOOL,
    int: Parameter.Type.INTEGER,
    float: Parameter.Type.DOUBLE,
    str: Parameter.Type.STRING,
    list[bool]: Parameter.Type.BOOL_ARRAY,
    list[int]: Parameter.Type.INTEGER_ARRAY,
    list[float]: Parameter.Type.DOUBLE_ARRAY,
    list[str]: Parameter.Type.STRING_ARRAY,
}
_TYPE_NAMES = {value: key.__name__ if isinstance(key, type) else str(key) for key, value in _ROS_TYPES.items()}

SchemaT = TypeVar("SchemaT")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: dotted ``name``, Python ``type`` (bool/int/float/str or a list of one), metadata."""

    name: str
    type: Any
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False
    #: read at the lifecycle configure transition: changing it needs cleanup + configure
    configure: bool = False

    @property
    def ros_type(self) -> Parameter.Type:
        return _ROS_TYPES[self.type]

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(
            description=self.description, read_only=self.read_only, type=int(self.ros_type.value)
        )
        if self.min is not None or self.max is not None:
            if self.type is int:
                lo = -INT64_MAX if self.min is None else int(self.min)
                hi = INT64_MAX if self.max is None else int(self.max)
                descriptor.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=int(self.step or 0))]
            elif self.type is float:
                lo = -math.inf if self.min is None else float(self.min)
                hi = math.inf if self.max is None else float(self.max)
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=lo, to_value=hi, step=float(self.step or 0.0))
                ]
            else:
                raise TypeError(f"parameter '{self.name}': a range needs an int or float parameter, not {self.type}")
        if self.choices is not None:
            descriptor.additional_constraints = "one of: " + ", ".join(self.choices)
        return descriptor

    def check(self, value: Any) -> str | None:
        """The reason ``value`` is refused (choices, NaN/Inf; rclpy checks type and range), or None."""
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of: {', '.join(self.choices)} (got {value!r})"
        if self.type in (float, list[float]):
            values = value if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else [value]
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                return f"{self.name} must be finite (got {value!r})"
        return None

    def out_of_range(self, value: Any) -> str | None:
        """The reason a number is outside ``[min, max]`` (what rclpy checks on set), or None."""
        values = value if isinstance(value, list) else [value]
        for v in values:
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if number and ((self.min is not None and v < self.min) or (self.max is not None and v > self.max)):
                return f"{self.name}: {v!r} is outside {self.range_text()}"
        return None

    def range_text(self) -> str:
        if self.choices is not None:
            return " | ".join(self.choices)
        if self.min is None and self.max is None:
            return ""
        return f"[{'' if self.min is None else self.min}, {'' if self.max is None else self.max}]"


def param(
    default: Any,
    description: str,
    *,
    min: float | None = None,
    max: float | None = None,
    step: float | None = None,
    choices: Sequence[str] | None = None,
    read_only: bool = False,
    configure: bool = False,
) -> Any:
    """A schema field: a ROS parameter with this default, description and constraints."""
    meta = {
        _METADATA_KEY: {
            "description": description,
            "min": min,
            "max": max,
            "step": step,
            "choices": None if choices is None else tuple(choices),
            "read_only": read_only,
            "configure": configure,
        }
    }
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def namespace(schema: type) -> Any:
    """A schema field holding a nested schema: its parameters are named ``<field>.<name>``."""
    return dataclasses.field(default_factory=schema)


def schema_specs(schema: type, prefix: str = "") -> list[ParamSpec]:
    """Every parameter of ``schema`` (nested schemas flattened to dotted names), in declaration order."""
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"{schema!r} is not a parameter schema (a dataclass)")
    hints = typing.get_type_hints(schema)
    specs = []
    for f in dataclasses.fields(schema):
        kind = hints[f.name]
        name = prefix + f.name
        if dataclasses.is_dataclass(kind):
            specs += schema_specs(kind, name + ".")
            continue
        meta = f.metadata.get(_METADATA_KEY)
        if meta is None:
            raise TypeError(f"{schema.__name__}.{f.name}: use param(...) or namespace(...) for schema fields")
        if kind not in _ROS_TYPES:
            raise TypeError(f"parameter '{name}': unsupported type {kind} (use one of {list(_TYPE_NAMES.values())})")
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        specs.append(ParamSpec(name=name, type=kind, default=default, **meta))
        if not _matches(specs[-1], default):
            raise TypeError(f"parameter '{name}': default {default!r} is not a {_TYPE_NAMES[specs[-1].ros_type]}")
        if specs[-1].check(default):
            raise ValueError(f"parameter '{name}': default {default!r} is not one of its choices")
    return specs


def _matches(spec: ParamSpec, value: Any) -> bool:
    """Whether ``value`` (e.g. from YAML) has the parameter's type (an int is a valid float, as in ROS 2 YAML)."""
    if spec.type is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec.type is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type in (bool, str):
        return isinstance(value, spec.type)
    (item,) = typing.get_args(spec.type)
    return isinstance(value, list) and all(_matches(ParamSpec("", item, None, ""), v) for v in value)


def _declare_spec(node: Node, spec: ParamSpec) -> Any:
    if isinstance(spec.default, list) and not spec.default:
        # rclpy types an empty list as a byte array: declare the type, then give it its (typed) empty value.
        # That needs a writable descriptor: declare_parameters' callback enforces read_only for these.
        descriptor = spec.descriptor()
        descriptor.read_only = False
        value = node.declare_parameter(spec.name, spec.ros_type, descriptor)
        if value.type_ == Parameter.Type.NOT_SET:
            node.set_parameters([Parameter(spec.name, spec.ros_type, [])])
            value = node.get_parameter(spec.name)
    else:
        default = float(spec.default) if spec.type is float else spec.default  # an int is a valid float default
        value = node.declare_parameter(spec.name, default, spec.descriptor())
    reason = spec.check(value.value)
    if reason:
        raise ValueError(f"parameter {reason}")
    return value.value


def declare_parameters(
    node: Node, schema: type[SchemaT], *, frozen_state: Callable[[], str | None] | None = None
) -> SchemaT:
    """Declare every parameter of ``schema`` on ``node`` and return the typed settings.

    Installs a set-parameters callback that checks choices and, when ``frozen_state`` returns a state name
    (e.g. ``"active"``), refuses changes to configure-time parameters with a message saying how to apply them.
    A bad value at start-up raises ValueError (or rclpy's ParameterException) naming the parameter.
    """
    specs = {spec.name: spec for spec in schema_specs(schema)}
    for spec in specs.values():
        _declare_spec(node, spec)

    def on_set(params: list[Parameter]) -> SetParametersResult:
        for p in params:
            spec = specs.get(p.name)
            if spec is not None and spec.read_only:  # rclpy checks it, except for lists with an empty default
                return SetParametersResult(successful=False, reason=f"{p.name} is read-only (set it at start-up)")
            reason = spec.check(p.value) if spec is not None else None
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        state = frozen_state() if frozen_state is not None else None
        frozen = [p.name for p in params if p.name in specs and specs[p.name].configure]
        if state and frozen:
            return SetParametersResult(
                successful=False,
                reason=(
                    f"{', '.join(frozen)} {'is' if len(frozen) == 1 else 'are'} read on configure and the node is "
                    f"{state}: deactivate and clean it up, set the parameter, configure again"
                ),
            )
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return read_parameters(node, schema)


def read_parameters(node: Node, schema: type[SchemaT], prefix: str = "") -> SchemaT:
    """The current values of ``schema``'s (declared) parameters as a settings object (e.g. at configure time)."""
    hints = typing.get_type_hints(schema)
    values = {}
    for f in dataclasses.fields(schema):
        kind = hints[f.name]
        name = prefix + f.name
        if dataclasses.is_dataclass(kind):
            values[f.name] = read_parameters(node, kind, name + ".")
        else:
            value = node.get_parameter(name).value
            values[f.name] = list(value) if typing.get_origin(kind) is list else value  # rclpy returns array.array
    return schema(**values)


def settings_from_values(
    schema: type[SchemaT], values: Mapping[str, Any], *, source: str = "parameters", ignore: Collection[str] = ()
) -> SchemaT:
    """ROS-free :func:`read_parameters`: the typed settings of ``schema`` with ``values`` (``{dotted.name: value}``,
    e.g. from :func:`parameter_file_values`) over its defaults, checked as a node would check them.

    Names in ``ignore`` (parameters the node declares outside ``schema``, rclpy's own) are skipped. Raises
    ValueError naming ``source`` and every unknown name and every value of the wrong type, out of range or not
    one of its choices.
    """
    specs = {spec.name: spec for spec in schema_specs(schema)}
    problems, given = [], {}
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            if name not in ignore:
                close = difflib.get_close_matches(name, specs, n=1)
                problems.append(f"unknown parameter '{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            continue
        reason = None if _matches(spec, value) else f"{name}: {value!r} is not a {_TYPE_NAMES[spec.ros_type]}"
        reason = reason or spec.check(value) or spec.out_of_range(value)
        if reason:
            problems.append(reason)
        elif spec.type is float:
            given[name] = float(value)
        else:
            given[name] = list(value) if isinstance(value, list) else value
    if problems:
        raise ValueError(f"{source}: {'; '.join(problems)}")
    return _build(schema, given, "")


def _build(schema: type[SchemaT], given: Mapping[str, Any], prefix: str) -> SchemaT:
    hints = typing.get_type_hints(schema)
    values = {}
    for f in dataclasses.fields(schema):
        name = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = _build(hints[f.name], given, name + ".")
        elif name in given:
            values[f.name] = given[name]
    return schema(**values)


def declare(
    node: Node,
    name: str,
    default: Any,
    description: str,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    step: float | None = None,
    choices: Sequence[str] | None = None,
    read_only: bool = False,
    value_type: Any = None,
) -> Any:
    """Declare one parameter (without a schema) and return its current value; see :class:`ParamSpec`.

    ``value_type`` is needed only where the default cannot tell (an empty list: ``list[str]``).
    """
    if value_type is None:
        value_type = list[type(default[0])] if isinstance(default, list) and default else type(default)
    if isinstance(default, list) and not default and value_type is list:
        raise TypeError(f"parameter '{name}': an empty list default needs value_type (e.g. list[str])")
    if isinstance(default, list) and not default and read_only:
        raise TypeError(f"parameter '{name}': a read-only list needs a non-empty default (or a schema)")
    spec = ParamSpec(
        name=name,
        type=value_type,
        default=default,
        description=description,
        min=min_value,
        max=max_value,
        step=step,
        choices=None if choices is None else tuple(choices),
        read_only=read_only,
    )
    return _declare_spec(node, spec)


def schema_rows(schema: type) -> list[tuple[str, str, str, str, str]]:
    """(name, type, default, range or choices, description) per parameter: for README tables and tests."""
    return [
        (s.name, _TYPE_NAMES[s.ros_type], repr(s.default), s.range_text(), s.description) for s in schema_specs(schema)
    ]


def parameter_file_values(yaml_path: str | Path, node_name: str, namespace: str = "/") -> dict[str, Any]:
    """The parameters a ROS 2 parameter file sets for one node, as ``{dotted.name: value}``.

    Sections apply as in rcl: ``/**``, the node name, its fully qualified name and wildcard patterns.
    Raises ValueError naming the file when it is not a parameter file.
    """
    import yaml

    path = Path(yaml_path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read parameter file '{path}': {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"parameter file '{path}' must map node names to 'ros__parameters'")
    fqn = namespace.rstrip("/") + "/" + node_name
    out: dict[str, Any] = {}
    for section, body in data.items():
        pattern = "/" + str(section).lstrip("/")
        # rcl's ** matches zero or more namespace tokens: /**/name also matches /name
        globs = {pattern.replace("**", "*"), pattern.replace("/**/", "/").replace("**", "*")}
        if not (pattern in (fqn, "/" + node_name) or any(fnmatch.fnmatchcase(fqn, glob) for glob in globs)):
            continue
        if not isinstance(body, dict) or not isinstance(body.get("ros__parameters", {}), dict):
            raise ValueError(f"parameter file '{path}': section '{section}' needs a 'ros__parameters' mapping")
        out.update(_flatten(body.get("ros__parameters") or {}))
    return out


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@dataclass
class ParameterFileReport:
    """What :func:`check_parameter_file` found: keys the schema does not know, values of the wrong type."""

    unknown: list[str]
    mismatched: list[str]

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.mismatched


def check_parameter_file(yaml_path: str | Path, node_name: str, schema: type) -> ParameterFileReport:
    """Check the section(s) of a parameter file that apply to ``node_name`` against ``schema``."""
    specs = {s.name: s for s in schema_specs(schema)}
    report = ParameterFileReport(unknown=[], mismatched=[])
    for name, value in parameter_file_values(yaml_path, node_name).items():
        spec = specs.get(name)
        if spec is None:
            report.unknown.append(name)
        elif not _matches(spec, value) or spec.check(value) or spec.out_of_range(value):
            report.mismatched.append(
                f"{name}: {value!r} is not a valid {_TYPE_NAMES[spec.ros_type]} {spec.range_text()}"
            )
    return report
