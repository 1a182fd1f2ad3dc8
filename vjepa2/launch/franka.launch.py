"""ros2 launch vjepa2 franka.launch.py robot_ip:=... -- franka_ros2 + MoveIt Servo + perception + planner."""

from vjepa2.launch_ros_adapter import launch_description


def generate_launch_description():
    return launch_description("franka")
