"""The state/action convention: numpy and torch twins agree, apply_action inverts states_to_actions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vjepa2_core import conventions as cv


def random_states(rng: np.random.Generator, n: int) -> np.ndarray:
    pos = rng.uniform(-0.5, 0.5, (n, 3))
    quat = Rotation.random(n, random_state=int(rng.integers(1 << 31))).as_quat()
    return cv.make_states(pos, quat, rng.uniform(0, 1, n))


def random_actions(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.concatenate(
        [rng.uniform(-0.1, 0.1, (n, 3)), rng.uniform(-0.6, 0.6, (n, 3)), rng.uniform(-1, 1, (n, 1))], 1
    )


def same_rotation(euler_a: np.ndarray, euler_b: np.ndarray, atol: float) -> None:
    ra, rb = Rotation.from_euler("xyz", euler_a).as_matrix(), Rotation.from_euler("xyz", euler_b).as_matrix()
    np.testing.assert_allclose(ra, rb, atol=atol)


def test_importing_conventions_and_limits_does_not_import_torch() -> None:
    code = "import vjepa2_core, vjepa2_core.conventions, vjepa2_core.limits, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_top_level_names_still_import() -> None:
    from vjepa2_core import ACFrameTransform, FrameEncoder, layer_norm_tokens, load_encoder

    assert callable(load_encoder) and callable(layer_norm_tokens) and FrameEncoder and ACFrameTransform
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = __import__("vjepa2_core").nope


def test_apply_action_inverts_states_to_actions() -> None:
    states = random_states(np.random.default_rng(0), 50)
    actions = cv.states_to_actions(states)
    rebuilt = cv.apply_action(states[:-1], actions)  # batched
    np.testing.assert_allclose(rebuilt[:, :3], states[1:, :3], atol=1e-12)
    np.testing.assert_allclose(rebuilt[:, 6], states[1:, 6], atol=1e-12)
    same_rotation(rebuilt[:, 3:6], states[1:, 3:6], 1e-9)
    single = cv.apply_action(states[3], actions[3])
    np.testing.assert_allclose(single, rebuilt[3], atol=1e-12)


def test_rotation_delta_is_left_multiplied() -> None:
    state = cv.state_from_pose([0.4, 0.0, 0.3], Rotation.from_euler("xyz", [0.2, 0.1, -0.3]).as_quat(), 0.5)
    action = np.array([0, 0, 0, 0.0, 0.0, 0.5, 0.0])
    new = cv.apply_action(state, action)
    expected = Rotation.from_euler("xyz", [0, 0, 0.5]) * Rotation.from_euler("xyz", state[3:6])
    same_rotation(new[3:6], expected.as_euler("xyz"), 1e-12)


def test_gripper_is_clipped_to_closure_range() -> None:
    state = cv.state_from_pose(np.zeros(3), [0, 0, 0, 1], 0.8)
    assert cv.apply_action(state, [0, 0, 0, 0, 0, 0, 0.9])[6] == 1.0
    assert cv.apply_action(state, [0, 0, 0, 0, 0, 0, -2.0])[6] == 0.0
    batch = torch.from_numpy(np.stack([state, state]))
    deltas = torch.tensor([[0.0] * 6 + [0.9], [0.0] * 6 + [-2.0]], dtype=torch.float64)
    out = cv.apply_action_torch(batch, deltas)
    assert out[:, 6].tolist() == [1.0, 0.0]


def test_state_from_pose_matches_make_states() -> None:
    quat = Rotation.from_euler("xyz", [0.1, -0.2, 0.3]).as_quat()
    state = cv.state_from_pose([1.0, 2.0, 3.0], quat, 1.0)
    assert state.shape == (cv.STATE_DIM,) and len(cv.STATE_LAYOUT) == cv.STATE_DIM
    np.testing.assert_allclose(state, [1, 2, 3, 0.1, -0.2, 0.3, 1.0], atol=1e-12)


@pytest.mark.parametrize("near_gimbal_lock", [False, True])
def test_numpy_and_torch_agree(near_gimbal_lock: bool) -> None:
    rng = np.random.default_rng(1)
    states = random_states(rng, 64)
    if near_gimbal_lock:
        states[:, 4] = (np.pi / 2 - 10.0 ** rng.uniform(-7, -3, 64)) * rng.choice([-1.0, 1.0], 64)
    actions = random_actions(rng, 64)
    np_next = cv.apply_action(states, actions)
    t_next = cv.apply_action_torch(torch.from_numpy(states), torch.from_numpy(actions)).numpy()
    np.testing.assert_allclose(t_next[:, [0, 1, 2, 6]], np_next[:, [0, 1, 2, 6]], atol=1e-12)
    same_rotation(t_next[:, 3:6], np_next[:, 3:6], 1e-9)
    seq = states.reshape(8, 8, 7)  # batches of trajectories
    t_actions = cv.states_to_actions_torch(torch.from_numpy(seq)).numpy()
    for b in range(8):
        np_actions = cv.states_to_actions(seq[b])
        np.testing.assert_allclose(t_actions[b][:, [0, 1, 2, 6]], np_actions[:, [0, 1, 2, 6]], atol=1e-12)
        same_rotation(t_actions[b][:, 3:6], np_actions[:, 3:6], 1e-7)
    matrices = cv.euler_to_matrix_torch(torch.from_numpy(states[:, 3:6])).numpy()
    np.testing.assert_allclose(matrices, Rotation.from_euler("xyz", states[:, 3:6]).as_matrix(), atol=1e-12)


def test_torch_twins_work_in_float32_batches() -> None:
    rng = np.random.default_rng(2)
    states = torch.from_numpy(random_states(rng, 12)).float().reshape(3, 4, 7)
    actions = torch.from_numpy(random_actions(rng, 12)).float().reshape(3, 4, 7)
    out = cv.apply_action_torch(states, actions)
    assert out.shape == (3, 4, 7) and out.dtype == torch.float32
    ref = cv.apply_action(states.double().numpy().reshape(-1, 7), actions.double().numpy().reshape(-1, 7))
    same_rotation(out.reshape(-1, 7)[:, 3:6].double().numpy(), ref[:, 3:6], 1e-5)
