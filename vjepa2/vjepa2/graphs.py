"""The suite's node graphs and their registry, ``GRAPHS``. Each later package adds its nodes here, and both
launchers follow. A graph's description says what it starts today (``test_runner`` checks it against the
nodes)."""

from __future__ import annotations

from vjepa2.graph_spec import Argument, Graph, NodeSpec, config_path, graph


@graph(
    "camera_relay",
    "A test-pattern camera and a relay: the smallest graph, to check a ROS 2 set-up end to end.",
    (
        Argument("rate_hz", "30.0", "Camera frame rate [Hz]", float),
        Argument("namespace", "", "Namespace of both nodes"),
    ),
)
def camera_relay(args: dict[str, str]) -> list[NodeSpec]:
    return [
        NodeSpec(
            "vjepa2_common",
            "image_publisher",
            "camera",
            args["namespace"],
            parameters=[{"rate_hz": float(args["rate_hz"])}],
            remappings=[("image", "camera/image_raw")],
        ),
        NodeSpec(
            "vjepa2_common",
            "relay",
            "camera_relay",
            args["namespace"],
            remappings=[("input", "camera/image_raw"), ("output", "camera/image_relayed")],
        ),
    ]


@graph(
    "plan",
    "The simulated Franka (camera + arm, blocking ~/execute_action), the V-JEPA 2 encoder node embedding its "
    "camera, and the CEM planner node (PlanToGoal action on /vjepa2_planner/plan_to_goal, behind its safety layer).",
    (
        Argument("params_file", config_path("plan.yaml"), "Parameter file for all nodes"),
        Argument("namespace", "", "Namespace of all nodes"),
    ),
)
def plan(args: dict[str, str]) -> list[NodeSpec]:
    params = [args["params_file"]]
    return [
        # The robot: the simulated Franka (camera + arm); a real set-up replaces this node with its drivers.
        NodeSpec(
            "vjepa2_sim",
            "sim_node",
            "franka_sim",
            args["namespace"],
            parameters=params,
            remappings=[
                ("exterior/image_raw", "camera/image_raw"),
                ("exterior/camera_info", "camera/camera_info"),
                # the tiled stereo camera of the embedded demo model (params_file:=.../sim.yaml, cameras: [stereo])
                ("stereo/image_raw", "camera/image_raw"),
                ("stereo/camera_info", "camera/camera_info"),
            ],
            required=True,
        ),
        # vjepa2_perception: camera -> V-JEPA 2 embeddings (+ ~/encode_image for goal images)
        NodeSpec(
            "vjepa2_perception",
            "encoder_node",
            "vjepa2_encoder",
            args["namespace"],
            parameters=params,
            remappings=[("image", "camera/image_raw"), ("image/compressed", "camera/image_raw/compressed")],
        ),
        # vjepa2_planner: PlanToGoal (~/plan_to_goal) -> V-JEPA 2-AC + CEM -> safety layer -> execute_action
        NodeSpec("vjepa2_planner", "planner_node", "vjepa2_planner", args["namespace"], parameters=params),
    ]


@graph(
    "perception",
    "A test-pattern camera (or image files) and the V-JEPA 2 encoder node: embeddings (and probe classes) "
    "of a live image stream.",
    (
        Argument("params_file", config_path("perception.yaml"), "Parameter file for both nodes"),
        Argument(
            "checkpoint",
            "random",
            "Encoder weights: official .pt, HF directory, vjepa2_core checkpoint "
            "or 'random' (untrained, for a set-up check)",
        ),
        Argument(
            "preset",
            "auto",
            "Encoder size: auto (inferred from the weights) or vit_large, vit_huge, vit_giant, vit_giant_384",
        ),
        Argument("mode", "per_frame", "per_frame (one tubelet per frame) or clip"),
        Argument("namespace", "", "Namespace of both nodes"),
    ),
)
def perception(args: dict[str, str]) -> list[NodeSpec]:
    params: list[str | dict] = [args["params_file"]]
    return [
        NodeSpec(
            "vjepa2_common",
            "image_publisher",
            "camera",
            args["namespace"],
            parameters=params,
            remappings=[("image", "camera/image_raw")],
            required=True,
        ),
        NodeSpec(
            "vjepa2_perception",
            "encoder_node",
            "vjepa2_encoder",
            args["namespace"],
            parameters=[
                *params,
                {"model.checkpoint": args["checkpoint"], "model.preset": args["preset"], "mode": args["mode"]},
            ],
            remappings=[("image", "camera/image_raw"), ("image/compressed", "camera/image_raw/compressed")],
            required=True,
        ),
    ]


#: Every graph, by name: what ``vjepa2-launch`` and ``launch/*.launch.py`` start.
GRAPHS: dict[str, Graph] = {g.name: g for g in (camera_relay, plan, perception)}


def get_graph(name: str) -> Graph:
    """The graph ``name``; KeyError naming the available ones if there is none."""
    if name not in GRAPHS:
        raise KeyError(f"unknown graph '{name}'; available: {', '.join(sorted(GRAPHS))}")
    return GRAPHS[name]
