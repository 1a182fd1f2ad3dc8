"""ros2 launch vjepa2 record.launch.py [output:=...] -- the training-data recorder (+ the simulated Franka)."""

from vjepa2.launch_ros_adapter import launch_description


def generate_launch_description():
    return launch_description("record")
