"""Parameter declaration with descriptions and ranges, as reviewers of ROS 2 packages expect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node


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
) -> Any:
    """Declare ``name`` with a description (and range or choices) and return its current value.

    Ranges are enforced by rclpy for ints and floats: a value outside them is rejected at start-up and
    on ``set_parameters`` with a message naming the range. ``choices`` is checked here, at declaration.
    """
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if min_value is not None or max_value is not None:
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError(f"parameter '{name}': a range needs an int or float default, got {default!r}")
        lo = min_value if min_value is not None else -1e308
        hi = max_value if max_value is not None else 1e308
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=int(step or 0))]
        else:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(lo), to_value=float(hi), step=float(step or 0.0))
            ]
    if choices is not None:
        descriptor.additional_constraints = "one of: " + ", ".join(choices)
    value = node.declare_parameter(name, default, descriptor).value
    if choices is not None and value not in choices:
        raise ValueError(f"parameter '{name}' is {value!r}; it must be one of: {', '.join(choices)}")
    return value
