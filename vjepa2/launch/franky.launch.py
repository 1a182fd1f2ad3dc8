"""ros2 launch vjepa2 franky.launch.py robot_ip:=... -- the franky bridge + perception + planner."""

from vjepa2.launch_ros_adapter import launch_description


def generate_launch_description():
    return launch_description("franky")
