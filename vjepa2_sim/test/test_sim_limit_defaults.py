"""The command limit defaults are written once (vjepa2_core.limits.CommandLimits): the node's parameters, the
YAML files and the README table must equal them (or be listed here as deliberate overrides)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from vjepa2_core.limits import CommandLimits

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {f.name: getattr(CommandLimits(), f.name) for f in dataclasses.fields(CommandLimits)}
YAML_FILES = sorted([*(ROOT / "vjepa2_sim" / "config").glob("*.yaml"), *(ROOT / "vjepa2" / "config").glob("*.yaml")])
# (file relative to the repository, parameter): value, for deliberate overrides
OVERRIDES: dict[tuple[str, str], Any] = {
    # real robots: slower twist limits than the simulator's defaults
    ("vjepa2/config/franka.yaml", "max_linear_speed"): 0.2,
    ("vjepa2/config/franka.yaml", "max_angular_speed"): 0.8,
    ("vjepa2/config/franky.yaml", "max_linear_speed"): 0.2,
    ("vjepa2/config/franky.yaml", "max_angular_speed"): 0.8,
    # the shipped demo model's reach box (vjepa2_sim.scene.REACH_BOX_MIN / MAX): the cameras frame it, the data too
    ("vjepa2/config/sim.yaml", "workspace_min"): [0.36, -0.16, 0.08],
    ("vjepa2/config/sim.yaml", "workspace_max"): [0.6, 0.16, 0.32],
}


def as_plain(value: Any) -> Any:
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)


#: CommandLimits fields the sim node does not expose as parameters: the planner's per-axis bound, and the TCP
#: orientation cone (fixed: beyond it the simulator's IK can wedge the arm; documented in the README's prose).
NOT_NODE_PARAMETERS = {"max_step_per_axis", "max_tcp_tilt", "max_tcp_yaw"}


def limit_values(node: Any, found: dict[str, Any]) -> dict[str, Any]:
    """Every key named like a CommandLimits field, anywhere in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in DEFAULTS:
                found[key] = value
            else:
                limit_values(value, found)
    return found


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_yaml_limit_values_equal_the_dataclass_defaults(path: Path) -> None:
    for name, value in limit_values(yaml.safe_load(path.read_text()), {}).items():
        expected = OVERRIDES.get((str(path.relative_to(ROOT)), name), DEFAULTS[name])
        assert as_plain(value) == as_plain(expected), f"{path}: {name} = {value}, CommandLimits default {expected}"


def test_sim_yaml_lists_every_node_limit() -> None:
    values = limit_values(yaml.safe_load((ROOT / "vjepa2_sim" / "config" / "sim.yaml").read_text()), {})
    assert set(DEFAULTS) - NOT_NODE_PARAMETERS <= set(values)


def test_readme_table_equals_the_dataclass_defaults() -> None:
    rows = 0
    for line in (ROOT / "vjepa2_sim" / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        names = re.findall(r"`(\w+)`", cells[0])
        if not names or not all(n in DEFAULTS for n in names):
            continue
        values = [yaml.safe_load(v) for v in re.findall(r"\[[^\]]*\]|-?\d+(?:\.\d+)?", cells[1])]
        assert len(values) == len(names), line
        for name, value in zip(names, values):
            assert as_plain(value) == as_plain(DEFAULTS[name]), f"README: {name} = {value}, default {DEFAULTS[name]}"
            rows += 1
    assert rows == len(set(DEFAULTS) - NOT_NODE_PARAMETERS)  # every node limit is documented
