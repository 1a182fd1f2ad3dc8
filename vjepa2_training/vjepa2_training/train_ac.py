"""V-JEPA 2-AC post-training (CLI ``vjepa2-train-ac --config y.yaml``).

A frozen encoder turns each clip of T frames into layer-normed tokens z_0..z_{T-1}. The AC predictor is
trained with two L1 losses on layer-normed outputs, summed:

* teacher forcing: from z_0..z_{T-2}, actions a_0..a_{T-2} and states s_0..s_{T-2}, predict z_1..z_{T-1};
* rollout (``rollout_steps`` = 2 by default): starting from [z_0, ẑ_1] (ẑ_1 = teacher-forced prediction of
  frame 1; the "corrected" upstream variant) the predictor is applied recurrently with ground-truth states,
  and [ẑ_1, ẑ_2, ...] is compared with [z_1, z_2, ...]. ``rollout: original`` seeds with the teacher-forced
  prediction of frame 2 instead (the code before the upstream fix).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vjepa2_core.checkpoint import load_ac_predictor
from vjepa2_core.inference import layer_norm_tokens
from vjepa2_core.models import ACPredictor, ACPredictorConfig, VisionEncoder

from .augment import ACClipTransform
from .checkpointing import LATEST, load_checkpoint, load_weights
from .cli import training_main
from .config_io import ConfigError
from .configs import ACConfig, ACPredictorSpec
from .data import ClipDataset, ClipIndex, FeatureClipDataset
from .distributed import DistInfo
from .episodes import EpisodeStore
from .export import export_model
from .frozen_encoder import FeatureCache, cache_key, encode_frames, load_frozen_encoder
from .trainer import Task, TrainResult, train

LOG = logging.getLogger("vjepa2_training.train_ac")


def build_ac_config(spec: ACPredictorSpec, encoder: VisionEncoder, crop_size: int) -> ACPredictorConfig:
    """ACPredictorConfig for ``encoder`` at ``crop_size`` pixels."""
    grid = crop_size // encoder.cfg.patch_size
    return ACPredictorConfig(
        enc_embed_dim=encoder.embed_dim,
        embed_dim=spec.embed_dim,
        depth=spec.depth,
        num_heads=spec.num_heads,
        mlp_ratio=spec.mlp_ratio,
        grid_h=grid,
        grid_w=grid,
    )


class ACRollout(nn.Module):
    """The predictor plus the teacher-forcing and rollout passes in ONE forward (one DDP forward per step)."""

    def __init__(self, predictor: ACPredictor, rollout_steps: int, rollout: str) -> None:
        super().__init__()
        self.predictor = predictor
        self.rollout_steps = rollout_steps
        self.rollout = rollout

    def step(self, z: Tensor, actions: Tensor, states: Tensor) -> Tensor:
        """Layer-normed predictor output for frames ``z`` (one slot per frame)."""
        return layer_norm_tokens(self.predictor(z, actions, states).float())

    def forward(self, z: Tensor, actions: Tensor, states: Tensor) -> tuple[Tensor, Tensor]:
        """``z [B, T*Npf, D]`` (layer-normed), ``actions [B, T-1, 7]``, ``states [B, T, 7]`` ->
        (teacher-forced predictions of frames 1..T-1, rollout predictions of frames 1..rollout_steps)."""
        npf = self.predictor.cfg.tokens_per_frame
        z_tf = self.step(z[:, :-npf], actions, states[:, :-1])
        seed_slot = slice(0, npf) if self.rollout == "corrected" else slice(npf, 2 * npf)
        rolled = torch.cat([z[:, :npf], z_tf[:, seed_slot]], dim=1)
        for n in range(1, self.rollout_steps):
            nxt = self.step(rolled, actions[:, : n + 1], states[:, : n + 1])[:, -npf:]
            rolled = torch.cat([rolled, nxt], dim=1)
        return z_tf, rolled[:, npf:]


class ACTask(Task):
    """Teacher-forcing + rollout training of the AC predictor on a frozen encoder."""

    kind = "ac"
    metric_fields = ("loss_tf", "loss_rollout")

    def __init__(self, cfg: ACConfig, info: DistInfo, encoder: VisionEncoder) -> None:
        self.cfg = cfg
        self.info = info
        self.encoder = encoder
        self.ac_config = build_ac_config(cfg.predictor, encoder, cfg.data.crop_size)
        predictor = ACPredictor(self.ac_config)
        predictor.extrinsics_encoder.requires_grad_(False)  # unused without extrinsics; kept for the layout
        if cfg.init.checkpoint:  # fine-tune an AC run or (init.source: core) the official vjepa2-ac-vitg.pt
            path = Path(cfg.init.checkpoint)
            if cfg.init.source == "run":
                path = path / "checkpoints" / LATEST if path.is_dir() else path
                state = load_checkpoint(path, kind="ac")["models"]["predictor"]
            else:
                state = load_ac_predictor(path).state_dict()
            load_weights(predictor, state, f"init AC predictor {path}")
        self.model = ACRollout(predictor, cfg.loss.rollout_steps, cfg.loss.rollout)

    def trainable(self) -> nn.Module:
        return self.model

    def features(self, batch: dict[str, Tensor]) -> Tensor:
        """Layer-normed frame tokens of the batch (from the cache or the frozen encoder)."""
        if "features" in batch:
            return batch["features"].float()
        return encode_frames(self.encoder, batch["video"])

    def loss(self, batch: dict[str, Tensor], step: int, fixed: bool = False) -> tuple[Tensor, dict[str, float]]:
        z = self.features(batch)
        z_tf, z_ar = self.ddp(z, batch["actions"], batch["states"])
        npf = self.ac_config.tokens_per_frame
        tf_loss = (z_tf - z[:, npf:]).abs().mean()
        ar_loss = (z_ar - z[:, npf : npf + z_ar.shape[1]]).abs().mean()
        return tf_loss + ar_loss, {"loss_tf": float(tf_loss.detach()), "loss_rollout": float(ar_loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        return {"predictor": self.model.predictor.state_dict(), "predictor_config": self.ac_config.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["predictor_config"] != self.ac_config.to_dict():
            raise ConfigError(
                f"the checkpoint's AC predictor {state['predictor_config']} differs from the config's "
                f"{self.ac_config.to_dict()}; use a new run_dir for a different model"
            )
        self.model.predictor.load_state_dict(state["predictor"])

    def export(self, run_dir: Path) -> None:
        meta = {
            "frozen_encoder": {
                "checkpoint": str(Path(self.cfg.encoder.checkpoint).resolve()),
                "source": self.cfg.encoder.source,
            },
            "crop_size": self.cfg.data.crop_size,
            "crop_aspect": self.cfg.data.crop_aspect,
            "steps": self.cfg.run.total_steps,
        }
        export_model(run_dir / "export", "ac_predictor", self.model.predictor, meta)


def build_dataset(cfg: ACConfig, encoder: VisionEncoder, info: DistInfo) -> ClipDataset:
    """Clips of AC-preprocessed frames (core's ACFrameTransform), or their cached features if the cache is on."""
    store = EpisodeStore(cfg.data.roots)
    index = ClipIndex(store, cfg.data.frames_per_clip, cfg.data.clip_stride, cfg.data.frame_step)
    transform = ACClipTransform(cfg.data.crop_size, cfg.data.crop_aspect)
    if not cfg.feature_cache.enabled:
        return ClipDataset(store, index, transform)
    directory = Path(cfg.feature_cache.dir or Path(cfg.run.run_dir) / "feature_cache")
    key = cache_key(cfg.encoder, {"size": cfg.data.crop_size, "aspect": cfg.data.crop_aspect, "v": 2})
    cache = FeatureCache(directory, key)
    cache.build(store, encoder, transform, cfg.feature_cache, info)
    return FeatureClipDataset(store, index, cache)


def train_ac(cfg: ACConfig) -> TrainResult:
    """Run (or resume) AC post-training as configured; works in one process or under torchrun."""

    def build(info: DistInfo) -> tuple[Task, ClipDataset]:
        encoder = load_frozen_encoder(cfg.encoder, info.device)
        dataset = build_dataset(cfg, encoder, info)
        return ACTask(cfg, info, encoder), dataset

    return train(cfg, build, desc="train-ac")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-train-ac``."""
    return training_main(argv, "vjepa2-train-ac", "V-JEPA 2-AC post-training.", ACConfig, train_ac)


if __name__ == "__main__":
    sys.exit(main())
