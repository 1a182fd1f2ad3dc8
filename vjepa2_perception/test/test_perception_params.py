"""encoder_node's parameter schema against its YAML files and its README table."""

from __future__ import annotations

import re
from pathlib import Path

from vjepa2_common.params import check_parameter_file, schema_specs
from vjepa2_perception.encoder_node import NODE_NAME, EncoderParams

PACKAGE = Path(__file__).resolve().parents[1]
WORKSPACE = PACKAGE.parent
BASE_PARAMETERS = {"autostart", "diagnostics_period_s"}  # declared by vjepa2_common.lifecycle.ManagedNode


def test_yaml_files_match_the_schema() -> None:
    files = [PACKAGE / "config" / "encoder.yaml", *sorted((WORKSPACE / "vjepa2" / "config").glob("*.yaml"))]
    checked = 0
    for path in files:
        report = check_parameter_file(path, NODE_NAME, EncoderParams)
        unknown = [name for name in report.unknown if name not in BASE_PARAMETERS | {"use_sim_time"}]  # rclpy's
        assert not unknown and not report.mismatched, f"{path}: unknown {unknown}, mismatched {report.mismatched}"
        checked += 1
    assert checked >= 1


def test_readme_table_matches_the_schema() -> None:
    rows = re.findall(
        r"^\| `([\w.]+)` \| `([^`]*)` \|[^|]*\| (C|live|read-only) \|", (PACKAGE / "README.md").read_text(), re.M
    )
    table = {name: (default, flag) for name, default, flag in rows}
    specs = {spec.name: spec for spec in schema_specs(EncoderParams)}
    assert set(table) == set(specs) | BASE_PARAMETERS
    for name, spec in specs.items():
        default, flag = table[name]
        assert (flag == "C") == spec.configure, f"{name}: README says {flag}, the schema configure={spec.configure}"
        shown = str(spec.default).lower() if isinstance(spec.default, bool) else str(spec.default)
        assert default == (shown if shown else '""'), f"{name}: README default {default!r}, schema {spec.default!r}"
