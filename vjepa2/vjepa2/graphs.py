"""The suite's node graphs and their registry, ``GRAPHS``. Each later package adds its nodes here, and both
launchers follow. A graph's description says what it starts (``test_runner`` checks it against the nodes).

The planning graphs share one core, perception + planner (:func:`perception_and_planner`); ``plan`` is that
core alone (the robot runs elsewhere), ``sim``, ``franky`` and ``franka`` add a robot. Launch arguments whose
default is ``""`` leave the value of the graph's parameter file in place.
"""

from __future__ import annotations

from typing import Any

from vjepa2.graph_spec import (
    Argument,
    Graph,
    NodeSpec,
    PackageFile,
    XacroValue,
    YamlValue,
    config_path,
    graph,
)
from vjepa2_common import names

PLANNER_NODE = "vjepa2_planner"
#: MoveIt Servo's node in the franka graph (its topics are ~/delta_twist_cmds, ~/pose_target_cmds)
SERVO_NODE = "servo_node"
#: the arm franka_ros2's MoveIt configuration (franka_fr3_moveit_config) describes: frames fr3_link0, ...
FRANKA_ROS2_ROBOT = "fr3"
#: moveit_msgs/srv/ServoCommandType.Request.TWIST: Servo starts in JOINT_JOG mode and ignores twists until told
SERVO_COMMAND_TYPE_TWIST = 1


def namespace_argument(what: str = "all nodes") -> Argument:
    return Argument("namespace", "", f"Namespace of {what}")


#: the perception + planner arguments every planning graph has (after its params_file)
PLANNING_ARGUMENTS = (
    Argument(
        "encoder_checkpoint",
        "",
        "Encoder weights (the encoder's model.checkpoint): official .pt, HF directory, vjepa2_core checkpoint or "
        "'random'; '' = the parameter file's",
    ),
    Argument(
        "predictor_checkpoint",
        "",
        "AC predictor weights (the planner's predictor.checkpoint): vjepa2-ac-vitg.pt, a vjepa2-train-ac "
        "checkpoint or 'random'; '' = the parameter file's",
    ),
    Argument(
        "preset",
        "",
        "Encoder size (model.preset): auto, vit_large, vit_huge, vit_giant, vit_giant_384; '' = the parameter file's",
    ),
    Argument(
        "camera_topic",
        "camera/image_raw",
        "sensor_msgs/Image topic the encoder embeds (and the planner's topics.image)",
    ),
)
COMMAND_INTERFACE = Argument(
    "command_interface",
    "",
    "The planner's command_interface: execute_action, servo_twist, pose_target or dry_run; '' = the parameter file's",
)


def _given(values: dict[str, str]) -> dict[str, str]:
    """The entries whose launch argument was given (not '')."""
    return {k: v for k, v in values.items() if v != ""}


def camera_info_topic(image_topic: str) -> str:
    """The sensor_msgs/CameraInfo topic next to an image topic (``camera/image_raw`` -> ``camera/camera_info``)."""
    parent, _, _ = image_topic.rpartition("/")
    return f"{parent}/camera_info" if parent else "camera_info"


def robot_wiring(robot_node: str) -> dict[str, str]:
    """The planner parameters that point it at a robot node serving the suite's robot interface (vjepa2_sim's
    ``franka_sim`` or vjepa2_franka's ``franky_bridge``: ``~/execute_action``, ``~/stop``,
    ``~/gripper/closure_cmd``)."""
    return {
        "services.execute_action": f"{robot_node}/execute_action",
        "services.stop": f"{robot_node}/stop",
        "topics.gripper_command": f"{robot_node}/gripper/closure_cmd",
    }


def perception_and_planner(
    args: dict[str, str], params: list[Any], planner: dict[str, Any] | None = None
) -> list[NodeSpec]:
    """The V-JEPA 2 encoder node and the planner node: ``params`` (files) first, then the launch arguments
    given, then ``planner`` (what the graph fixes, e.g. the robot's service names)."""
    camera = args["camera_topic"]
    encoder_inline = _given({"model.checkpoint": args["encoder_checkpoint"], "model.preset": args["preset"]})
    planner_inline = {
        **_given(
            {
                "predictor.checkpoint": args["predictor_checkpoint"],
                "command_interface": args.get(COMMAND_INTERFACE.name, ""),
            }
        ),
        "topics.image": camera,
        **(planner or {}),
    }
    return [
        # vjepa2_perception: camera -> V-JEPA 2 embeddings (+ ~/encode_image for goal images)
        NodeSpec(
            "vjepa2_perception",
            "encoder_node",
            names.ENCODER_NODE,
            args["namespace"],
            parameters=[*params, *([encoder_inline] if encoder_inline else [])],
            remappings=[("image", camera), ("image/compressed", f"{camera}/compressed")],
        ),
        # vjepa2_planner: PlanToGoal (~/plan_to_goal) -> V-JEPA 2-AC + CEM -> safety layer -> the robot
        NodeSpec(
            "vjepa2_planner", "planner_node", PLANNER_NODE, args["namespace"], parameters=[*params, planner_inline]
        ),
    ]


@graph(
    "camera_relay",
    "A test-pattern camera and a relay: the smallest graph, to check a ROS 2 set-up end to end.",
    (
        Argument("rate_hz", "30.0", "Camera frame rate [Hz]", float),
        namespace_argument("both nodes"),
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
    "The V-JEPA 2 encoder node embedding a camera topic and the CEM planner node (PlanToGoal action on "
    "/vjepa2_planner/plan_to_goal, behind its safety layer), against a robot that runs elsewhere: a real Franka "
    "through vjepa2_franka (robot:=franky_bridge), vjepa2_sim (robot:=franka_sim) or twists for Servo "
    "(command_interface:=servo_twist).",
    (
        Argument("params_file", config_path("plan.yaml"), "Parameter file of both nodes"),
        *PLANNING_ARGUMENTS,
        COMMAND_INTERFACE,
        Argument(
            "robot",
            "",
            "Node serving the robot interface (~/execute_action, ~/stop, ~/gripper/closure_cmd): franky_bridge "
            "(a real Franka through vjepa2_franka) or franka_sim (vjepa2_sim); '' = the parameter file's",
        ),
        namespace_argument("both nodes"),
    ),
)
def plan(args: dict[str, str]) -> list[NodeSpec]:
    return perception_and_planner(args, [args["params_file"]], robot_wiring(args["robot"]) if args["robot"] else {})


@graph(
    "sim",
    "The closed loop in simulation: the simulated Franka (camera + arm, blocking ~/execute_action; required), the "
    "V-JEPA 2 encoder node embedding its camera, and the CEM planner node commanding it (PlanToGoal action on "
    "/vjepa2_planner/plan_to_goal, behind its safety layer).",
    (
        Argument("params_file", config_path("sim.yaml"), "Parameter file of all three nodes"),
        *PLANNING_ARGUMENTS,
        COMMAND_INTERFACE,
        Argument(
            "camera",
            "stereo",
            "The simulator camera that feeds perception, one of the parameter file's cameras (sim.yaml: stereo, the "
            "tiled front_left | front_right view of the demo model), remapped to camera_topic",
        ),
        namespace_argument(),
    ),
)
def sim(args: dict[str, str]) -> list[NodeSpec]:
    params = [args["params_file"]]
    camera = args["camera"]
    robot = NodeSpec(
        "vjepa2_sim",
        "sim_node",
        names.SIM_NODE,
        args["namespace"],
        parameters=params,
        remappings=[
            (f"{camera}/image_raw", args["camera_topic"]),
            (f"{camera}/camera_info", camera_info_topic(args["camera_topic"])),
        ],
        required=True,
    )
    return [robot, *perception_and_planner(args, params, robot_wiring(names.SIM_NODE))]


@graph(
    "franky",
    "A real Franka through the franky bridge (vjepa2_franka franky_bridge: ~/execute_action, Servo-style twists, "
    "gripper, state at 200 Hz; required), the V-JEPA 2 encoder node embedding a camera topic from your camera "
    "driver, and the CEM planner node commanding the bridge (PlanToGoal action on /vjepa2_planner/plan_to_goal).",
    (
        Argument("params_file", config_path("franky.yaml"), "Parameter file of the three nodes"),
        Argument(
            "robot_ip",
            "",
            "Franka control (FCI) address, e.g. 172.16.0.2 (127.0.0.1: franky-sim); '' = the parameter file's",
        ),
        *PLANNING_ARGUMENTS,
        COMMAND_INTERFACE,
        namespace_argument(),
    ),
)
def franky(args: dict[str, str]) -> list[NodeSpec]:
    params: list[Any] = [args["params_file"]]
    bridge_inline = _given({"robot_ip": args["robot_ip"]})
    bridge = NodeSpec(
        "vjepa2_franka",
        "franky_bridge",
        names.FRANKY_NODE,
        args["namespace"],
        parameters=[*params, *([bridge_inline] if bridge_inline else [])],
        required=True,
    )
    return [bridge, *perception_and_planner(args, params, robot_wiring(names.FRANKY_NODE))]


@graph(
    "franka",
    "A real Franka FR3 through franka_ros2 and MoveIt Servo (the nodes of franka_fr3_moveit_config's "
    "moveit.launch.py without move_group and RViz: robot_state_publisher, ros2_control (required) with "
    "controller spawners for fr3_arm_controller and the state broadcasters, joint_state_publisher, franka_gripper), "
    "MoveIt Servo (servo_node, config/servo.yaml) with a one-shot service call that switches it to twist commands, "
    "the V-JEPA 2 encoder node embedding a camera topic from your camera driver, and the CEM planner node "
    "streaming twists to Servo (command_interface servo_twist).",
    (
        Argument("params_file", config_path("franka.yaml"), "Parameter file of the encoder and the planner"),
        Argument("robot_ip", "172.16.0.2", "Franka control (FCI) address"),
        Argument(
            "use_fake_hardware",
            "false",
            "franka_ros2 mock hardware (no robot; it publishes no current_pose, so the planner waits)",
            choices=("false", "true"),
        ),
        Argument("servo_params_file", config_path("servo.yaml"), "MoveIt Servo's parameter file"),
        *PLANNING_ARGUMENTS,
        namespace_argument(),
    ),
    needs="franka_ros2 (its jazzy branch, with franka_fr3_moveit_config) and MoveIt 2 (moveit_servo) for ROS 2 Jazzy",
)
def franka(args: dict[str, str]) -> list[NodeSpec]:
    ns, robot = args["namespace"], FRANKA_ROS2_ROBOT
    fake = args["use_fake_hardware"]
    description = XacroValue(
        PackageFile("franka_bringup", "urdf/franka_arm.urdf.xacro"),
        (
            ("hand", "true"),
            ("robot_type", robot),
            ("robot_ip", args["robot_ip"]),
            ("ee_id", "franka_hand"),
            ("use_fake_hardware", fake),
            ("fake_sensor_commands", "false"),
        ),
    )
    semantic = XacroValue(
        PackageFile("franka_description", f"robots/{robot}/{robot}.srdf.xacro"),
        (("hand", "true"), ("ee_id", "franka_hand")),
    )
    moveit_config = "franka_fr3_moveit_config"

    def spawner(controller: str) -> NodeSpec:
        return NodeSpec(
            "controller_manager",
            "spawner",
            f"spawner_{controller}",
            ns,
            arguments=[controller, "--controller-manager-timeout", "60", "--controller-manager", "controller_manager"],
        )

    gripper_params: list[Any] = [
        {"robot_ip": args["robot_ip"], "joint_names": [f"{robot}_finger_joint1", f"{robot}_finger_joint2"]},
        PackageFile("franka_gripper", "config/franka_gripper_node.yaml"),
    ]
    nodes = [
        NodeSpec(
            "robot_state_publisher",
            "robot_state_publisher",
            "robot_state_publisher",
            ns,
            parameters=[{"robot_description": description}],
        ),
        NodeSpec(
            "controller_manager",
            "ros2_control_node",
            "controller_manager",
            ns,
            parameters=[
                {"robot_description": description},
                PackageFile(moveit_config, f"config/{robot}_ros_controllers.yaml"),
            ],
            remappings=[("joint_states", "franka/joint_states")],
            required=True,
        ),
        spawner(f"{robot}_arm_controller"),
        spawner("joint_state_broadcaster"),
        *([] if fake == "true" else [spawner("franka_robot_state_broadcaster")]),
        NodeSpec(
            "joint_state_publisher",
            "joint_state_publisher",
            "joint_state_publisher",
            ns,
            parameters=[{"source_list": ["franka/joint_states", "franka_gripper/joint_states"], "rate": 30}],
        ),
        NodeSpec(
            "franka_gripper",
            "fake_gripper_state_publisher.py" if fake == "true" else "franka_gripper_node",
            "franka_gripper",
            ns,
            parameters=gripper_params,
        ),
        NodeSpec(
            "moveit_servo",
            "servo_node",
            SERVO_NODE,
            ns,
            parameters=[
                args["servo_params_file"],
                {
                    "robot_description": description,
                    "robot_description_semantic": semantic,
                    "robot_description_kinematics": YamlValue(PackageFile(moveit_config, "config/kinematics.yaml")),
                    "robot_description_planning": YamlValue(
                        PackageFile(moveit_config, f"config/{robot}_joint_limits.yaml")
                    ),
                },
            ],
        ),
        NodeSpec(
            "vjepa2",
            "call_service",
            "servo_twist_mode",
            ns,
            parameters=[
                {
                    "service": f"{SERVO_NODE}/switch_command_type",
                    "type": "moveit_msgs/srv/ServoCommandType",
                    "request": f"{{command_type: {SERVO_COMMAND_TYPE_TWIST}}}",
                    "timeout_s": 120.0,
                }
            ],
        ),
    ]
    return [*nodes, *perception_and_planner(args, [args["params_file"]], {"command_interface": "servo_twist"})]


@graph(
    "record",
    "Training data: the recorder (vjepa2_training vjepa2_recorder: camera, end-effector pose, gripper and command "
    "topics into a rosbag2; required) and, with robot:=sim, the simulated Franka whose camera it records (required). "
    "With robot:=none it records a robot whose drivers run elsewhere (the franky or franka graph).",
    (
        Argument("params_file", config_path("record.yaml"), "Parameter file of both nodes"),
        Argument(
            "output", "", "rosbag2 directory to create; '' = the parameter file's (recording_<UTC time> when empty)"
        ),
        Argument(
            "robot", "sim", "sim: start the simulated Franka; none: a robot already running", choices=("sim", "none")
        ),
        Argument("camera_topic", "camera/image_raw", "Camera topic to record (the recorder's image_topic)"),
        Argument("duration_s", "0.0", "Stop after this long [s] (0: until Ctrl-C)", float),
        namespace_argument("both nodes"),
    ),
)
def record(args: dict[str, str]) -> list[NodeSpec]:
    params: list[Any] = [args["params_file"]]
    nodes = []
    if args["robot"] == "sim":
        nodes.append(
            NodeSpec(
                "vjepa2_sim",
                "sim_node",
                names.SIM_NODE,
                args["namespace"],
                parameters=params,
                remappings=[("exterior/image_raw", args["camera_topic"])],
                required=True,
            )
        )
    recorder_inline = {
        "image_topic": args["camera_topic"],
        "max_duration_s": float(args["duration_s"]),
        **_given({"output": args["output"]}),
    }
    nodes.append(
        NodeSpec(
            "vjepa2_training",
            "vjepa2-record",
            names.RECORDER_NODE,
            args["namespace"],
            parameters=[*params, recorder_inline],
            required=True,
        )
    )
    return nodes


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
        namespace_argument("both nodes"),
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


def _flag(args: dict[str, str], name: str) -> bool:
    """A true/false launch argument (ValueError naming it otherwise)."""
    value = args[name].strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"launch argument {name}:={args[name]!r} must be true or false")
    return value == "true"


@graph(
    "replay",
    "A recorded bag played by the bag player (with /clock; the other nodes run on use_sim_time) into the V-JEPA 2 "
    "encoder node and the planner node in dry run: it plans on the replayed frames and poses and publishes what it "
    "would command on /vjepa2_planner/planned_action; no robot is commanded.",
    (
        Argument("bag", "", "rosbag2 directory to play (mcap or sqlite3, e.g. from vjepa2-record)"),
        Argument("params_file", config_path("replay.yaml"), "Parameter file for all nodes"),
        Argument("rate", "1.0", "Playback speed factor", float),
        Argument("start_offset_s", "0.0", "Start this far into the bag [s]", float),
        Argument("loop", "false", "Play the bag again and again (true/false)"),
        Argument("restamp", "false", "Shift header stamps and /clock to the current time (true/false)"),
        Argument("paused", "false", "Start paused; call /vjepa2_bag_player/resume to play (true/false)"),
    ),
)
def replay(args: dict[str, str]) -> list[NodeSpec]:
    params = [args["params_file"]]
    player = {
        "bag": args["bag"],
        "rate": float(args["rate"]),
        "start_offset_s": float(args["start_offset_s"]),
        "loop": _flag(args, "loop"),
        "restamp": _flag(args, "restamp"),
        "start_paused": _flag(args, "paused"),
    }
    return [
        # vjepa2_training: the bag's camera, pose and gripper topics (and /clock) as they were recorded
        NodeSpec("vjepa2_training", "bag_player", "vjepa2_bag_player", parameters=[*params, player], required=True),
        NodeSpec(
            "vjepa2_perception",
            "encoder_node",
            "vjepa2_encoder",
            parameters=params,
            remappings=[("image", "camera/image_raw"), ("image/compressed", "camera/image_raw/compressed")],
        ),
        # command_interface: dry_run in replay.yaml: plans go to ~/planned_action only
        NodeSpec("vjepa2_planner", "planner_node", "vjepa2_planner", parameters=params),
    ]


#: Every graph, by name: what ``vjepa2-launch`` and ``launch/*.launch.py`` start. One graph per line.
GRAPHS: dict[str, Graph] = {
    g.name: g
    for g in (
        camera_relay,
        perception,
        plan,
        sim,
        franky,
        franka,
        record,
        replay,
    )
}


def get_graph(name: str) -> Graph:
    """The graph ``name``; KeyError naming the available ones if there is none."""
    if name not in GRAPHS:
        raise KeyError(f"unknown graph '{name}'; available: {', '.join(sorted(GRAPHS))}")
    return GRAPHS[name]
