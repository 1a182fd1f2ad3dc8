"""Turn a vjepa2 graph into a launch_ros LaunchDescription (used by launch/*.launch.py)."""

from __future__ import annotations

import os
from typing import Any

from vjepa2.graphs import get_graph


def launch_description(graph_name: str) -> Any:
    """A LaunchDescription declaring the graph's arguments and starting its nodes with their values."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.events import Shutdown
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    graph = get_graph(graph_name)

    def start_nodes(context: Any) -> list[Any]:
        values = {a.name: LaunchConfiguration(a.name).perform(context) for a in graph.arguments}
        specs = graph.nodes(values)
        problem = graph.not_installed(specs)
        if problem:
            raise RuntimeError(problem)
        actions: list[Any] = []
        for spec in specs:
            # In docker/, nodes run in the workspace venv while ros2 launch runs on the image's Python.
            node_pythonpath = os.environ.get("VJEPA2_NODE_PYTHONPATH")
            node_env = {"PYTHONPATH": node_pythonpath} if node_pythonpath else None
            node = Node(
                package=spec.package,
                executable=spec.executable,
                name=spec.name,
                namespace=spec.namespace or None,
                parameters=spec.resolved_parameters(),  # package files found, xacro run, YAML read
                remappings=list(spec.remappings),
                arguments=list(spec.arguments),
                output="screen",
                additional_env=node_env,
            )
            actions.append(node)
            if spec.required:
                actions.append(
                    RegisterEventHandler(
                        OnProcessExit(
                            target_action=node, on_exit=[EmitEvent(event=Shutdown(reason=f"{spec.name} exited"))]
                        )
                    )
                )
        return actions

    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
                for a in graph.arguments
            ),
            OpaqueFunction(function=start_nodes),
        ]
    )
