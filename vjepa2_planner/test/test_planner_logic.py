"""The planner's ROS-free parts: safety layer, twist streamer, world model checks, parameter schema vs YAML/README."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vjepa2_common.params import check_parameter_file, parameter_file_values, schema_specs
from vjepa2_core.checkpoint import save_pretrained
from vjepa2_core.limits import CommandError, CommandLimits
from vjepa2_core.models import ACPredictor, ACPredictorConfig
from vjepa2_core.planning import CEMConfig
from vjepa2_planner.params import PlannerParams, read_params_file
from vjepa2_planner.safety import NS_PER_S, MotionBlocked, SafetyLayer
from vjepa2_planner.servo import ServoGains, TwistStreamer
from vjepa2_planner.world_model import EmbeddingMismatch, ModelLoadError, PlannerModel, PredictorSpec

ROOT = Path(__file__).resolve().parents[2]
STATE = np.array([0.5, 0.0, 0.3, np.pi, 0.0, 0.0, 0.0])
T0 = 100 * NS_PER_S


def fresh_safety(stale_after_s: float = 0.5) -> SafetyLayer:
    safety = SafetyLayer(CommandLimits(), stale_after_s)
    safety.update_state(STATE, T0)
    safety.note_observation(T0)
    return safety


def test_no_motion_before_the_first_state_and_nan_rejected() -> None:
    safety = SafetyLayer(CommandLimits(), 0.5)
    with pytest.raises(MotionBlocked, match="no end-effector state"):
        safety.check_action(np.zeros(7), T0)
    with pytest.raises(CommandError, match="7 finite"):
        safety.update_state([0.5, 0.0, np.nan, 0, 0, 0, 0], T0)
    safety = fresh_safety()
    with pytest.raises(CommandError):
        safety.check_action([np.inf, 0, 0, 0, 0, 0, 0], T0)
    with pytest.raises(CommandError):
        safety.check_twist([np.nan, 0, 0], [0, 0, 0])
    assert safety.snapshot()["invalid_action"] == 1 and safety.snapshot()["invalid_twist"] == 1


def test_step_and_box_clipping() -> None:
    safety = fresh_safety()
    safe = safety.check_action([0.2, -0.01, 0.0, 0.0, 0.0, 0.0, 0.0], T0)
    assert safe.clipped and np.isclose(safe.action[0], 0.075) and np.isclose(safe.action[1], -0.01)
    limits = safety.limits
    out = safety.check_action([0.0, 0.0, 0.075, 0.0, 0.0, 0.0, 0.0], T0)  # z 0.3 + 0.075 is inside
    assert not out.clipped
    safety.update_state([limits.workspace_max[0] - 0.01, 0.0, 0.3, np.pi, 0, 0, 0], T0)
    edge = safety.check_action([0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], T0)
    assert edge.clipped and np.isclose(edge.action[0], 0.01) and any("workspace" in r for r in edge.reasons)
    v, _w = safety.check_twist([10.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    assert np.linalg.norm(v) <= limits.max_linear_speed


def test_watchdog_stale_inputs() -> None:
    safety = fresh_safety(0.5)
    assert safety.block_reason(T0 + int(0.4 * NS_PER_S)) is None
    safety.update_state(STATE, T0 + NS_PER_S)
    reason = safety.block_reason(T0 + NS_PER_S)
    assert reason is not None and "embedding is 1.00 s old" in reason
    safety.note_observation(T0 + NS_PER_S)
    assert "state is 0.60 s old" in safety.block_reason(T0 + int(1.6 * NS_PER_S))


def test_estop_latches_until_reset() -> None:
    safety = fresh_safety()
    assert safety.set_estop(True)
    assert not safety.reset()[0]  # still asserted
    safety.set_estop(False)
    with pytest.raises(MotionBlocked, match="e-stop"):
        safety.check_action(np.zeros(7), T0)
    ok, message = safety.reset()
    assert ok and "cleared" in message
    assert safety.check_action(np.zeros(7), T0).action.shape == (7,)


def test_twist_streamer_reaches_the_target_without_gaps() -> None:
    """A kinematic TCP integrates the streamed twists; the streamer stops with zeros at the target."""
    safety = fresh_safety(60.0)
    lock = threading.Lock()
    pos = np.array(STATE[:3])
    quat = np.array([1.0, 0.0, 0.0, 0.0])
    sent: list[tuple[np.ndarray, np.ndarray]] = []
    period = 1 / 100.0

    def publish(linear: np.ndarray, angular: np.ndarray) -> None:
        with lock:
            sent.append((linear.copy(), angular.copy()))
            pos[:] = pos + linear * period  # the robot follows the command for one period

    streamer = TwistStreamer(
        publish, lambda: (pos.copy(), quat.copy()), safety, lambda: T0, ServoGains(rate_hz=100.0, linear_gain=5.0)
    )
    target = pos + np.array([0.03, -0.02, 0.01])
    outcome = streamer.run(target, quat, 10.0, lambda: None)
    assert outcome.reached and np.linalg.norm(pos - target) <= 0.004 + 0.003
    assert np.allclose(sent[-1][0], 0) and any(np.linalg.norm(v) > 0 for v, _ in sent)
    assert all(np.linalg.norm(v) <= safety.limits.max_linear_speed for v, _ in sent)
    stopped = streamer.run(target + 0.05, quat, 10.0, lambda: "canceled")
    assert not stopped.reached and stopped.reason == "canceled" and np.allclose(sent[-1][0], 0)


def test_world_model_embedding_checks_and_plan() -> None:
    model = PlannerModel(
        PredictorSpec("random", enc_embed_dim=16, embed_dim=16, depth=1, num_heads=2, grid_size=2), "vit_tiny:x"
    )
    model.check_embedding("vit_tiny:x", 16, [1, 2, 2], 4, "e")
    for args, match in (
        (("vit_other:y", 16, [1, 2, 2], 4), "expects 'vit_tiny:x'"),
        (("vit_tiny:x", 24, [1, 2, 2], 4), "24-dim"),
        (("vit_tiny:x", 16, [1, 4, 4], 16), "token grid"),
    ):
        with pytest.raises(EmbeddingMismatch, match=match):
            model.check_embedding(*args, "the embedding")
    rng = np.random.default_rng(0)
    tokens, goal = rng.standard_normal((2, 4, 16)).astype(np.float32)
    iterations: list[int] = []
    plan = model.plan(
        tokens, STATE, goal, CEMConfig(samples=8, iterations=3, top_k=2), 0, lambda i, e, a: iterations.append(i)
    )
    assert iterations == [0, 1, 2] and plan.actions.shape == (1, 7) and np.isfinite(plan.energy)
    assert np.all(np.abs(plan.actions[0, :3]) <= 0.075 + 1e-6)
    assert plan.elite_first_actions is not None and plan.elite_first_actions.shape == (2, 7)
    warm = model.plan(tokens, STATE, goal, CEMConfig(samples=8, iterations=2, top_k=2), 1, None, plan)
    assert warm.actions.shape == (1, 7) and np.isfinite(warm.energy)


def test_predictor_from_a_package_path_and_a_clear_error_when_missing(tmp_path: Path, monkeypatch) -> None:
    import vjepa2_common.paths

    torch.manual_seed(0)
    predictor = ACPredictor(ACPredictorConfig(enc_embed_dim=16, embed_dim=16, depth=1, num_heads=2, grid_h=2, grid_w=2))
    # a workspace whose package "vjepa2" ships the file only in its source tree (not installed yet)
    monkeypatch.setattr(vjepa2_common.paths, "SOURCE_ROOT", tmp_path)
    (tmp_path / "vjepa2").mkdir()
    (tmp_path / "vjepa2" / "package.xml").write_text("<package/>")
    save_pretrained(predictor, tmp_path / "vjepa2" / "models" / "tiny_predictor.safetensors")
    model = PlannerModel(PredictorSpec("package://vjepa2/models/tiny_predictor.safetensors", grid_size=2))
    assert model.dim == 16 and model.grid == (1, 2, 2)
    with pytest.raises(ModelLoadError, match=r"predictor.checkpoint 'package://vjepa2/models/nope.safetensors': "
                       r"package 'vjepa2' has no file 'models/nope.safetensors' \(looked at .*share/vjepa2/models/nope"
                       r".*, .*/vjepa2/models/nope.safetensors\)"):  # fmt: skip
        PlannerModel(PredictorSpec("package://vjepa2/models/nope.safetensors"))


def test_plan_yaml_and_readme_document_every_parameter() -> None:
    config = ROOT / "vjepa2" / "config" / "plan.yaml"
    report = check_parameter_file(config, "vjepa2_planner", PlannerParams)
    assert not report.mismatched, report.mismatched
    # ManagedNode's own parameters and rclpy's use_sim_time (the file's /** section)
    assert set(report.unknown) <= {"autostart", "diagnostics_period_s", "use_sim_time"}, report.unknown
    text = config.read_text()
    readme = (ROOT / "vjepa2_planner" / "README.md").read_text()
    for spec in schema_specs(PlannerParams):
        assert f"`{spec.name}`" in readme, f"README lacks {spec.name}"
        assert spec.name.rsplit(".", 1)[-1] + ":" in text, f"plan.yaml lacks {spec.name}"


def test_rotation_that_tilts_the_tcp_too_far_is_dropped() -> None:
    from vjepa2_core.conventions import state_from_pose
    from vjepa2_core.limits import TCP_DOWN

    safety = fresh_safety()
    safety.update_state(state_from_pose(STATE[:3], TCP_DOWN.as_quat(), 0.0), T0)
    small = safety.check_action([0, 0, 0, 0.2, 0, 0, 0], T0)
    assert not small.clipped and np.isclose(small.action[3], 0.2)
    big = safety.check_action([0, 0, 0, 0.79, 0.0, 0, 0], T0)  # within max_delta_rotation, but tilt 0.79 ...
    safety.update_state(state_from_pose(STATE[:3], (Rotation.from_rotvec([0.5, 0, 0]) * TCP_DOWN).as_quat(), 0.0), T0)
    over = safety.check_action([0.0, 0.0, 0.0, 0.7, 0.0, 0.0, 0.0], T0)  # ... from 0.5: 1.2 > max_tcp_tilt 1.0
    assert not big.clipped
    assert over.clipped and np.allclose(over.action[3:6], 0) and "max_tcp_tilt" in over.reasons[0]


def test_parameter_files_read_without_ros_as_the_node_reads_them(tmp_path: Path) -> None:
    config = ROOT / "vjepa2" / "config" / "plan.yaml"
    overrides = {"cem.samples": 32, "max_steps": 7}
    params = read_params_file(config, overrides)
    values = {**parameter_file_values(config, "vjepa2_planner"), **overrides}
    for spec in schema_specs(PlannerParams):
        value = params
        for part in spec.name.split("."):
            value = getattr(value, part)
        assert value == values.get(spec.name, spec.default), spec.name
    path = tmp_path / "p.yaml"
    path.write_text(
        "/**:\n  ros__parameters: {use_sim_time: false}\n"
        "/**/vjepa2_planner:\n  ros__parameters:\n    autostart: true\n    energy_tolerance: 0.3\n"
        "    predictor: {checkpoint: random, embed_dim: 64, grid_size: 4}\n    cem: {samples: 16, top_k: 4}\n"
    )
    params = read_params_file(path, {"max_steps": 7})
    loop = params.loop_settings()
    assert (loop.max_steps, loop.energy_tolerance, loop.cem.samples, loop.cem.top_k) == (7, 0.3, 16, 4)
    goal = params.loop_settings(energy_tolerance=0.05, max_steps=3)  # a goal's own values win
    assert (goal.energy_tolerance, goal.max_steps) == (0.05, 3)
    assert params.predictor_spec() == PredictorSpec("random", embed_dim=64, grid_size=4)
    assert read_params_file(None) == PlannerParams()
    with pytest.raises(ValueError, match=r"unknown parameter 'cem.sample' \(did you mean 'cem.samples'\?\)"):
        read_params_file(None, {"cem.sample": 3})
    path.write_text("vjepa2_planner:\n  ros__parameters:\n    cem: {top_k: 100, samples: 10}\n")
    with pytest.raises(ValueError, match="top_k"):  # CEMConfig.validate, as configure runs it
        read_params_file(path).load_model()
