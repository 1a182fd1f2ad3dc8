from glob import glob

from setuptools import find_packages, setup

PACKAGE = "vjepa2_perception"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml", "README.md"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vjepa2 maintainers",
    maintainer_email="maintainers@vjepa2-ros.dev",
    description="V-JEPA 2 encoder on camera topics: a lifecycle node publishing embeddings and probe classes.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "encoder_node = vjepa2_perception.encoder_node:main",
        ],
    },
)
