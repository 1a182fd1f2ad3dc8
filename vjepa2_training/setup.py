"""ament_python setup for vjepa2_training."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "vjepa2_training"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml", "README.md"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/scripts", [*glob("scripts/*.sbatch"), *glob("scripts/*.py")]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vjepa2_ros maintainers",
    maintainer_email="maintainers@vjepa2-ros.invalid",
    description="Offline V-JEPA 2 / V-JEPA 2-AC training from rosbags and DROID episodes.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "vjepa2-record = vjepa2_training.data.recorder_node:main",
            "vjepa2-play = vjepa2_training.data.bag_player:main",
            "bag_player = vjepa2_training.data.bag_player:main",
            "vjepa2-convert-bags = vjepa2_training.data.bags_to_episodes:main",
            "vjepa2-import-droid = vjepa2_training.data.droid:main",
            "vjepa2-collect-sim = vjepa2_training.data.sim_collect:main",
            "vjepa2-pretrain = vjepa2_training.train.pretrain:main",
            "vjepa2-train-ac = vjepa2_training.train.train_ac:main",
            "vjepa2-train-probe = vjepa2_training.train.probe:main",
            "vjepa2-energy-landscape = vjepa2_training.eval.energy_landscape:main",
            "vjepa2-plot-losses = vjepa2_training.eval.plot_losses:main",
        ],
    },
)
