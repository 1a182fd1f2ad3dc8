"""ros2 launch vjepa2 camera_relay.launch.py -- the smallest graph of vjepa2.graphs (set-up check)."""

from vjepa2.launch_ros_adapter import launch_description


def generate_launch_description():
    return launch_description("camera_relay")
