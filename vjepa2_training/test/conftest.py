"""Fixtures of the vjepa2_training tests: synthetic robot recordings with a known ground truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vjepa2_training.data.synthetic import RobotSample, write_robot_bag


def synthetic_sample(i: int, size: tuple[int, int] = (48, 64)) -> RobotSample:
    """Sample i of a smooth trajectory; the frame's mean brightness encodes i (for alignment checks)."""
    h, w = size
    rgb = np.full((h, w, 3), (3 * i) % 256, dtype=np.uint8)
    col = (2 * i) % (w - 8)
    rgb[h // 4 : h // 4 + 8, col : col + 8] = (255, 0, 0)
    position = np.array([0.45 + 0.1 * np.sin(0.05 * i), 0.1 * np.cos(0.05 * i), 0.3 + 0.001 * i])
    quat = Rotation.from_euler("xyz", [np.pi - 0.01 * i, 0.02 * np.sin(0.1 * i), 0.005 * i]).as_quat()
    return RobotSample(rgb, position, quat, float(np.clip(i / 40.0, 0.0, 1.0)))


@pytest.fixture
def sample_fn() -> Callable[[int], RobotSample]:
    """The ground-truth trajectory used by :func:`make_bag`."""
    return synthetic_sample


@pytest.fixture
def make_bag(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a synthetic robot bag: ``make_bag(name, n=60, period_s=1/15, storage='mcap')``."""

    def make(name: str, n: int = 60, period_s: float = 1 / 15, storage: str = "mcap") -> Path:
        return write_robot_bag(tmp_path / name, synthetic_sample, n, period_s=period_s, storage=storage)

    return make


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A converted dataset of two synthetic 64x64 episodes (~30 frames each at 4 fps)."""
    from vjepa2_training.data.bags_to_episodes import main as convert_main

    root = tmp_path_factory.mktemp("tiny_dataset")

    def sample(i: int) -> RobotSample:
        return synthetic_sample(i, size=(64, 64))

    for k in range(2):
        write_robot_bag(root / "bags" / f"ep{k}", sample, 120, period_s=1 / 15, start_ns=(1_800_000_000 + k) * 10**9)
    assert convert_main([str(root / "bags"), "-o", str(root / "episodes")]) == 0
    return root / "episodes"
