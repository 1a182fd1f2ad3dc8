import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "vjepa2"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        # the embedded demo model (encoder + AC predictor, MODEL_CARD.md): package://vjepa2/models/demo/...
        # (existing files only: a removed file stays behind as a dangling link in colcon's symlinked build tree)
        (f"share/{PACKAGE}/models/demo", sorted(p for p in glob("models/demo/*") if os.path.isfile(p))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vjepa2 maintainers",
    maintainer_email="maintainers@vjepa2-ros.dev",
    description="Bringup of the vjepa2 suite: graphs, launch files, parameters and the vjepa2-launch runner.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "vjepa2-launch = vjepa2.runner:main",
            "call_service = vjepa2.call_service:main",
        ]
    },
)
