"""The real-robot graphs' parameter files agree with each other, read through the graph data the runner starts.

``franka`` cannot run here (no franka_ros2, no MoveIt), so its MoveIt Servo file (config/servo.yaml) is checked
against what runs with it: the planner's parameters in the same graph (topics, frame, rates, speed limits,
timeouts), the controllers the graph spawns and the one-shot call that switches Servo to twists.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from vjepa2.graph_spec import DeferredValue, NodeSpec, PackageFile, XacroValue, config_path
from vjepa2.graphs import FRANKA_ROS2_ROBOT, PLANNER_NODE, SERVO_COMMAND_TYPE_TWIST, SERVO_NODE, get_graph
from vjepa2.runner import main
from vjepa2_common import names
from vjepa2_common.lifecycle import LifecycleParams
from vjepa2_common.limits_params import LimitsParams
from vjepa2_common.params import parameter_file_values, schema_specs
from vjepa2_planner.params import PlannerParams

#: every parameter of moveit_servo's servo_node on MoveIt 2 for Jazzy (config/servo_parameters.yaml of the jazzy
#: branch, under the ``moveit_servo`` namespace). Servo ignores names it does not declare, so a typo would
#: silently leave a default in place.
SERVO_PARAMETERS = {
    "thread_priority",
    "publish_period",
    "max_expected_latency",
    "move_group_name",
    "active_subgroup",
    "pose_command_in_topic",
    "cartesian_command_in_topic",
    "joint_command_in_topic",
    "command_in_type",
    "scale.linear",
    "scale.rotational",
    "scale.joint",
    "incoming_command_timeout",
    "apply_twist_commands_about_ee_frame",
    "pose_tracking.linear_tolerance",
    "pose_tracking.angular_tolerance",
    "status_topic",
    "command_out_topic",
    "command_out_type",
    "publish_joint_positions",
    "publish_joint_velocities",
    "publish_joint_accelerations",
    "monitored_planning_scene_topic",
    "joint_topic",
    "check_octomap_collisions",
    "is_primary_planning_scene_monitor",
    "use_smoothing",
    "smoothing_filter_plugin_name",
    "check_collisions",
    "self_collision_proximity_threshold",
    "scene_collision_proximity_threshold",
    "collision_check_rate",
    "lower_singularity_threshold",
    "hard_stop_singularity_threshold",
    "leaving_singularity_threshold_multiplier",
    "singularity_step_scale",
    "halt_all_joints_in_joint_mode",
    "halt_all_joints_in_cartesian_mode",
    "joint_limit_margins",
    "override_velocity_scaling_factor",
}


def fq_namespace(spec: NodeSpec) -> str:
    return "/" + spec.namespace.strip("/") if spec.namespace.strip("/") else "/"


def resolve(name: str, spec: NodeSpec) -> str:
    """The fully qualified name ``name`` has in node ``spec`` (rcl's expansion, then the node's remappings)."""

    def expand(n: str) -> str:
        ns = fq_namespace(spec).rstrip("/")
        if n.startswith("/"):
            return n
        if n.startswith("~"):
            return f"{ns}/{spec.name}{n[1:]}"
        return f"{ns}/{n}"

    full = expand(name)
    for src, dst in spec.remappings:
        if expand(src) == full:
            return expand(dst)
    return full


def effective(spec: NodeSpec, *schemas: type) -> dict[str, Any]:
    """The parameters the node starts with: the schemas' defaults, then its parameter files and inline values in
    order (what rcl does with the ``--params-file`` arguments the runner passes)."""
    values = {s.name: s.default for schema in schemas for s in schema_specs(schema)}
    for params in spec.parameters:
        if isinstance(params, str):
            values.update(parameter_file_values(params, spec.name, fq_namespace(spec)))
        elif isinstance(params, dict):
            values.update({k: v for k, v in params.items() if not isinstance(v, DeferredValue)})
    return values


@pytest.mark.parametrize("namespace", ["", "robot1"])
def test_servo_yaml_agrees_with_the_planner_of_the_franka_graph(namespace: str) -> None:
    specs = {spec.name: spec for spec in get_graph("franka").nodes({"namespace": namespace})}
    servo_spec, planner_spec = specs[SERVO_NODE], specs[PLANNER_NODE]
    files = [p for p in servo_spec.parameters if isinstance(p, str)]
    assert files == [config_path("servo.yaml")]
    raw = parameter_file_values(files[0], SERVO_NODE, fq_namespace(servo_spec))
    assert raw and all(key.startswith("moveit_servo.") for key in raw), "Jazzy's Servo reads moveit_servo.*"
    servo = {key.removeprefix("moveit_servo."): value for key, value in raw.items()}
    assert set(servo) <= SERVO_PARAMETERS, f"not MoveIt Servo parameters: {sorted(set(servo) - SERVO_PARAMETERS)}"
    planner = effective(planner_spec, LifecycleParams, PlannerParams)

    # the command stream: twists in speed units on the topic Servo reads (pose targets likewise)
    assert planner["command_interface"] == "servo_twist"
    assert servo["command_in_type"] == "speed_units"
    twist_topic = resolve(planner["topics.twist"], planner_spec)
    assert twist_topic == resolve(servo["cartesian_command_in_topic"], servo_spec)
    assert twist_topic == f"{fq_namespace(servo_spec).rstrip('/')}{names.SERVO_TWIST_TOPIC}"
    assert resolve(planner["topics.pose_target"], planner_spec) == resolve(servo["pose_command_in_topic"], servo_spec)

    # the frame: Servo's planning frame is the base of its move group's chain (franka_description's SRDF: group
    # <robot>_arm, chain <robot>_link0 -> <robot>_link8), and franka_ros2's current_pose is in <robot>_link0
    description = next(v for v in specs["controller_manager"].parameters[0].values() if isinstance(v, XacroValue))
    robot = dict(description.mappings)["robot_type"]
    assert robot == FRANKA_ROS2_ROBOT
    assert servo["move_group_name"] == f"{robot}_arm"
    assert planner["base_frame"] == f"{robot}_link0"

    # rates and timeouts: Servo runs at least as fast as the planner streams; a twist stays fresh for several
    # planner periods, and Servo halts on a silent planner no later than the planner's own watchdog would
    planner_period = 1.0 / planner["servo.rate_hz"]
    assert 1.0 / servo["publish_period"] >= planner["servo.rate_hz"]
    assert 3 * planner_period <= servo["incoming_command_timeout"] <= planner["stale_after_s"]

    # speeds: Servo's clamp is a second bound, never above the safety layer's
    assert 0 < servo["scale.linear"] <= planner["limits.max_linear_speed"]
    assert 0 < servo["scale.rotational"] <= planner["limits.max_angular_speed"]

    # Servo's output goes to a controller the graph spawns; its joint states come from the graph's publisher
    controller = servo["command_out_topic"].split("/")[0]
    spawned = {spec.arguments[0] for spec in specs.values() if spec.executable == "spawner"}
    assert controller in spawned and servo["command_out_type"] == "trajectory_msgs/JointTrajectory"
    assert resolve(servo["joint_topic"], servo_spec) == resolve("joint_states", specs["joint_state_publisher"])
    assert "franka_robot_state_broadcaster" in spawned  # the planner's topics.state
    assert planner["topics.state"] == "franka_robot_state_broadcaster/current_pose"

    # Servo starts in joint-jog mode: the graph switches it to twists once
    switch = effective(specs["servo_twist_mode"])
    assert resolve(switch["service"], specs["servo_twist_mode"]) == resolve("~/switch_command_type", servo_spec)
    assert switch["type"] == "moveit_msgs/srv/ServoCommandType"
    assert yaml.safe_load(switch["request"]) == {"command_type": SERVO_COMMAND_TYPE_TWIST}

    # nothing in franka_ros2 takes the planner's gripper closure or its stop call
    assert planner["topics.gripper_command"] == "" and planner["services.stop"] == ""
    assert planner["cem.plan_gripper"] is False


def test_franka_graph_data_is_complete_but_the_runner_refuses_it_here(capsys: pytest.CaptureFixture[str]) -> None:
    """The graph names its packages' files (resolved at start); without franka_ros2 the runner says so once."""
    specs = get_graph("franka").nodes()
    needed = {p for spec in specs for p in spec.packages()}
    assert {"franka_bringup", "franka_description", "franka_fr3_moveit_config", "moveit_servo", "xacro"} <= needed
    files = [p for spec in specs for p in spec.parameters if isinstance(p, PackageFile)]
    assert PackageFile("franka_fr3_moveit_config", "config/fr3_ros_controllers.yaml") in files
    assert main(["franka"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "graph 'franka' cannot start here" in err[0] and "moveit_servo" in err[0], err


def test_franky_bridge_and_planner_share_one_workspace() -> None:
    """Both clip every command to the same box and speeds (franky.yaml sets them twice: one per node)."""
    specs = {spec.name: spec for spec in get_graph("franky").nodes()}
    bridge = effective(specs[names.FRANKY_NODE])
    planner = effective(specs[PLANNER_NODE], PlannerParams)
    for spec in schema_specs(LimitsParams, "limits."):
        assert bridge[spec.name] == planner[spec.name], spec.name
    assert planner["base_frame"] == f"{bridge['arm_id']}_link0"
    assert planner["services.execute_action"] == f"{names.FRANKY_NODE}/execute_action"
