"""CEM planning, energy and pose integration, on world models whose optimum is known; cached vs naive rollouts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vjepa2_core.cem import cem_optimize, coloured_noise, project_l1_ball
from vjepa2_core.models import ACPredictor, ACPredictorConfig
from vjepa2_core.planning import (
    CEMConfig,
    PlanResult,
    cem_plan,
    energy,
    euler_xyz_to_matrix,
    integrate_state,
    matrix_to_euler_xyz,
    predictor_step,
    rollout_energy,
)
from vjepa2_core.world_model import ACWorldModel

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
        on_iteration=lambda i, e, mean_action, elites: progress.append(e),
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


# ----------------------------------------------------------------------------- bounds, rotation, gripper

_W_POSE = torch.randn(7, N_TOKENS * DIM, generator=torch.Generator().manual_seed(2))


def pose_features(state: torch.Tensor) -> torch.Tensor:
    """Frame tokens of a scene that shows the whole pose (xyz, orientation, gripper): [..., 7] -> [..., N, D]."""
    scaled = state * torch.tensor([10.0, 10, 10, 10, 10, 10, 3])
    return torch.tanh(scaled @ _W_POSE).reshape(*state.shape[:-1], N_TOKENS, DIM)


def pose_world_model(frames: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    return pose_features(integrate_state(states[:, -1], actions[:, -1]))


def _plan_to(delta: list[float], config: CEMConfig, seed: int = 1):
    state = torch.tensor([0.5, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
    goal = integrate_state(state, torch.tensor(delta))
    result = cem_plan(
        pose_world_model,
        pose_features(state),
        state,
        pose_features(goal),
        config,
        generator=torch.Generator().manual_seed(seed),
    )
    return result


@pytest.mark.parametrize("bound", ["box", "l1"])
def test_cem_reaches_a_goal_inside_either_bound(bound: str) -> None:
    result = _plan_to(
        [0.03, -0.02, 0.015, 0, 0, 0, 0],
        CEMConfig(samples=200, iterations=8, plan_gripper=False, bound=bound, momentum_std=0.0, momentum_mean=0.0),
    )
    assert torch.allclose(result.actions[0, :3], torch.tensor([0.03, -0.02, 0.015]), atol=0.006), result.actions


def test_l1_ball_bound_versus_box_on_a_far_goal() -> None:
    """Towards (1, 1, 1) m the box plan goes to its corner; the L1 plan stays on the ball of radius 0.075."""
    far = [1.0, 1.0, 1.0, 0, 0, 0, 0]
    settings = dict(samples=100, iterations=5, plan_gripper=False)
    box = _plan_to(far, CEMConfig(bound="box", **settings))
    ball = _plan_to(far, CEMConfig(bound="l1", **settings))
    assert box.actions[0, :3].abs().max() <= 0.075 + 1e-6 and box.actions[0, :3].abs().sum() > 0.15
    assert ball.actions[0, :3].abs().sum() <= 0.075 + 1e-6
    assert ball.elite_first_actions[:, :3].abs().sum(dim=-1).max() <= 0.075 + 1e-6
    assert ball.actions[0, :3].abs().sum() > 0.07  # pushes against the ball towards the far goal


def test_project_l1_ball_is_the_nearest_point_of_the_ball() -> None:
    assert torch.allclose(project_l1_ball(torch.tensor([0.1, -0.05, 0.0]), 0.075), torch.tensor([0.0625, -0.0125, 0]))
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 0.1
    projected = project_l1_ball(x, 0.075)
    assert (projected.abs().sum(-1) <= 0.075 + 1e-6).all()
    inside = x.abs().sum(-1) <= 0.075
    assert torch.equal(projected[inside], x[inside])
    others = project_l1_ball(torch.randn(2000, 3, generator=torch.Generator().manual_seed(1)), 0.075)
    nearest_sampled = torch.cdist(x, others).min(dim=1).values
    assert ((x - projected).norm(dim=-1) <= nearest_sampled + 1e-7).all()


def test_rotation_is_fixed_by_default_and_planned_within_its_bound_when_enabled() -> None:
    delta = [0.02, 0.0, -0.01, 0.0, 0.0, 0.05, 0]
    settings = dict(samples=300, iterations=10, plan_gripper=False, momentum_std=0.0, momentum_mean=0.0)
    fixed = _plan_to(delta, CEMConfig(**settings))
    assert (fixed.actions[:, 3:6] == 0).all() and (fixed.elite_first_actions[:, 3:6] == 0).all()
    planned = _plan_to(delta, CEMConfig(plan_rotation=True, **settings))
    assert torch.allclose(planned.actions[0, :6], torch.tensor(delta[:6]), atol=0.012), planned.actions
    assert planned.energy < fixed.energy
    clipped = _plan_to([0, 0, 0, 0, 0, 0.4, 0], CEMConfig(plan_rotation=True, max_rotation=0.1, **settings))
    assert clipped.actions[0, 5] == pytest.approx(0.1, abs=0.01) and clipped.actions[:, 3:6].abs().max() <= 0.1 + 1e-6


def test_gripper_planning_rounding_and_close_gripper() -> None:
    settings = dict(samples=200, iterations=8, momentum_std=0.0, momentum_mean=0.0)
    opening = _plan_to([0, 0, 0, 0, 0, 0, 0.6], CEMConfig(**settings), seed=3)
    assert opening.actions[0, 6] == pytest.approx(0.6, abs=0.1)
    off = _plan_to([0, 0, 0, 0, 0, 0, 0.6], CEMConfig(plan_gripper=False, **settings), seed=3)
    assert (off.actions[:, 6] == 0).all() and (off.elite_first_actions[:, 6] == 0).all()
    small = [0, 0, 0, 0, 0, 0, 0.15]
    assert _plan_to(small, CEMConfig(**settings), seed=3).actions[0, 6] == 0  # |0.15| < deadband 0.25
    assert _plan_to(small, CEMConfig(gripper_deadband=0.0, **settings), seed=3).actions[0, 6] > 0.05
    seen: list[torch.Tensor] = []

    def evaluate(actions: torch.Tensor) -> torch.Tensor:
        seen.append(actions.clone())
        return (actions[..., :3] - 0.01).abs().sum(dim=(-2, -1))

    result = cem_optimize(evaluate, CEMConfig(horizon=3, samples=32, top_k=4, iterations=2, close_gripper=1))
    assert all((batch[:, 1:, 6] == 1).all() for batch in seen[:-1])  # seen[-1]: the plan and no motion
    assert (result.actions[1:, 6] == 1).all()
    assert not (seen[0][:, 0, 6] == 1).all()  # step 0's gripper is still planned


def test_elite_spread_is_the_unbiased_std_by_default() -> None:
    """One iteration with std momentum 0: the new std is exactly the elites' std, unbiased as torch.std."""

    def evaluate(actions: torch.Tensor) -> torch.Tensor:
        return (actions[..., :3] - 0.02).abs().sum(dim=(-2, -1))

    for unbiased in (True, False):
        cfg = CEMConfig(samples=64, top_k=8, iterations=1, momentum_std=0.0, std_unbiased=unbiased)
        result = cem_optimize(evaluate, cfg, torch.Generator().manual_seed(0))
        expected = result.elite_first_actions[:, :3].std(dim=0, unbiased=unbiased)
        assert torch.allclose(result.std[0, :3], expected), unbiased
    assert CEMConfig().std_unbiased


# ----------------------------------------------------------------------------- cached vs naive rollouts


def _tiny_world_model(use_extrinsics: bool = False) -> ACWorldModel:
    torch.manual_seed(0)
    cfg = ACPredictorConfig(
        enc_embed_dim=24, embed_dim=32, depth=2, num_heads=2, grid_h=2, grid_w=2, use_extrinsics=use_extrinsics
    )
    return ACWorldModel(ACPredictor(cfg).eval(), tokens_per_frame=4)


def _observe(model: ACWorldModel, frames: int, seed: int = 0, **kwargs) -> None:
    g = torch.Generator().manual_seed(seed)
    past = torch.randn(frames - 1, 7, generator=g) * 0.3 if frames > 1 else None
    model.observe(torch.randn(frames, 4, 24, generator=g), past, torch.randn(frames, 7, generator=g), **kwargs)


@pytest.mark.parametrize("frames", [1, 3])
@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_cached_rollout_energies_equal_the_naive_rollout(frames: int, horizon: int) -> None:
    model = _tiny_world_model()
    _observe(model, frames)
    goal = torch.randn(4, 24)
    actions = torch.randn(16, horizon, 7, generator=torch.Generator().manual_seed(5)) * 0.5
    cached = model.rollout_energy(actions, goal, cached=True)
    naive = model.rollout_energy(actions, goal, cached=False)
    assert cached.dtype == torch.float32 and cached.shape == (16,)
    assert (cached - naive).abs().max() <= 1e-5
    assert naive.max() - naive.min() > 1e-3  # candidates differ far more than the tolerance
    if frames > 1:  # the observed history matters, so a cache that dropped it would fail above
        _observe(model, frames, seed=1)
        assert (model.rollout_energy(actions, goal) - cached).abs().max() > 1e-3


def test_cached_rollout_with_extrinsics_and_plans_equal_the_naive_ones() -> None:
    model = _tiny_world_model(use_extrinsics=True)
    _observe(model, 3, extrinsics=torch.randn(3, 6))
    goal = torch.randn(4, 24)
    actions = torch.randn(8, 2, 7) * 0.5
    assert (
        model.rollout_energy(actions, goal, cached=True) - model.rollout_energy(actions, goal, False)
    ).abs().max() <= 1e-5
    config = CEMConfig(horizon=2, samples=24, top_k=4, iterations=3)
    cached = model.plan(goal, config, torch.Generator().manual_seed(0))
    model.cached = False
    naive = model.plan(goal, config, torch.Generator().manual_seed(0))
    assert torch.allclose(cached.actions, naive.actions, atol=1e-5) and cached.energy == pytest.approx(
        naive.energy, abs=1e-5
    )


def test_bf16_autocast_rollout_stays_close_to_fp32() -> None:
    model = _tiny_world_model()
    _observe(model, 2)
    goal, actions = torch.randn(4, 24), torch.randn(8, 2, 7) * 0.5
    reference = model.rollout_energy(actions, goal)
    model.dtype = torch.bfloat16
    low = model.rollout_energy(actions, goal)
    assert low.dtype == torch.float32 and (low - reference).abs().max() < 0.05


def test_world_model_rejects_bad_inputs_with_clear_messages() -> None:
    model = _tiny_world_model()
    with pytest.raises(RuntimeError, match="call observe"):
        model.plan(torch.randn(4, 24))
    with pytest.raises(ValueError, match=r"need their 2 past actions"):
        model.observe(torch.randn(3, 4, 24), None, torch.randn(3, 7))
    with pytest.raises(ValueError, match=r"this predictor takes 4 x 24"):
        model.observe(torch.randn(1, 9, 24), None, torch.randn(7))
    with pytest.raises(ValueError, match="extrinsics given"):
        model.observe(torch.randn(4, 24), None, torch.randn(7), extrinsics=torch.randn(6))
    model.observe(torch.randn(4, 24), None, torch.randn(7))
    with pytest.raises(ValueError, match=r"goal must be \[4, 24\]"):
        model.plan(torch.randn(5, 24))
    with pytest.raises(ValueError, match="tokens_per_frame 9 does not match"):
        ACWorldModel(model.predictor, tokens_per_frame=9)


# ----------------------------------------------------------------------------- options beyond the paper


def _quadratic(target: torch.Tensor):
    """Energy with a known optimum: squared distance of the plan [H, 7] to ``target`` (xyz only)."""

    def evaluate(actions: torch.Tensor) -> torch.Tensor:
        return ((actions[..., :3] - target[..., :3]) ** 2).sum(dim=(-2, -1))

    return evaluate


def test_warm_start_shifts_the_previous_plan() -> None:
    """With mean momentum 0.99 one iteration barely moves the mean: the result shows the warm-start mean."""
    previous_mean = torch.zeros(3, 7)
    previous_mean[:, 0] = torch.tensor([0.01, 0.02, 0.03])
    previous = PlanResult(actions=previous_mean, energy=0.0, mean=previous_mean, std=torch.full((3, 7), 1e-3))
    cfg = CEMConfig(horizon=3, samples=32, top_k=4, iterations=1, momentum_mean=0.99, plan_gripper=False)
    evaluate = _quadratic(torch.zeros(3, 7))
    shifted = cem_optimize(evaluate, cfg, torch.Generator().manual_seed(0), warm_start=previous)
    assert torch.allclose(shifted.mean[:, 0], torch.tensor([0.02, 0.03, 0.0]), atol=1e-3), shifted.mean
    as_is = cem_optimize(
        evaluate,
        replace(cfg, warm_start_shift=0),
        torch.Generator().manual_seed(0),
        warm_start=(previous_mean, previous.std),
    )
    assert torch.allclose(as_is.mean[:, 0], previous_mean[:, 0], atol=1e-3)
    # keeping the (tiny) previous std: the samples stay near the warm-start mean
    kept = cem_optimize(evaluate, replace(cfg, warm_start_keep_std=True), warm_start=previous)
    assert kept.elite_first_actions[:, 0].sub(0.02).abs().max() < 0.01
    assert shifted.elite_first_actions[:, 0].sub(0.02).abs().max() > 0.01


def test_warm_start_from_a_good_plan_beats_a_cold_start_at_equal_budget() -> None:
    target = torch.tensor([[0.04, -0.03, 0.02, 0, 0, 0, 0]])
    evaluate = _quadratic(target)
    cfg = CEMConfig(samples=16, top_k=4, iterations=1, plan_gripper=False, warm_start_shift=0, warm_start_keep_std=True)
    good = (target.clone(), torch.full((1, 7), 0.005))
    warm = cem_optimize(evaluate, cfg, torch.Generator().manual_seed(0), warm_start=good)
    cold = cem_optimize(evaluate, cfg, torch.Generator().manual_seed(0))
    assert warm.energy < cold.energy / 10


def test_coloured_noise_has_unit_variance_and_correlates_over_the_horizon() -> None:
    def lag1(noise: torch.Tensor) -> float:
        return float(torch.corrcoef(torch.stack([noise[:, :-1].flatten(), noise[:, 1:].flatten()]))[0, 1])

    g = torch.Generator().manual_seed(0)
    white = coloured_noise(0.0, 4000, 10, 7, g, torch.device("cpu"))
    brown = coloured_noise(2.0, 4000, 10, 7, g, torch.device("cpu"))
    odd = coloured_noise(1.0, 4000, 9, 7, g, torch.device("cpu"))
    assert white.shape == brown.shape == (4000, 10, 7)
    for noise in (white, brown, odd):
        assert noise.std().item() == pytest.approx(1.0, abs=0.05)
    assert abs(lag1(white)) < 0.05 and lag1(brown) > 0.5 and 0.1 < lag1(odd) < lag1(brown)


def test_kept_elites_make_the_elite_energy_monotone() -> None:
    evaluate = _quadratic(torch.tensor([[0.04, -0.03, 0.02, 0, 0, 0, 0]] * 2))
    cfg = CEMConfig(horizon=2, samples=8, top_k=4, iterations=12, momentum_mean=0.5, momentum_std=0.5)

    def increases(result: PlanResult) -> int:
        return sum(b > a for a, b in zip(result.energy_per_iteration, result.energy_per_iteration[1:]))

    plain = cem_optimize(evaluate, cfg, torch.Generator().manual_seed(0))
    kept = cem_optimize(evaluate, replace(cfg, keep_elites=1.0), torch.Generator().manual_seed(0))
    assert increases(plain) > 0 and increases(kept) == 0


def test_early_stop_when_the_elite_energy_stops_improving() -> None:
    def flat(actions: torch.Tensor) -> torch.Tensor:
        return torch.ones(actions.shape[0])

    cfg = CEMConfig(samples=16, top_k=4, iterations=10, early_stop_patience=2)
    stopped = cem_optimize(flat, cfg)
    assert stopped.iterations_run == 3 and stopped.stop_reason == "early_stop"
    assert cem_optimize(flat, replace(cfg, early_stop_patience=0)).iterations_run == 10
    improving = cem_optimize(_quadratic(torch.full((1, 7), 0.03)), replace(cfg, early_stop_rtol=1e-6))
    assert improving.iterations_run > 3


def test_deadline_skips_iterations_that_would_end_late() -> None:
    """Each evaluation takes one second of a fake clock: 3.5 s fit three 1-s iterations, never fewer than one."""
    now = [0.0]

    def slow(actions: torch.Tensor) -> torch.Tensor:
        now[0] += 1.0
        return actions[..., :3].abs().sum(dim=(-2, -1))

    cfg = CEMConfig(samples=16, top_k=4, iterations=10, deadline_s=3.5)
    result = cem_optimize(slow, cfg, clock=lambda: now[0])
    assert result.iterations_run == 3 and result.stop_reason == "deadline"
    assert cem_optimize(slow, replace(cfg, deadline_s=1e-9), clock=lambda: now[0]).iterations_run == 1
    assert cem_optimize(slow, replace(cfg, deadline_s=0.0), clock=lambda: now[0]).iterations_run == 10


def test_stop_rule_returns_zero_motion_when_nothing_beats_it() -> None:
    at_rest = _quadratic(torch.zeros(1, 7))  # no motion is the optimum
    cfg = CEMConfig(samples=32, top_k=4, iterations=3, stop_rule=True, stop_margin=1e-4)
    stop = cem_optimize(at_rest, cfg, torch.Generator().manual_seed(0))
    assert stop.should_stop and (stop.actions == 0).all() and stop.energy == stop.energy_no_motion == 0.0
    free = cem_optimize(at_rest, replace(cfg, stop_rule=False), torch.Generator().manual_seed(0))
    assert not free.should_stop and (free.actions[:, :3] != 0).any()
    moving = cem_optimize(_quadratic(torch.full((1, 7), 0.05)), cfg, torch.Generator().manual_seed(0))
    assert not moving.should_stop and moving.best_energy < moving.energy_no_motion - 1e-4


def test_on_iteration_reports_progress_and_cancels_by_raising() -> None:
    calls: list[tuple] = []

    def on_iteration(i: int, elite_energy: float, mean_action: torch.Tensor, elites: torch.Tensor) -> None:
        calls.append((i, elite_energy, mean_action.shape, elites.shape))
        if i == 1:
            raise KeyboardInterrupt("cancelled")

    evaluated = []

    def evaluate(actions: torch.Tensor) -> torch.Tensor:
        evaluated.append(actions.shape[0])
        return actions[..., :3].abs().sum(dim=(-2, -1))

    with pytest.raises(KeyboardInterrupt):
        cem_optimize(evaluate, CEMConfig(samples=16, top_k=4, iterations=10, chunk_size=5), on_iteration=on_iteration)
    assert [c[0] for c in calls] == [0, 1] and calls[0][2:] == ((7,), (4, 7)) and evaluated == [5, 5, 5, 1] * 2


def test_seeded_plans_repeat_and_chunking_does_not_change_them() -> None:
    evaluate = _quadratic(torch.full((2, 7), 0.02))
    cfg = CEMConfig(horizon=2, samples=40, top_k=5, iterations=3)
    first = cem_optimize(evaluate, cfg, torch.Generator().manual_seed(7))
    again = cem_optimize(evaluate, replace(cfg, chunk_size=7), torch.Generator().manual_seed(7))
    other = cem_optimize(evaluate, cfg, torch.Generator().manual_seed(8))
    assert torch.equal(first.actions, again.actions) and not torch.equal(first.actions, other.actions)
