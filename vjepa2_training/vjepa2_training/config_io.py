"""Build nested dataclasses from YAML with strict checking and clear error messages.

Unknown keys (with a "did you mean" hint), wrong types, and failed ``validate()`` checks all raise
:class:`ConfigError` naming the offending dotted key, e.g. ``pretrain.yaml: optim.lr: expected a number,
got 'fast'``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vjepa2_core.files import check_readable_file

T = TypeVar("T")

#: class attribute of a config dataclass: ``{key: why it is not set in the file}`` (fields the program derives)
DERIVED_KEYS = "__derived_keys__"

CONFIG_MAX_BYTES = 1 << 20  # a YAML config is a few kB; a bigger file is not one


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message says which key and why."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        return Path(value)
    raise ConfigError(f"{where}: unsupported config type {_type_name(tp)}")


def _build(cls: type[T], data: dict[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        derived = getattr(cls, DERIVED_KEYS, {})
        if key in derived:
            raise ConfigError(f"{where + '.' if where else ''}{key}: not a config key: {derived[key]}")
        hint = difflib.get_close_matches(str(key), list(fields), n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else f"; valid keys: {sorted(fields)}"
        raise ConfigError(f"{where + '.' if where else ''}{key}: unknown key{extra}")
    kwargs = {}
    for name, value in data.items():
        field = fields[name]
        if isinstance(value, dict) and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
            if dataclasses.is_dataclass(default):  # keys not given keep the FIELD's defaults, not the class's
                value = {**to_dict(default), **value}
        kwargs[name] = _convert(value, hints[name], f"{where + '.' if where else ''}{name}")
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where or 'config'}: missing required key(s) {missing}")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except (ValueError, TypeError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"{where}: {err}" if where else str(err)) from None
    return obj


def from_dict(cls: type[T], data: dict[str, Any] | None, source: str = "config") -> T:
    """Build ``cls`` (a dataclass) from a plain mapping; errors are prefixed with ``source``."""
    try:
        return _build(cls, data or {}, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load_yaml(cls: type[T], path: Path | str, overrides: list[str] = ()) -> T:
    """Load ``cls`` from a YAML file, applying ``key.sub=value`` overrides (values parsed as YAML)."""
    path = Path(path)
    data = read_yaml_mapping(path)
    for item in overrides:
        apply_override(data, item)
    return from_dict(cls, data, str(path))


def read_yaml_mapping(path: Path | str) -> dict[str, Any]:
    """The top-level mapping of a YAML config file, checked first (regular file, size, readable, UTF-8)."""
    path = Path(path)
    try:
        check_readable_file(path, what="config file", max_bytes=CONFIG_MAX_BYTES)
        data = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
    except (ValueError, yaml.YAMLError) as err:  # FileCheckError, UnicodeDecodeError, bad YAML
        raise ConfigError(f"{path}: not a readable YAML config: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set ``data['a']['b'] = yaml(value)`` for an override string ``a.b=value``."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.subkey=value")
    key, raw = item.split("=", 1)
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a mapping")
    node[parts[-1]] = yaml.safe_load(raw)


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain YAML/JSON-able structure (paths become strings, tuples lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
