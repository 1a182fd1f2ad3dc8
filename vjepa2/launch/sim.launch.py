"""ros2 launch vjepa2 sim.launch.py [name:=value ...] -- the closed loop: vjepa2_sim + perception + planner."""

from vjepa2.launch_ros_adapter import launch_description


def generate_launch_description():
    return launch_description("sim")
