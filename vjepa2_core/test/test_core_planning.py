"""CEM planning, energy and pose integration, on a world model whose optimum is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vjepa2_core.models import ACPredictor, ACPredictorConfig
from vjepa2_core.planning import (
    CEMConfig,
    cem_plan,
    energy,
    euler_xyz_to_matrix,
    integrate_state,
    matrix_to_euler_xyz,
    predictor_step,
    rollout_energy,
)

N_TOKENS, DIM = 4, 16
_W = torch.randn(3, N_TOKENS * DIM, generator=torch.Generator().manual_seed(0))


def features(state: torch.Tensor) -> torch.Tensor:
    """Frame tokens of a scene that depends on the end-effector position only: [..., 7] -> [..., N, D]."""
    return torch.tanh(10 * state[..., :3] @ _W).reshape(*state.shape[:-1], N_TOKENS, DIM)


def toy_world_model(frames: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """Exact dynamics: the next frame shows the last state moved by the last action."""
    assert frames.shape[1] == states.shape[1] * N_TOKENS and actions.shape[1] == states.shape[1]
    return features(integrate_state(states[:, -1], actions[:, -1]))


def test_euler_conversions_match_scipy() -> None:
    angles = torch.tensor([[0.3, -0.7, 2.5], [-3.0, 0.1, -1.2]], dtype=torch.float64)
    expected = Rotation.from_euler("xyz", angles.numpy()).as_matrix()
    assert np.allclose(euler_xyz_to_matrix(angles).numpy(), expected, atol=1e-12)
    assert np.allclose(matrix_to_euler_xyz(torch.from_numpy(expected)).numpy(), angles.numpy(), atol=1e-9)


def test_integrate_state_left_multiplies_the_rotation_delta() -> None:
    state = torch.tensor([0.5, 0.0, 0.3, 3.0, 0.1, -1.9, 0.9], dtype=torch.float64)
    action = torch.tensor([0.01, -0.02, 0.03, 0.05, -0.1, 0.2, 0.4], dtype=torch.float64)
    new = integrate_state(state, action)
    expected_rot = Rotation.from_euler("xyz", action[3:6].numpy()) * Rotation.from_euler("xyz", state[3:6].numpy())
    assert torch.allclose(new[:3], state[:3] + action[:3])
    assert np.allclose(Rotation.from_euler("xyz", new[3:6].numpy()).as_matrix(), expected_rot.as_matrix(), atol=1e-9)
    assert new[6] == 1.0  # gripper clipped to [0, 1]


def test_energy_is_zero_at_the_goal_and_scale_free() -> None:
    goal = torch.randn(N_TOKENS, DIM)
    assert energy(goal.unsqueeze(0), goal).item() == pytest.approx(0.0, abs=1e-6)
    assert energy((3 * goal + 1).unsqueeze(0), goal).item() == pytest.approx(0.0, abs=1e-5)  # layer-normed
    assert energy(torch.randn(5, N_TOKENS, DIM), goal).shape == (5,)


@pytest.mark.parametrize("horizon", [1, 2])
def test_cem_finds_the_delta_to_the_goal(horizon: int) -> None:
    state = torch.tensor([0.5, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
    goal_state = state + torch.tensor([0.04, -0.03, 0.02, 0, 0, 0, 0])
    config = CEMConfig(
        horizon=horizon, samples=200, iterations=8, plan_gripper=False, momentum_std=0.0, momentum_mean=0.0
    )
    progress: list[float] = []
    result = cem_plan(
        toy_world_model,
        features(state),
        state,
        features(goal_state),
        config,
        generator=torch.Generator().manual_seed(1),
        on_iteration=lambda i, e, a: progress.append(e),
    )
    assert result.actions.shape == (horizon, 7) and (result.actions[:, 3:6] == 0).all()
    reached = state[:3] + result.actions[:, :3].sum(dim=0)
    assert torch.allclose(reached, goal_state[:3], atol=0.006), reached
    assert progress == result.energy_per_iteration and progress[-1] < progress[0]
    assert (
        result.energy
        < rollout_energy(
            toy_world_model, features(state), state, features(goal_state), torch.zeros(1, horizon, 7)
        ).item()
    )


def test_actions_stay_in_the_box_and_small_gripper_moves_round_to_zero() -> None:
    state = torch.zeros(7)
    far_goal = features(torch.tensor([1.0, 1.0, 1.0, 0, 0, 0, 0]))
    config = CEMConfig(samples=64, iterations=3, top_k=8, max_translation=0.05, chunk_size=16)
    result = cem_plan(
        toy_world_model, features(state), state, far_goal, config, generator=torch.Generator().manual_seed(0)
    )
    assert result.actions[:, :3].abs().max() <= 0.05 + 1e-6
    assert result.actions[0, 6] == 0 or result.actions[0, 6].abs() >= 0.25


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"top_k \(20\) cannot exceed samples \(10\).*momentum_std must be in"):
        CEMConfig(samples=10, top_k=20, momentum_std=1.5).validate()


def test_cem_runs_on_a_real_ac_predictor() -> None:
    """Shapes and contract with the actual V-JEPA 2-AC predictor (tiny, random): finite plan and energies."""
    torch.manual_seed(0)
    cfg = ACPredictorConfig(enc_embed_dim=24, embed_dim=32, depth=1, num_heads=2, grid_h=2, grid_w=2)
    step = predictor_step(ACPredictor(cfg).eval(), tokens_per_frame=4)
    context, goal = torch.randn(4, 24), torch.randn(4, 24)
    result = cem_plan(
        step,
        context,
        torch.zeros(7),
        goal,
        CEMConfig(horizon=2, samples=16, top_k=4, iterations=2),
        generator=torch.Generator().manual_seed(0),
    )
    assert result.actions.shape == (2, 7) and np.isfinite(result.energy) and len(result.energy_per_iteration) == 2
