"""The planner node's parameters: one typed schema (vjepa2_common.params), checked against config YAML by a test.

Defaults of the motion limits come from :class:`vjepa2_core.limits.CommandLimits` (written once there);
the CEM defaults from :class:`vjepa2_core.planning.CEMConfig` (the paper's robot setting).

What configure and each goal make of the parameters is here too, free of ROS, so that the node and ROS-free
users (``benchmarks/reach.py``) build the model, the loop settings and the safety layer alike:
:meth:`PlannerParams.load_model`, :meth:`PlannerParams.loop_settings`, :meth:`PlannerParams.safety`, and
:func:`read_params_file` (a parameter file as the node reads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vjepa2_common import names
from vjepa2_common.lifecycle import MANAGED_NODE_PARAMETERS
from vjepa2_common.limits_params import OrientedLimitsParams
from vjepa2_common.params import namespace, param, parameter_file_values, settings_from_values
from vjepa2_core.cem import BOUNDS
from vjepa2_core.devices import CANONICAL_DTYPES, DEVICE_CHOICES
from vjepa2_core.limits import GRIPPER_MAX_WIDTH
from vjepa2_core.planning import CEMConfig

from .loop import LoopSettings
from .safety import SafetyLayer
from .world_model import PlannerModel, PredictorSpec

#: dry_run commands nothing: each action (after the safety layer) is only published on ~/planned_action
DRY_RUN = "dry_run"
COMMAND_INTERFACES = ("execute_action", "servo_twist", "pose_target", DRY_RUN)
STATE_TYPES = ("PoseStamped", "TransformStamped")


_CEM = CEMConfig()


@dataclass
class PredictorParams:
    checkpoint: str = param(
        "",
        "AC predictor weights: official vjepa2-ac-vitg.pt, a vjepa2_core AC checkpoint (vjepa2-train-ac), a file "
        "shipped in a package (package://vjepa2/models/demo/predictor.safetensors) or 'random' (random weights of "
        "the sizes below: tests and set-up checks)",
        configure=True,
    )
    entry: str = param("", "Entry of an official .pt file; '' = predictor", configure=True)
    enc_embed_dim: int = param(1408, "random: encoder token dim (ViT-g 1408)", min=1, configure=True)
    embed_dim: int = param(1024, "random: predictor width", min=1, configure=True)
    depth: int = param(24, "random: predictor blocks", min=1, configure=True)
    num_heads: int = param(
        16, "Attention heads (random; and for files whose width is not the released 1024)", min=1, configure=True
    )
    grid_size: int = param(
        16, "Tokens per image side of one frame (crop_size / 16; files do not store it)", min=1, configure=True
    )
    seed: int = param(0, "random: weight seed", min=0, configure=True)
    device: str = param("cpu", f"Torch device: {' | '.join(DEVICE_CHOICES)}", configure=True)
    dtype: str = param("float32", "Weights and compute dtype", choices=CANONICAL_DTYPES, configure=True)
    torch_threads: int = param(0, "torch intra-op threads; 0 = torch's default", min=0, max=256, configure=True)


@dataclass
class CEMParams:
    """vjepa2_core.planning.CEMConfig field for field (its defaults: the paper's robot setting), plus the seed and
    whether to warm start."""

    samples: int = param(_CEM.samples, "Candidate action sequences per CEM iteration", min=1, configure=True)
    iterations: int = param(_CEM.iterations, "CEM iterations per planned action", min=1, configure=True)
    top_k: int = param(
        _CEM.top_k, "Elites kept per iteration (<= samples; >= 2 with std_unbiased)", min=1, configure=True
    )
    horizon: int = param(
        _CEM.horizon, "Planned actions per CEM call (the first is executed)", min=1, max=16, configure=True
    )
    bound: str = param(
        _CEM.bound,
        "box: clip dx, dy, dz each to max_translation (official code); l1: the paper's L1 ball of that radius",
        choices=BOUNDS,
        configure=True,
    )
    max_translation: float = param(
        _CEM.max_translation, "Sampling bound on dx, dy, dz [m]", min=0.001, max=0.5, configure=True
    )
    plan_rotation: bool = param(
        _CEM.plan_rotation, "Plan drx, dry, drz (jepa-wms); false: fixed to 0 (official)", configure=True
    )
    max_rotation: float = param(
        _CEM.max_rotation, "Per-axis bound on drx, dry, drz [rad]", min=0.001, max=1.0, configure=True
    )
    plan_gripper: bool = param(_CEM.plan_gripper, "Plan dgripper (false: fixed to 0)", configure=True)
    max_gripper: float = param(_CEM.max_gripper, "Bound on dgripper", min=0.001, max=1.0, configure=True)
    init_std_translation: float = param(
        _CEM.init_std_translation, "Initial std of dx, dy, dz [m]", min=0.0, configure=True
    )
    init_std_rotation: float = param(
        _CEM.init_std_rotation, "Initial std of drx, dry, drz [rad]", min=0.0, configure=True
    )
    init_std_gripper: float = param(_CEM.init_std_gripper, "Initial std of dgripper", min=0.0, configure=True)
    momentum_mean: float = param(
        _CEM.momentum_mean, "Momentum of the mean (xyz, rotation)", min=0.0, max=0.999, configure=True
    )
    momentum_std: float = param(
        _CEM.momentum_std, "Momentum of the std (xyz, rotation)", min=0.0, max=0.999, configure=True
    )
    momentum_mean_gripper: float = param(
        _CEM.momentum_mean_gripper, "Momentum of the mean (gripper)", min=0.0, max=0.999, configure=True
    )
    momentum_std_gripper: float = param(
        _CEM.momentum_std_gripper, "Momentum of the std (gripper)", min=0.0, max=0.999, configure=True
    )
    std_unbiased: bool = param(
        _CEM.std_unbiased, "Elites' std unbiased (torch.std, official); false: biased", configure=True
    )
    gripper_deadband: float = param(
        _CEM.gripper_deadband, "|dgripper| below this is executed as 0", min=0.0, max=1.0, configure=True
    )
    close_gripper: int = param(
        -1,
        "Force dgripper = +1 from this horizon step on (official close_gripper); -1 = off",
        min=-1,
        max=16,
        configure=True,
    )
    warm_start: bool = param(
        False, "Start each step's CEM from the previous step's shifted plan (beyond the paper)", configure=True
    )
    warm_start_shift: int = param(
        _CEM.warm_start_shift, "Executed steps dropped from the previous plan", min=0, max=16, configure=True
    )
    warm_start_keep_std: bool = param(
        _CEM.warm_start_keep_std, "Warm start the std too (false: the mean only)", configure=True
    )
    noise_beta: float = param(
        _CEM.noise_beta, "iCEM coloured noise exponent along the horizon (0: white)", min=0.0, max=5.0, configure=True
    )
    keep_elites: float = param(
        _CEM.keep_elites, "iCEM: fraction of elites carried into the next iteration", min=0.0, max=1.0, configure=True
    )
    early_stop_patience: int = param(
        _CEM.early_stop_patience, "Stop after this many iterations without improvement (0: off)", min=0, configure=True
    )
    early_stop_rtol: float = param(_CEM.early_stop_rtol, "Relative improvement that counts", min=0.0, configure=True)
    deadline_s: float = param(_CEM.deadline_s, "Anytime deadline per CEM call [s] (0: off)", min=0.0, configure=True)
    stop_rule: bool = param(
        _CEM.stop_rule, "End the (sub-)goal when no candidate beats no motion by stop_margin", configure=True
    )
    stop_margin: float = param(_CEM.stop_margin, "Energy margin of the stop rule", min=0.0, configure=True)
    chunk_size: int = param(
        _CEM.chunk_size, "Evaluate samples in chunks of this many (0: all at once)", min=0, configure=True
    )
    seed: int = param(0, "Seed of the CEM noise (step i of a goal uses seed + i)", min=0, configure=True)

    def config(self) -> CEMConfig:
        """vjepa2_core's CEMConfig with these values (same field names; close_gripper -1 = None)."""
        values = {f.name: getattr(self, f.name) for f in fields(CEMConfig)}
        values["close_gripper"] = None if self.close_gripper < 0 else self.close_gripper
        return CEMConfig(**values)


@dataclass
class ServoParams:
    rate_hz: float = param(
        100.0,
        "servo_twist: command rate while a step executes [Hz] (Servo halts after 0.1 s without one)",
        min=50.0,
        max=1000.0,
        configure=True,
    )
    linear_gain: float = param(4.0, "servo_twist: twist = gain x position error [1/s]", min=0.01, configure=True)
    angular_gain: float = param(
        3.0, "servo_twist: angular twist = gain x rotation error [1/s]", min=0.01, configure=True
    )
    position_tolerance: float = param(
        0.004, "Step target reached within this distance [m] (servo_twist, pose_target)", min=0.0001, configure=True
    )
    rotation_tolerance: float = param(
        0.03, "Step target reached within this rotation [rad]", min=0.0001, configure=True
    )
    settle_s: float = param(
        0.15,
        "servo_twist, pose_target: wait after the target is reached before the next observation [s]",
        min=0.0,
        max=5.0,
        configure=True,
    )


@dataclass
class TopicParams:
    """Relative names resolve in the planner's namespace (``vjepa2-launch plan namespace:=robot1``)."""

    embedding: str = param(
        names.relative(names.EMBEDDING_TOPIC),
        "vjepa2_msgs/Embedding of the camera (encoder node output)",
        configure=True,
    )
    image: str = param(
        names.relative(names.CAMERA_IMAGE_TOPIC),
        "sensor_msgs/Image of the camera, for the debug image ('' = none)",
        configure=True,
    )
    state: str = param(
        names.relative(names.CURRENT_POSE_TOPIC), "End-effector pose in base_frame (type: state_type)", configure=True
    )
    gripper_state: str = param(
        names.relative(names.GRIPPER_JOINT_STATES_TOPIC),
        "sensor_msgs/JointState of the fingers ('' = gripper state 0)",
        configure=True,
    )
    gripper_command: str = param(
        f"{names.SIM_NODE}/gripper/closure_cmd",
        "std_msgs/Float64 gripper closure target in [0, 1] (servo_twist, pose_target; '' = none)",
        configure=True,
    )
    twist: str = param(
        names.relative(names.SERVO_TWIST_TOPIC),
        "servo_twist: geometry_msgs/TwistStamped output (MoveIt Servo)",
        configure=True,
    )
    pose_target: str = param(
        names.relative(names.SERVO_POSE_TOPIC), "pose_target: geometry_msgs/PoseStamped output", configure=True
    )
    estop: str = param(
        names.relative(names.ESTOP_TOPIC),
        "std_msgs/Bool e-stop input: true latches a stop until ~/reset_estop",
        configure=True,
    )


@dataclass
class ServiceParams:
    encode_image: str = param(
        names.relative(names.ENCODE_IMAGE_SERVICE),
        "vjepa2_msgs/EncodeImage of the encoder node (goal images)",
        configure=True,
    )
    execute_action: str = param(
        names.relative(names.SIM_EXECUTE_ACTION_SERVICE),
        "execute_action: vjepa2_msgs/ExecuteAction (blocking motion)",
        configure=True,
    )
    stop: str = param(
        names.relative(names.SIM_STOP_SERVICE),
        "std_srvs/Trigger that halts the robot (cancel, watchdog; '' = none)",
        configure=True,
    )


@dataclass
class PlannerParams:
    predictor: PredictorParams = namespace(PredictorParams)
    encoder_model_id: str = param(
        "",
        "Required model_id of the embeddings, e.g. 'vit_giant:vjepa2-ac-vitg.pt' "
        "('' = any model whose dim and grid fit)",
        configure=True,
    )
    cem: CEMParams = namespace(CEMParams)
    energy_tolerance: float = param(
        0.2,
        "Success when the observation's energy to the (last) goal is <= this (goal's energy_tolerance 0 = this)",
        min=0.0,
    )
    max_steps: int = param(20, "Most executed actions per goal (goal's max_steps 0 = this)", min=1, max=10000)
    command_interface: str = param(
        "execute_action",
        "execute_action (blocking service) | servo_twist (TwistStamped stream) | pose_target (PoseStamped) | "
        "dry_run (no robot: plans are only published on ~/planned_action, e.g. on a replayed bag)",
        choices=COMMAND_INTERFACES,
        configure=True,
    )
    base_frame: str = param(
        names.BASE_FRAME, "Robot base frame: commands, markers and the expected state frame", configure=True
    )
    state_type: str = param(
        "PoseStamped", "Message type of topics.state (geometry_msgs)", choices=STATE_TYPES, configure=True
    )
    gripper_max_width: float = param(
        GRIPPER_MAX_WIDTH, "Finger opening at closure 0 [m] (closure = 1 - width / this)", min=0.001, configure=True
    )
    topics: TopicParams = namespace(TopicParams)
    services: ServiceParams = namespace(ServiceParams)
    limits: OrientedLimitsParams = namespace(OrientedLimitsParams)
    servo: ServoParams = namespace(ServoParams)
    stale_after_s: float = param(
        0.5,
        "Watchdog: an embedding or state older than this stops motion and aborts the goal [s]",
        min=0.01,
        max=60.0,
        configure=True,
    )
    state_sync_tolerance_s: float = param(
        0.1, "Largest gap between a frame's stamp and the state planned with it [s]", min=0.001, max=5.0, configure=True
    )
    observation_timeout_s: float = param(
        10.0, "Wait for a frame captured after the motion settled [s]", min=0.1, configure=True
    )
    step_timeout_s: float = param(10.0, "Wait for one step's motion to settle [s]", min=0.1, configure=True)
    service_timeout_s: float = param(30.0, "Wait for encode_image (goal images) [s]", min=0.1, configure=True)
    publish_debug_image: bool = param(True, "Publish ~/debug_image (current | goal | energy per step)", configure=True)
    publish_markers: bool = param(True, "Publish ~/markers (planned path, CEM elites' first actions)", configure=True)

    def safety(self) -> SafetyLayer:
        return SafetyLayer(self.limits.limits(), self.stale_after_s)

    def predictor_spec(self) -> PredictorSpec:
        """What to load: the ``predictor.*`` parameters as a :class:`~.world_model.PredictorSpec`."""
        p = self.predictor
        return PredictorSpec(**{f.name: getattr(p, f.name) for f in fields(PredictorSpec)})

    def load_model(self) -> PlannerModel:
        """What configure does with the model parameters: check the CEM settings (ValueError), apply
        ``predictor.torch_threads``, load the predictor (:class:`~.world_model.ModelLoadError`)."""
        self.cem.config().validate()
        if self.predictor.torch_threads:
            import torch

            torch.set_num_threads(self.predictor.torch_threads)
        return PlannerModel(self.predictor_spec(), expected_model_id=self.encoder_model_id)

    def loop_settings(self, energy_tolerance: float = 0.0, max_steps: int = 0) -> LoopSettings:
        """The loop settings of one goal; the goal's own ``energy_tolerance`` / ``max_steps`` (0 = these
        parameters' values) win."""
        return LoopSettings(
            energy_tolerance=energy_tolerance or self.energy_tolerance,
            max_steps=max_steps or self.max_steps,
            cem=self.cem.config(),
            seed=self.cem.seed,
            warm_start=self.cem.warm_start,
        )


def read_params_file(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> PlannerParams:
    """The planner's parameters, ROS-free, as the node would read them from the parameter file ``path`` (the
    sections that apply to ``vjepa2_planner``; None: the schema defaults) with ``overrides`` (``{dotted.name:
    value}``, like ``-p``) on top. ValueError names the file and every unknown or invalid parameter."""
    node = names.PLANNER_NODE
    values = dict(parameter_file_values(path, node)) if path is not None else {}
    values.update(overrides or {})
    source = f"parameter file '{path}' [{node}]" if path is not None else f"{node} parameters"
    if overrides:
        source += f" with overrides {', '.join(overrides)}"
    return settings_from_values(PlannerParams, values, source=source, ignore=MANAGED_NODE_PARAMETERS)
