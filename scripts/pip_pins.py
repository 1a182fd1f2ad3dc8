"""Print `name==version` for every distribution pip installed in this environment (what requirements.txt pins).

`pip freeze` also lists the egg-info metadata embedded in the ROS 2 wheels (rclpy, sensor_msgs, ...); those
are parts of ros-* wheels, not installable distributions, and are recognisable by having no RECORD file.
"""

from importlib import metadata

pins = set()
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name in ("pip",) or dist.read_text("RECORD") is None or dist.read_text("direct_url.json"):
        continue  # not pip-installed, or an editable/local checkout (vjepa2-core)
    version = dist.version.split("+cpu")[0]
    pins.add(f"{name}=={version}")
print("\n".join(sorted(pins, key=str.lower)))
