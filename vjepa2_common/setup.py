from setuptools import find_packages, setup

PACKAGE = "vjepa2_common"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vjepa2 maintainers",
    maintainer_email="maintainers@vjepa2-ros.dev",
    description="Shared ROS 2 plumbing of the vjepa2 suite.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "image_publisher = vjepa2_common.tools.image_publisher:main",
            "relay = vjepa2_common.tools.relay:main",
            "vjepa2-lifecycle = vjepa2_common.lifecycle_client:main",
        ],
    },
)
