"""ros2 launch vjepa2 replay.launch.py bag:=/path/to/bag [name:=value ...] -- the replay graph of vjepa2.graphs."""

from vjepa2.launch_ros_adapter import launch_description


def generate_launch_description():
    return launch_description("replay")
