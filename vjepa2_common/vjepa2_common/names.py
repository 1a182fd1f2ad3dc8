"""Default ROS names of the suite, in one place: topics, services and frames with the default node names.

Absolute names as a client in the root namespace sees them (nodes themselves create relative or ``~/``
names, so remapping and namespaces keep working). Plain strings: importable without rclpy.
"""

from __future__ import annotations


def relative(name: str) -> str:
    """``name`` without its leading slash: what a node creates, so that its namespace and remapping apply."""
    return name.lstrip("/")


# ---------------------------------------------------------------------------------- robot (franka_ros2)
#: the robot base frame (``<arm_id>_link0``; the simulator's world frame)
BASE_FRAME = "panda_link0"
#: the tool centre point frame
TCP_FRAME = "panda_hand_tcp"
#: sensor_msgs/JointState of the arm (and fingers) at the state rate
JOINT_STATES_TOPIC = "/joint_states"
#: geometry_msgs/PoseStamped of the TCP in BASE_FRAME; best effort, depth 1 (as franka_ros2 publishes it)
CURRENT_POSE_TOPIC = "/franka_robot_state_broadcaster/current_pose"
#: sensor_msgs/JointState of the two finger joints (as franka_gripper)
GRIPPER_JOINT_STATES_TOPIC = "/franka_gripper/joint_states"

# ---------------------------------------------------------------------------------- MoveIt Servo
#: geometry_msgs/TwistStamped TCP velocity command [m/s, rad/s]
SERVO_TWIST_TOPIC = "/servo_node/delta_twist_cmds"
#: geometry_msgs/PoseStamped TCP pose target
SERVO_POSE_TOPIC = "/servo_node/pose_target_cmds"

# ---------------------------------------------------------------------------------- cameras
#: sensor_msgs/Image of the default camera (a real camera driver, image_publisher)
CAMERA_IMAGE_TOPIC = "/camera/image_raw"

# ---------------------------------------------------------------------------------- vjepa2_sim
SIM_NODE = "franka_sim"
SIM_EXECUTE_ACTION_SERVICE = f"/{SIM_NODE}/execute_action"
SIM_RENDER_GOAL_SERVICE = f"/{SIM_NODE}/render_goal"
SIM_PLACE_OBJECT_SERVICE = f"/{SIM_NODE}/place_object"
SIM_RESET_SERVICE = f"/{SIM_NODE}/reset"
SIM_STOP_SERVICE = f"/{SIM_NODE}/stop"
SIM_MOTION_STATUS_TOPIC = f"/{SIM_NODE}/motion_status"
SIM_DELTA_CMD_TOPIC = f"/{SIM_NODE}/delta_cmd"
#: sensor_msgs/Image of the simulator's exterior camera (the sim names its cameras' topics ``<camera>/image_raw``)
SIM_EXTERIOR_IMAGE_TOPIC = "/exterior/image_raw"

# ---------------------------------------------------------------------------------- vjepa2_franka (franky)
FRANKY_NODE = "franky_bridge"
FRANKY_EXECUTE_ACTION_SERVICE = f"/{FRANKY_NODE}/execute_action"
FRANKY_STOP_SERVICE = f"/{FRANKY_NODE}/stop"
FRANKY_RECOVER_SERVICE = f"/{FRANKY_NODE}/recover"

# ---------------------------------------------------------------------------------- vjepa2_perception
ENCODER_NODE = "vjepa2_encoder"
#: vjepa2_msgs/Embedding of every encoded frame or clip (the encoder's relative ``embedding``)
EMBEDDING_TOPIC = "/embedding"
ENCODE_IMAGE_SERVICE = f"/{ENCODER_NODE}/encode_image"

# ---------------------------------------------------------------------------------- vjepa2_planner
PLANNER_NODE = "vjepa2_planner"
#: vjepa2_msgs/action/PlanToGoal
PLANNER_PLAN_ACTION = f"/{PLANNER_NODE}/plan_to_goal"
PLANNER_SET_GOAL_SERVICE = f"/{PLANNER_NODE}/set_goal"
PLANNER_RESET_ESTOP_SERVICE = f"/{PLANNER_NODE}/reset_estop"

# ---------------------------------------------------------------------------------- safety
#: std_msgs/Bool, latched: true stops every motion command until false is published again
ESTOP_TOPIC = "/vjepa2/estop"
#: diagnostic_msgs/DiagnosticArray of every node
DIAGNOSTICS_TOPIC = "/diagnostics"
#: rosgraph_msgs/Clock: the time of nodes running with use_sim_time (the bag player, vjepa2_sim with publish_clock)
CLOCK_TOPIC = "/clock"

# ---------------------------------------------------------------------------------- vjepa2_training
RECORDER_NODE = "vjepa2_recorder"
BAG_PLAYER_NODE = "vjepa2_bag_player"
