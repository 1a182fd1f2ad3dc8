"""Safe DDS defaults for every process of the suite."""

from __future__ import annotations

import os

DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"


def ensure_localhost_discovery(environ: dict[str, str] | None = None) -> str:
    """Default DDS discovery to this host unless the user chose a range explicitly.

    Fast DDS multicasts discovery out of every network interface by default. Our processes default to
    ``LOCALHOST``; a robot set-up that spans machines sets ``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET``
    (or ``SYSTEM_DEFAULT``) itself. Must run before ``rclpy.init``. Returns the range in force.
    """
    env = os.environ if environ is None else environ
    if not env.get(DISCOVERY_RANGE_VAR):
        env[DISCOVERY_RANGE_VAR] = "LOCALHOST"
    return env[DISCOVERY_RANGE_VAR]
