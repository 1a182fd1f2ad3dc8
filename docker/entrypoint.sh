#!/usr/bin/env bash
# The container's environment is the one `source env.sh` gives after `make setup`: the venv (PyPI ROS 2 wheels,
# torch), the built workspace, ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST. A range passed with
# `-e ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET` is kept (env.sh alone would reset it); ROS_DOMAIN_ID passes as is.
# /opt/ros is not sourced here: `ros2` (docker/ros2) sources it for itself, so that `make test`, `vjepa2-launch`
# and every node see only the workspace's ROS 2.
set -e
user_range=${ROS_AUTOMATIC_DISCOVERY_RANGE:-}
# shellcheck disable=SC1091
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../env.sh"
if [ -n "$user_range" ]; then export ROS_AUTOMATIC_DISCOVERY_RANGE=$user_range; fi
exec "$@"
