"""ros2 launch vjepa2 plan.launch.py [name:=value ...] -- perception + planner against a running robot."""

from vjepa2.launch_ros_adapter import launch_description


def generate_launch_description():
    return launch_description("plan")
