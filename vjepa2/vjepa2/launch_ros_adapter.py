"""Turn a vjepa2 graph into a launch_ros LaunchDescription (used by launch/*.launch.py)."""

from __future__ import annotations

import os
from typing import Any

from vjepa2.graphs import get_graph

#: Environment variables a node gets from ``VJEPA2_NODE_<NAME>`` when that is set. In docker/, ``ros2 launch``
#: runs on the image's ROS (/opt/ros) while every node runs in the workspace venv (the PyPI ROS 2 wheels):
#: docker/ros2 records the workspace's values before it sources /opt/ros, so that no node loads /opt/ros
#: libraries (the wheels' bootstrapper orders LD_LIBRARY_PATH arbitrarily) or its rmw (via the ament index).
NODE_ENVIRONMENT = ("PYTHONPATH", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH")


def node_environment(environ: dict[str, str] | None = None) -> dict[str, str] | None:
    """The variables each node gets on top of the launch process's environment (None: nothing recorded)."""
    env = os.environ if environ is None else environ
    found = {name: env[f"VJEPA2_NODE_{name}"] for name in NODE_ENVIRONMENT if f"VJEPA2_NODE_{name}" in env}
    return found or None


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
            node_env = node_environment()
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
