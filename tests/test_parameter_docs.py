"""Every node's parameter schema against the YAML files that configure it and the README table that documents it.

One registry (``NODES``) for the whole suite; a new node adds one entry. Checked for each node:

- every section of ``vjepa2/config/*.yaml`` and of the packages' ``config/*.yaml`` names a registered node
  (by its default name or a name a graph gives it), and sets only parameters of that node, with values of
  the right type and in range or among the choices;
- a package's reference file (``reference=True``: it documents every parameter) sets every parameter to
  its schema default;
- the README table lists exactly the node's parameters, each with the schema's default, its choices or range
  bounds, and when it applies: ``C`` (read on the lifecycle configure), ``read-only`` (at start-up) or
  ``live``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from vjepa2_franka.bridge_node import BridgeParams

from vjepa2.call_service import CallServiceParams
from vjepa2_common.lifecycle import LifecycleParams
from vjepa2_common.params import ParamSpec, check_parameter_file, parameter_file_values, schema_specs
from vjepa2_common.tools.image_publisher import ImagePublisherParams
from vjepa2_common.tools.relay import RelayParams
from vjepa2_perception.encoder_node import EncoderParams
from vjepa2_planner.params import PlannerParams
from vjepa2_sim.sim_node import SimParams
from vjepa2_training.data.bag_player import BagPlayerParams
from vjepa2_training.data.recorder_node import RecorderParams

ROOT = Path(__file__).resolve().parents[1]
#: declared by rclpy itself on every node
RCLPY_PARAMETERS = {"use_sim_time"}
#: nodes of other projects that vjepa2/config configures (their parameters are declared there), and the test
#: that checks their file instead
FOREIGN_NODES = {"servo_node": "vjepa2/test/test_robot_configs.py (MoveIt Servo's parameter names and values)"}


@dataclass(frozen=True)
class NodeDocs:
    """Where one node's parameters are declared, configured and documented."""

    schemas: tuple[type, ...]  # the node's schemas (a ManagedNode also declares LifecycleParams)
    names: tuple[str, ...]  # its default node name first, then the names the graphs give it
    readme: str  # README (relative to the workspace) with the node's parameter table
    heading: str  # the table is the first one after the line that starts with this
    configs: tuple[str, ...] = ()  # the package's config files for this node
    reference: tuple[str, ...] = field(default=())  # those of them that set every parameter to its default
    undocumented: frozenset[str] = frozenset()  # parameters the README table leaves to another README


NODES: dict[str, NodeDocs] = {
    "encoder_node": NodeDocs(
        (LifecycleParams, EncoderParams),
        ("vjepa2_encoder",),
        "vjepa2_perception/README.md",
        "### Parameters",
        ("vjepa2_perception/config/encoder.yaml",),
        ("vjepa2_perception/config/encoder.yaml",),
    ),
    "sim_node": NodeDocs(
        (SimParams,),
        ("franka_sim",),
        "vjepa2_sim/README.md",
        "### Parameters",
        ("vjepa2_sim/config/sim.yaml",),
        ("vjepa2_sim/config/sim.yaml",),
    ),
    "planner_node": NodeDocs(
        (LifecycleParams, PlannerParams),
        ("vjepa2_planner",),
        "vjepa2_planner/README.md",
        "## Parameters",
        undocumented=frozenset(spec.name for spec in schema_specs(LifecycleParams)),  # "come from ManagedNode"
    ),
    "recorder": NodeDocs((RecorderParams,), ("vjepa2_recorder",), "vjepa2_training/README.md", "## 1. Recording"),
    "bag_player": NodeDocs(
        (BagPlayerParams,),
        ("vjepa2_bag_player",),
        "vjepa2_training/README.md",
        "## 1b. Replay",
        ("vjepa2_training/config/bag_player.yaml",),
        ("vjepa2_training/config/bag_player.yaml",),
    ),
    "image_publisher": NodeDocs(
        (ImagePublisherParams,), ("image_publisher", "camera"), "vjepa2_common/README.md", "### `image_publisher`"
    ),
    "relay": NodeDocs((RelayParams,), ("relay", "camera_relay"), "vjepa2_common/README.md", "### `relay`"),
    "franky_bridge": NodeDocs(
        (LifecycleParams, BridgeParams),
        ("franky_bridge",),
        "vjepa2_franka/README.md",
        "### Parameters",
        undocumented=frozenset(spec.name for spec in schema_specs(LifecycleParams)),  # "come from ManagedNode"
    ),
    "call_service": NodeDocs(
        (CallServiceParams,), ("call_service", "servo_twist_mode"), "vjepa2/README.md", "### `call_service`"
    ),
}


def specs_of(docs: NodeDocs) -> dict[str, ParamSpec]:
    specs = {spec.name: spec for schema in docs.schemas for spec in schema_specs(schema)}
    assert len(specs) == sum(len(schema_specs(s)) for s in docs.schemas), "a parameter is declared twice"
    return specs


def config_files() -> list[Path]:
    return sorted([*(ROOT / "vjepa2" / "config").glob("*.yaml"), *ROOT.glob("vjepa2_*/config/*.yaml")])


def node_sections(path: Path) -> list[str]:
    """The node names of a parameter file's sections (``/**`` applies to every node and is skipped)."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "ros__parameters" in v for v in data.values()):
        return []  # not a ROS parameter file (e.g. a training config)
    return [str(section).rstrip("/").rsplit("/", 1)[-1] for section in data if str(section).strip("/") != "**"]


def owner(node_name: str) -> str | None:
    return next((key for key, docs in NODES.items() if node_name in docs.names), None)


def readme_default(value: Any) -> str:
    """A default as the README tables write it (YAML spelling)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, list):
        return "[" + ", ".join(readme_default(v) for v in value) + "]"
    return str(value)


def readme_table(docs: NodeDocs) -> tuple[list[tuple[str, str, str, str]], bool]:
    """(name, default as the schema writes it, range cell, when) of each row of the node's README table.

    Two layouts: ``| Name | Default | Range / choices | | Meaning |`` (defaults in YAML spelling; when: C, live or
    read-only) and the one ``schema_rows`` generates, ``| parameter | type | default | range / choices | when |
    description |`` (defaults as ``repr``; when: configure, live or read-only).
    """
    lines = (ROOT / docs.readme).read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(docs.heading)), None)
    assert start is not None, f"{docs.readme}: no line starting with {docs.heading!r}"
    header = next(
        i
        for i in range(start, len(lines))
        if re.match(r"^\| (Name \| Default|parameter \| type \| default) \|", lines[i])
    )
    generated = lines[header].startswith("| parameter")
    rows = []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if generated:  # choices are joined by " | "; escaped or not, "when" is the last such cell
            when_at = max(
                (k for k, c in enumerate(cells) if k >= 3 and c in ("configure", "live", "read-only")), default=0
            )
            assert when_at, f"{docs.readme}: malformed parameter row {line!r}"
            limits = " | ".join(cells[3:when_at]).replace("\\|", "|")
            when = "C" if cells[when_at] == "configure" else cells[when_at]
            rows.append((cells[0].strip("`"), cells[2].strip("`"), limits, when))
            continue
        match = re.match(r"^\| `([\w.]+)` \| `([^`]*)` \|([^|]*)\| (C|live|read-only) \|.*\|$", line)
        assert match, f"{docs.readme}: malformed parameter row {line!r}"
        name, default, limits, when = match.groups()
        rows.append((name, default, limits.strip(), when))
    return rows, generated


@pytest.mark.parametrize("path", config_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_parameter_files_match_the_schemas(path: Path) -> None:
    for node_name in node_sections(path):
        if node_name in FOREIGN_NODES:
            continue
        key = owner(node_name)
        assert key is not None, f"{path}: section '{node_name}' is no registered node; add it to NODES"
        docs = NODES[key]
        reports = [check_parameter_file(path, node_name, schema) for schema in docs.schemas]
        unknown = set.intersection(*(set(r.unknown) for r in reports)) - RCLPY_PARAMETERS
        mismatched = [m for r in reports for m in r.mismatched]
        assert not unknown and not mismatched, f"{path} [{node_name}]: unknown {sorted(unknown)}, bad {mismatched}"


@pytest.mark.parametrize("key", sorted(NODES))
def test_reference_files_set_every_parameter_to_its_default(key: str) -> None:
    docs = NODES[key]
    for config in docs.configs:
        assert node_sections(ROOT / config), f"{config} configures no node"
    for config in docs.reference:
        values = parameter_file_values(ROOT / config, docs.names[0])
        for name, spec in specs_of(docs).items():
            assert name in values, f"{config} does not document {name}"
            assert values[name] == spec.default, f"{config}: {name} is {values[name]!r}, the default {spec.default!r}"


@pytest.mark.parametrize("key", sorted(NODES))
def test_readme_table_matches_the_schema(key: str) -> None:
    docs = NODES[key]
    rows, generated = readme_table(docs)
    names = [row[0] for row in rows]
    specs = {name: spec for name, spec in specs_of(docs).items() if spec.name not in docs.undocumented}
    assert sorted(names) == sorted(specs), (
        f"{docs.readme}: the table lacks {sorted(set(specs) - set(names))}, has extra {sorted(set(names) - set(specs))}"
    )
    for name, default, limits, when in rows:
        spec = specs[name]
        expected = "C" if spec.configure else "read-only" if spec.read_only else "live"
        assert when == expected, f"{name}: README says {when}, the schema {expected}"
        shown = repr(spec.default) if generated else readme_default(spec.default)
        assert default == shown, f"{name}: README default {default!r}, schema {spec.default!r}"
        if generated:
            assert limits == spec.range_text(), f"{name}: README range {limits!r}, schema {spec.range_text()!r}"
            continue
        for choice in spec.choices or ():
            assert f"`{choice}`" in limits, f"{name}: README range/choices lack `{choice}`"
        for bound in (spec.min, spec.max):
            if bound is not None:
                shown = str(int(bound)) if spec.type is int else f"{bound:g}"
                assert shown in limits, f"{name}: README range {limits!r} lacks the bound {shown}"
