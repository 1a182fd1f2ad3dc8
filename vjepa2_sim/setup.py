from glob import glob

from setuptools import find_packages, setup

package_name = "vjepa2_sim"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml", "README.md"]),
        (f"share/{package_name}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vjepa2 maintainers",
    maintainer_email="maintainers@vjepa2-ros.dev",
    description="Simulated Franka Panda in MuJoCo that speaks the real robot's ROS 2 topics",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "sim_node = vjepa2_sim.sim_node:main",
            "vjepa2-sim-assets = vjepa2_sim.assets:main",
            "vjepa2-sim-snapshot = vjepa2_sim.snapshot:main",
            "vjepa2-sim-bench = vjepa2_sim.bench:main",
        ],
    },
)
