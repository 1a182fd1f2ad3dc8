from setuptools import find_packages, setup

PACKAGE = "vjepa2_planner"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml", "README.md"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vjepa2 maintainers",
    maintainer_email="maintainers@vjepa2-ros.dev",
    description="V-JEPA 2-AC + CEM receding-horizon planner and safety layer.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "planner_node = vjepa2_planner.planner_node:main",
            "vjepa2-goal = vjepa2_planner.goal_cli:main",
        ]
    },
)
