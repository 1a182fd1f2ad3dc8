#!/usr/bin/env bash
# Nodes run in the workspace's venv (PyPI ROS 2 wheels, torch); `ros2 launch` itself comes from the image.
# The nodes' PYTHONPATH is recorded before /opt/ros is sourced, and vjepa2's launch adapter gives it to them.
set -e
source /vjepa2/env.sh
export VJEPA2_NODE_PYTHONPATH=$PYTHONPATH
source /opt/ros/${ROS_DISTRO}/setup.bash
source /vjepa2/env.sh
exec "$@"
