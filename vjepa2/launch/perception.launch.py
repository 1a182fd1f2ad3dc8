"""ros2 launch vjepa2 perception.launch.py [checkpoint:=...] -- camera + V-JEPA 2 encoder (vjepa2.graphs)."""

from vjepa2.launch_ros_adapter import launch_description


def generate_launch_description():
    return launch_description("perception")
