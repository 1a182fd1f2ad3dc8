"""YAML-backed configuration of the pretraining and AC post-training runs (validated dataclasses).

Every key has a default except the data roots, the run directory and the step count; unknown keys and
wrong types are rejected with the dotted key name (see :mod:`vjepa2_training.config_io`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from vjepa2_core.crop_defaults import AC_MAX_ASPECT, AC_MIN_ASPECT
from vjepa2_core.devices import canonical_dtype_name, resolve_device
from vjepa2_core.models import ACPredictorConfig, EncoderConfig, PredictorConfig, encoder_preset

from ..config_io import DERIVED_KEYS
from .masks import DEFAULT_MASKS, MaskSpec
from .schedules import WarmupStableDecay

T = TypeVar("T")

TRAINING_PRECISIONS = ("bfloat16", "float32")


DERIVED_REASON = "from data.crop_size, the encoder, RGB frames and the 7-D state/action convention"
# Fields of core's model configs that a training config does not set: they follow from the data (crop size,
# RGB frames, the 7-D state/action convention, no camera extrinsics) or from the encoder the predictor reads.
ENCODER_DERIVED = ("img_size", "in_chans", "name")
PREDICTOR_DERIVED = ("enc_embed_dim", "patch_size", "tubelet_size", "img_size")
AC_PREDICTOR_DERIVED = (
    "enc_embed_dim",
    "grid_h",
    "grid_w",
    "action_dim",
    "state_dim",
    "extrinsics_dim",
    "use_extrinsics",
)


def model_section(core_config: type[T], derived: tuple[str, ...], doc: str) -> type:
    """A YAML section holding every field of ``core_config`` (same names, types and defaults) except ``derived``.

    Its ``build(**derived_values)`` returns the core config; ``validate()`` runs the core config's own checks.
    This is the one mapping between a training config's model keys and vjepa2_core's model configs.
    """
    hints = typing.get_type_hints(core_config)
    own = [
        (f.name, hints[f.name], field(default=f.default))
        for f in dataclasses.fields(core_config)
        if f.init and f.name not in derived
    ]

    def build(self: Any, **values: Any) -> T:
        return core_config(**{name: getattr(self, name) for name, _, _ in own}, **values)

    def validate(self: Any) -> None:
        build(self)  # core's checks (e.g. embed_dim divisible by num_heads) raise ValueError

    name = f"{core_config.__name__.removesuffix('Config')}Spec"
    reason = f"vjepa2-pretrain / vjepa2-train-ac set it ({DERIVED_REASON})"
    namespace = {"build": build, "validate": validate, "__doc__": doc, DERIVED_KEYS: dict.fromkeys(derived, reason)}
    section = dataclasses.make_dataclass(name, own, namespace=namespace)
    section.__module__ = __name__
    return section


_EncoderSizes = model_section(EncoderConfig, ENCODER_DERIVED, "Encoder sizes (the fields of EncoderConfig).")


@dataclass
class EncoderSpec(_EncoderSizes):
    """Encoder size: a released ``preset`` (vit_large, vit_huge, vit_giant, ...) or explicit sizes (the fields of
    ``vjepa2_core.models.EncoderConfig`` except ``img_size``, which is ``data.crop_size``)."""

    preset: str | None = None

    def validate(self) -> None:
        if self.preset is None:
            super().validate()
            return
        encoder_preset(self.preset)  # unknown names raise ValueError listing the presets
        changed = [f.name for f in dataclasses.fields(_EncoderSizes) if getattr(self, f.name) != f.default]
        if changed:
            raise ValueError(f"preset {self.preset!r} fixes the encoder's sizes: remove {changed} or the preset")

    def build(self, img_size: int) -> EncoderConfig:
        """The encoder's config for ``img_size`` pixel frames."""
        if self.preset:
            return encoder_preset(self.preset, img_size=img_size)
        return super().build(img_size=img_size)


PredictorSpec = model_section(
    PredictorConfig,
    PREDICTOR_DERIVED,
    "Pretraining (mask-token) predictor size: the fields of ``vjepa2_core.models.PredictorConfig`` except the "
    "encoder's width and token grid (V-JEPA 2: 384 wide, 12 deep, 12 heads, 10 mask tokens).",
)


@dataclass
class OptimSpec:
    """AdamW + warmup/stable/decay LR schedule (see :class:`~vjepa2_training.train.schedules.WarmupStableDecay`)."""

    lr: float = 5.25e-4
    start_lr: float = 1e-4
    final_lr: float = 1e-6
    warmup_steps: int = 12000
    decay_steps: int = 0
    weight_decay: float = 0.04
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float | None = None

    def validate(self) -> None:
        if self.weight_decay < 0:
            raise ValueError("weight_decay must be >= 0")
        if not (0 <= self.betas[0] < 1 and 0 <= self.betas[1] < 1):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError("grad_clip must be > 0 or null")

    def schedule(self, total_steps: int) -> WarmupStableDecay:
        """The LR schedule of a run with ``total_steps`` steps (validated)."""
        sched = WarmupStableDecay(
            total_steps, self.warmup_steps, self.decay_steps, self.start_lr, self.lr, self.final_lr
        )
        sched.validate()
        return sched


@dataclass
class RunSpec:
    """Where and how long to train, and how to checkpoint/log.

    ``batch_size`` is the GLOBAL batch (split evenly over torchrun processes). ``device``: auto, cpu, cuda,
    cuda:N or mps (``vjepa2_core.devices``; it must exist here). ``precision: bf16`` (or bfloat16) runs the
    forward pass under bfloat16 autocast, ``fp32`` (float32) does not. ``deterministic`` turns on torch's
    deterministic algorithms (bit-exact resume on CPU; slower on GPU). ``eval_every`` > 0 logs the loss on a
    fixed held-out batch (column ``fixed_loss``) at step 0, every ``eval_every`` steps and at the end.
    """

    run_dir: str
    total_steps: int
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"
    precision: str = "bf16"
    deterministic: bool = False
    threads: int | None = None
    num_workers: int = 2
    checkpoint_every: int = 1000
    keep_checkpoints: int = 0
    eval_every: int = 0
    tensorboard: bool = True

    def validate(self) -> None:
        if self.total_steps < 1 or self.batch_size < 1:
            raise ValueError("total_steps and batch_size must be >= 1")
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        if min(self.keep_checkpoints, self.eval_every, self.num_workers) < 0:
            raise ValueError("keep_checkpoints, eval_every and num_workers must be >= 0")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be >= 1 or null")
        if canonical_dtype_name(self.precision) not in TRAINING_PRECISIONS:
            raise ValueError(f"precision must be bf16 (bfloat16) or fp32 (float32), got {self.precision!r}")
        resolve_device(self.device)  # a device this machine lacks (cuda without a GPU) is a config error


@dataclass
class PretrainData:
    """Clips for masked-latent pretraining, with random-resized-crop augmentation."""

    roots: list[str]
    frames_per_clip: int = 16
    clip_stride: int = 1
    frame_step: int = 1
    crop_size: int = 256
    crop_scale: tuple[float, float] = (0.3, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 1.35)
    hflip: bool = True

    def validate(self) -> None:
        if not self.roots:
            raise ValueError("roots must list at least one converted dataset directory")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ValueError(f"crop_ratio must satisfy 0 < low <= high, got {self.crop_ratio}")


@dataclass
class EMASpec:
    """Target-encoder EMA momentum, linear from ``start`` to ``end`` (V-JEPA 2: constant 0.99925)."""

    start: float = 0.99925
    end: float = 0.99925

    def validate(self) -> None:
        if not (0 <= self.start <= 1 and 0 <= self.end <= 1):
            raise ValueError("EMA momenta must lie in [0, 1]")


@dataclass
class InitSpec:
    """Optional warm start before step 0 (ignored when the run resumes from its own checkpoint).

    ``source: run``: a run directory or checkpoint of the same kind (vjepa2-pretrain / vjepa2-train-ac).
    ``source: core``: weights ``vjepa2_core.checkpoint`` reads: an official ``.pt`` (``vitl.pt`` ... for
    pretraining, ``vjepa2-ac-vitg.pt`` for AC), an HF directory or an export.
    """

    checkpoint: str | None = None
    source: Literal["run", "core"] = "run"


@dataclass
class PretrainConfig:
    """``vjepa2-pretrain`` configuration."""

    data: PretrainData
    run: RunSpec
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    predictor: PredictorSpec = field(default_factory=PredictorSpec)
    masks: list[MaskSpec] = field(default_factory=lambda: list(DEFAULT_MASKS))
    optim: OptimSpec = field(default_factory=OptimSpec)
    ema: EMASpec = field(default_factory=EMASpec)
    init: InitSpec = field(default_factory=InitSpec)

    def validate(self) -> None:
        if not self.masks:
            raise ValueError("masks must list at least one mask generator")
        for spec in self.masks:
            spec.validate()
        if self.data.crop_size % self.encoder.patch_size:
            raise ValueError(
                f"data.crop_size {self.data.crop_size} must be a multiple of encoder.patch_size "
                f"{self.encoder.patch_size}"
            )
        if self.data.frames_per_clip % self.encoder.tubelet_size:
            raise ValueError(
                f"data.frames_per_clip {self.data.frames_per_clip} must be a multiple of "
                f"encoder.tubelet_size {self.encoder.tubelet_size}"
            )
        try:
            self.optim.schedule(self.run.total_steps)
        except ValueError as err:
            raise ValueError(f"optim (with run.total_steps={self.run.total_steps}): {err}") from None


@dataclass
class ACData:
    """Clips for AC post-training; frames get core's ``ACFrameTransform`` (the perception node's ``ac``
    preprocessing): only frames wider than ``crop_aspect`` (or taller than 0.75) are centre-cropped."""

    roots: list[str]
    frames_per_clip: int = 8
    clip_stride: int = 1
    frame_step: int = 1
    crop_size: int = 256
    crop_aspect: float = AC_MAX_ASPECT

    def validate(self) -> None:
        if not self.roots:
            raise ValueError("roots must list at least one converted dataset directory")
        if self.crop_aspect < AC_MIN_ASPECT:
            raise ValueError(
                f"crop_aspect must be >= {AC_MIN_ASPECT} (the AC transform's min aspect), got {self.crop_aspect}"
            )


@dataclass
class FrozenEncoderSpec:
    """The frozen encoder: a ``vjepa2-pretrain`` checkpoint (its EMA target encoder) or any checkpoint
    ``vjepa2_core.checkpoint.load_encoder`` reads (official ``.pt``, exported directory)."""

    checkpoint: str
    source: Literal["pretrain_run", "core"] = "pretrain_run"


@dataclass
class FeatureCacheSpec:
    """Cache the frozen encoder's frame features on disk (computed once, then training reads them)."""

    enabled: bool = False
    dir: str | None = None  # default: <run_dir>/feature_cache
    dtype: str = "bf16"  # any vjepa2_core.devices spelling: bf16 | bfloat16 | fp16 | float16 | fp32 | float32

    def validate(self) -> None:
        canonical_dtype_name(self.dtype)


ACPredictorSpec = model_section(
    ACPredictorConfig,
    AC_PREDICTOR_DERIVED,
    "AC predictor size: the fields of ``vjepa2_core.models.ACPredictorConfig`` except the encoder's width and "
    "token grid and the 7-D state/action layout (V-JEPA 2-AC: 1024 wide, 24 deep, 16 heads).",
)


@dataclass
class ACLossSpec:
    """Teacher forcing + ``rollout_steps``-step rollout; ``rollout: corrected`` seeds the rollout with the
    predicted frame 1 (upstream fix of 2025-06-20), ``original`` with the predicted frame 2 (pre-fix code)."""

    rollout_steps: int = 2
    rollout: Literal["corrected", "original"] = "corrected"

    def validate(self) -> None:
        if self.rollout_steps < 1:
            raise ValueError("rollout_steps must be >= 1")


def _ac_optim() -> OptimSpec:
    return OptimSpec(lr=4.25e-4, start_lr=7.5e-5, final_lr=0.0, warmup_steps=4500, decay_steps=4500)


@dataclass
class ACConfig:
    """``vjepa2-train-ac`` configuration."""

    data: ACData
    encoder: FrozenEncoderSpec
    run: RunSpec
    predictor: ACPredictorSpec = field(default_factory=ACPredictorSpec)
    loss: ACLossSpec = field(default_factory=ACLossSpec)
    optim: OptimSpec = field(default_factory=_ac_optim)
    feature_cache: FeatureCacheSpec = field(default_factory=FeatureCacheSpec)
    init: InitSpec = field(default_factory=InitSpec)

    def validate(self) -> None:
        needed = self.loss.rollout_steps + 1
        if self.data.frames_per_clip < needed:
            raise ValueError(
                f"data.frames_per_clip ({self.data.frames_per_clip}) must be >= loss.rollout_steps + 1 ({needed})"
            )
        try:
            self.optim.schedule(self.run.total_steps)
        except ValueError as err:
            raise ValueError(f"optim (with run.total_steps={self.run.total_steps}): {err}") from None
