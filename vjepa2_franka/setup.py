from setuptools import find_packages, setup

package_name = "vjepa2_franka"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml", "README.md"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vjepa2 maintainers",
    maintainer_email="maintainers@vjepa2-ros.dev",
    description="A real Franka (through franky) behind the same ROS 2 interface as vjepa2_sim",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={"console_scripts": ["franky_bridge = vjepa2_franka.bridge_node:main"]},
)
