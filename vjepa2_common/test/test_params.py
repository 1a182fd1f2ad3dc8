"""Typed parameter schemas: declaration, typed settings, one-sided ranges over DDS, choices, configure-time
freezing, README rows and parameter-file checks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.srv import DescribeParameters, GetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter

from vjepa2_common.params import (
    INT64_MAX,
    check_parameter_file,
    declare,
    declare_parameters,
    namespace,
    param,
    parameter_file_values,
    read_parameters,
    schema_rows,
    schema_specs,
    settings_from_values,
)
from vjepa2_common.testing import RosHarness


@dataclass
class ModelParams:
    checkpoint: str = param("", "Encoder weights", configure=True)
    dtype: str = param("float32", "Compute dtype", choices=("float32", "bfloat16"), configure=True)
    threads: int = param(0, "torch threads; 0 = default", min=0)


@dataclass
class DemoParams:
    model: ModelParams = namespace(ModelParams)
    rate_hz: float = param(10.0, "Rate [Hz]", min=0.1)
    gain: float = param(1.0, "Gain", max=5.0)
    max_frames: int = param(0, "Stop after this many frames (0: never)", min=0)
    topics: list[str] = param([], "Extra topics")
    weights: list[float] = param([1.0, 2.0], "Weights")
    verbose: bool = param(False, "Log more", read_only=True)


@pytest.fixture
def node(ros: RosHarness) -> Iterator[Node]:
    """A node in the test process, served by the harness executor (its parameter services are on DDS)."""
    target = Node(f"params_{id(ros)}", context=ros.context)
    ros.executor.add_node(target)
    yield target
    ros.executor.remove_node(target)
    target.destroy_node()


def test_schema_declares_every_parameter_and_returns_typed_settings(node: Node) -> None:
    settings = declare_parameters(node, DemoParams)
    assert settings == DemoParams()
    assert isinstance(settings.model, ModelParams) and settings.weights == [1.0, 2.0] and settings.topics == []
    assert node.get_parameter("model.dtype").value == "float32"
    assert node.get_parameter("topics").type_ == Parameter.Type.STRING_ARRAY
    node.set_parameters([Parameter("model.threads", value=4), Parameter("weights", value=[3.0])])
    again = read_parameters(node, DemoParams)
    assert again.model.threads == 4 and again.weights == [3.0] and isinstance(again.weights, list)


def test_choices_ranges_and_configure_time_parameters_are_checked_on_set(node: Node) -> None:
    state = {"value": None}
    declare_parameters(node, DemoParams, frozen_state=lambda: state["value"])
    (result,) = node.set_parameters([Parameter("model.dtype", value="float64")])
    assert not result.successful and "one of: float32, bfloat16" in result.reason
    (result,) = node.set_parameters([Parameter("rate_hz", value=0.01)])
    assert not result.successful
    (result,) = node.set_parameters([Parameter("model.checkpoint", value="a.pt")])
    assert result.successful
    state["value"] = "active"
    (result,) = node.set_parameters([Parameter("model.checkpoint", value="b.pt")])
    assert not result.successful and "read on configure and the node is active" in result.reason
    (result,) = node.set_parameters([Parameter("rate_hz", value=20.0)])  # not configure-time: applies at once
    assert result.successful


def test_read_only_parameters_with_an_empty_list_default_are_refused_on_set(ros: RosHarness) -> None:
    @dataclass
    class StartUp:
        topics: list[str] = param([], "Topics, read at start-up", read_only=True)
        depth: int = param(1, "Depth", min=1, read_only=True)

    target = Node("params_startup", context=ros.context, parameter_overrides=[Parameter("topics", value=["/a"])])
    try:
        assert declare_parameters(target, StartUp).topics == ["/a"]  # an override still applies at start-up
        for name, value in (("topics", ["/b"]), ("depth", 2)):
            (result,) = target.set_parameters([Parameter(name, value=value)])
            assert not result.successful and "read-only" in result.reason.lower(), result.reason
        assert read_parameters(target, StartUp) == StartUp(topics=["/a"], depth=1)
    finally:
        target.destroy_node()
    with pytest.raises(TypeError, match="read-only list needs a non-empty default"):
        declare(Node("params_plain", context=ros.context), "more", [], "More", value_type=list[str], read_only=True)


def test_one_sided_ranges_survive_describe_and_get_over_dds(node: Node, ros: RosHarness) -> None:
    declare_parameters(node, DemoParams)
    extra = declare(node, "extra_topics", [], "More topics", value_type=list[str])
    assert extra == []
    names = [spec.name for spec in schema_specs(DemoParams)] + ["extra_topics"]
    described = ros.call(
        DescribeParameters, f"/{node.get_name()}/describe_parameters", DescribeParameters.Request(names=names)
    )
    by_name = {d.name: d for d in described.descriptors}
    (frames,) = by_name["max_frames"].integer_range
    assert (frames.from_value, frames.to_value) == (0, INT64_MAX)
    (rate,) = by_name["rate_hz"].floating_point_range
    assert rate.from_value == 0.1 and rate.to_value == math.inf
    (gain,) = by_name["gain"].floating_point_range
    assert gain.from_value == -math.inf and gain.to_value == 5.0
    assert by_name["model.dtype"].additional_constraints == "one of: float32, bfloat16"
    assert by_name["verbose"].read_only
    values = ros.call(GetParameters, f"/{node.get_name()}/get_parameters", GetParameters.Request(names=names))
    assert len(values.values) == len(names)
    assert list(values.values[-1].string_array_value) == []
    (result,) = node.set_parameters([Parameter("max_frames", value=2**62)])  # huge but in range: accepted
    assert result.successful


def test_bad_values_and_schemas_are_refused_naming_the_parameter(ros: RosHarness) -> None:
    bad = Node("params_bad", context=ros.context, parameter_overrides=[Parameter("model.dtype", value="int8")])
    try:
        with pytest.raises(ValueError, match=r"model\.dtype must be one of"):
            declare_parameters(bad, DemoParams)
    finally:
        bad.destroy_node()

    @dataclass
    class Untyped:
        size: int = 3  # not a param(...)

    with pytest.raises(TypeError, match="use param"):
        schema_specs(Untyped)

    @dataclass
    class WrongDefault:
        size: int = param("3", "Size")

    with pytest.raises(TypeError, match="'size': default '3' is not a int"):
        schema_specs(WrongDefault)


def test_schema_rows_for_readme_tables() -> None:
    rows = {row[0]: row for row in schema_rows(DemoParams)}
    assert rows["model.dtype"] == ("model.dtype", "str", "'float32'", "float32 | bfloat16", "Compute dtype")
    assert rows["rate_hz"][3] == "[0.1, ]" and rows["gain"][3] == "[, 5.0]" and rows["topics"][1] == "list[str]"


def test_check_parameter_file(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "/**": {"ros__parameters": {"rate_hz": 5, "model": {"dtype": "float16", "chekpoint": "x.pt"}}},
                "demo": {"ros__parameters": {"gain": "high", "verbose": True}},
                "other_node": {"ros__parameters": {"unrelated": 1}},
            }
        )
    )
    assert parameter_file_values(path, "demo") == {
        "rate_hz": 5,
        "model.dtype": "float16",
        "model.chekpoint": "x.pt",
        "gain": "high",
        "verbose": True,
    }
    report = check_parameter_file(path, "demo", DemoParams)
    assert report.unknown == ["model.chekpoint"]
    assert [m.split(":")[0] for m in report.mismatched] == ["model.dtype", "gain"]
    assert not report.ok
    path.write_text("a: [unclosed")
    with pytest.raises(ValueError, match="cannot read parameter file"):
        parameter_file_values(path, "demo")


def test_non_finite_and_out_of_range_values_are_refused(node: Node, tmp_path: Path) -> None:
    declare_parameters(node, DemoParams)
    for name, value in (("rate_hz", math.inf), ("gain", math.nan), ("gain", -math.inf), ("weights", [1.0, math.nan])):
        (result,) = node.set_parameters([Parameter(name, value=value)])
        assert not result.successful and ("finite" in result.reason or "out of range" in result.reason), result.reason
    path = tmp_path / "node.yaml"
    path.write_text(
        "demo:\n  ros__parameters:\n    rate_hz: .inf\n    gain: 7.0\n    max_frames: -1\n    weights: [1.0]\n"
    )
    report = check_parameter_file(path, "demo", DemoParams)
    assert [m.split(":")[0] for m in report.mismatched] == ["rate_hz", "gain", "max_frames"], report.mismatched


def test_namespace_wildcard_sections_match_in_every_namespace(tmp_path: Path) -> None:
    """As in rcl, ``/**/name`` matches the node in the root namespace too (what vjepa2/config files use)."""
    path = tmp_path / "graph.yaml"
    path.write_text(
        yaml.safe_dump({"/**/demo": {"ros__parameters": {"gain": 2.0}}, "/**/other": {"ros__parameters": {"x": 1}}})
    )
    for node_namespace in ("/", "/robot1", "/a/b"):
        assert parameter_file_values(path, "demo", node_namespace) == {"gain": 2.0}
    assert parameter_file_values(path, "demos") == {}


def test_settings_from_values_builds_typed_settings_without_a_node() -> None:
    settings = settings_from_values(DemoParams, {"model.dtype": "bfloat16", "rate_hz": 5, "topics": ["a"]})
    assert settings == DemoParams(model=ModelParams(dtype="bfloat16"), rate_hz=5.0, topics=["a"])
    assert isinstance(settings.rate_hz, float) and settings_from_values(DemoParams, {}) == DemoParams()
    assert settings_from_values(DemoParams, {"use_sim_time": True}, ignore={"use_sim_time"}) == DemoParams()
    bad = {"model.dtpye": "float32", "gain": 7.0, "max_frames": 1.5, "model.dtype": "float64", "use_sim_time": True}
    with pytest.raises(ValueError) as info:
        settings_from_values(DemoParams, bad, source="demo.yaml")
    text = str(info.value)
    assert text.startswith("demo.yaml: unknown parameter 'model.dtpye' (did you mean 'model.dtype'?)")
    for part in (
        "gain: 7.0 is outside [, 5.0]",
        "max_frames: 1.5 is not a int",
        "model.dtype must be one of",
        "'use_sim_time'",
    ):
        assert part in text, text
