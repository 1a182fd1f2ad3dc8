"""V-JEPA 2 masked latent prediction (CLI ``vjepa2-pretrain --config x.yaml``).

Per step and per mask generator: the context encoder sees only the context tokens of each clip, the predictor
fills in the target tokens (with mask token ``g`` for generator ``g``), and the loss is the L1 distance to the
EMA target encoder's features of the full clip, layer-normed without affine parameters. Losses of the mask
generators are averaged. The target encoder follows the context encoder by EMA after every step.
"""

from __future__ import annotations

import copy
import logging
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vjepa2_core.checkpoint import CheckpointError, load_encoder, load_predictor
from vjepa2_core.models import MaskPredictor, VisionEncoder

from ..config_io import ConfigError
from ..data.datasets import ClipDataset, ClipIndex
from ..data.episodes import EpisodeStore
from ..eval.export import export_model
from .augment import RandomResizedCrop
from .checkpointing import LATEST, load_checkpoint, load_weights
from .cli import training_main
from .configs import PretrainConfig
from .distributed import DistInfo
from .masks import sample_masks
from .schedules import linear
from .trainer import Task, TrainResult, train

LOG = logging.getLogger("vjepa2_training.train.pretrain")


class _ContextModel(nn.Module):
    """Context encoder + predictor: the trained part. One forward covers every mask generator, so DDP sees
    exactly one forward and one backward per step."""

    def __init__(self, encoder: VisionEncoder, predictor: MaskPredictor) -> None:
        super().__init__()
        self.encoder = encoder
        self.predictor = predictor

    def forward(self, video: Tensor, masks: list[tuple[Tensor, Tensor]], grid_hw: tuple[int, int]) -> list[Tensor]:
        preds = []
        for g, (context_idx, target_idx) in enumerate(masks):
            tokens = self.encoder(video, token_indices=context_idx)
            preds.append(self.predictor(tokens, context_idx, target_idx, mask_index=g, grid_hw=grid_hw))
        return preds


class PretrainTask(Task):
    """Masked latent prediction with an EMA target encoder."""

    kind = "pretrain"

    def __init__(self, cfg: PretrainConfig, info: DistInfo) -> None:
        self.cfg = cfg
        self.info = info
        enc = self.encoder_config = cfg.encoder.build(img_size=cfg.data.crop_size)
        self.predictor_config = cfg.predictor.build(
            enc_embed_dim=enc.embed_dim, patch_size=enc.patch_size, tubelet_size=enc.tubelet_size, img_size=enc.img_size
        )
        self.model = _ContextModel(VisionEncoder(self.encoder_config), MaskPredictor(self.predictor_config))
        if cfg.init.checkpoint:
            self._warm_start(Path(cfg.init.checkpoint))
        self.target = copy.deepcopy(self.model.encoder).to(info.device).requires_grad_(False).eval()
        t = cfg.data.frames_per_clip // enc.tubelet_size
        self.grid = (t, cfg.data.crop_size // enc.patch_size, cfg.data.crop_size // enc.patch_size)
        self.metric_fields = (*(f"loss_mask{g}" for g in range(len(cfg.masks))), "ema")

    def _warm_start(self, path: Path) -> None:
        """Initial weights from a pretraining run or (``init.source: core``) official/HF/exported weights."""
        if self.cfg.init.source == "run":
            if path.is_dir():
                path = path / "checkpoints" / LATEST
            state = load_checkpoint(path, kind="pretrain")["models"]
            load_weights(self.model.encoder, state["target_encoder"], f"init encoder {path}")
            load_weights(self.model.predictor, state["predictor"], f"init predictor {path}")
            return
        entry = "target_encoder" if path.suffix in (".pt", ".pth") else None
        load_weights(self.model.encoder, load_encoder(path, entry=entry).state_dict(), f"init encoder {path}")
        try:
            predictor = load_predictor(path)
        except CheckpointError as err:
            LOG.warning("%s has no usable mask predictor (%s); the predictor starts from scratch", path, err)
        else:
            load_weights(self.model.predictor, predictor.state_dict(), f"init predictor {path}")

    def trainable(self) -> nn.Module:
        return self.model

    def find_unused_parameters(self) -> bool:
        # only mask tokens 0..len(masks)-1 are used; the others receive no gradient
        return self.predictor_config.num_mask_tokens > len(self.cfg.masks)

    def loss(self, batch: dict[str, Tensor], step: int, fixed: bool = False) -> tuple[Tensor, dict[str, float]]:
        video = batch["video"]
        local = video.shape[0]
        global_batch = local * self.info.world_size
        mask_step = -1 if fixed else step
        masks = sample_masks(self.cfg.masks, self.grid, global_batch, self.cfg.run.seed, mask_step)
        with torch.no_grad():
            targets = self.target(video)
            targets = F.layer_norm(targets.float(), (targets.shape[-1],))
        lo, hi = self.info.rank * local, (self.info.rank + 1) * local
        local_masks = [(c[lo:hi].to(video.device), t[lo:hi].to(video.device)) for c, t in masks]
        preds = self.ddp(video, local_masks, self.grid[1:])
        losses = []
        for pred, (_, tgt) in zip(preds, local_masks):
            wanted = torch.gather(targets, 1, tgt.unsqueeze(-1).expand(-1, -1, targets.shape[-1]))
            losses.append((pred.float() - wanted).abs().mean())
        total = torch.stack(losses).mean()
        metrics = {f"loss_mask{g}": float(v.detach()) for g, v in enumerate(losses)}
        metrics["ema"] = self.momentum(step)
        return total, metrics

    def momentum(self, step: int) -> float:
        """EMA momentum used after optimizer step ``step``."""
        return linear(self.cfg.ema.start, self.cfg.ema.end, step, self.cfg.run.total_steps)

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        m = self.momentum(step)
        online = list(self.model.encoder.parameters())
        target = list(self.target.parameters())
        torch._foreach_lerp_(target, online, 1.0 - m)

    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.model.encoder.state_dict(),
            "predictor": self.model.predictor.state_dict(),
            "target_encoder": self.target.state_dict(),
            "encoder_config": self.encoder_config.to_dict(),
            "predictor_config": self.predictor_config.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["encoder_config"] != self.encoder_config.to_dict():
            raise ConfigError(
                f"the checkpoint's encoder {state['encoder_config']} differs from the config's "
                f"{self.encoder_config.to_dict()}; use a new run_dir for a different model"
            )
        self.model.encoder.load_state_dict(state["encoder"])
        self.model.predictor.load_state_dict(state["predictor"])
        self.target.load_state_dict(state["target_encoder"])

    def export(self, run_dir: Path) -> None:
        meta = {"run_dir": str(run_dir.resolve()), "steps": self.cfg.run.total_steps, "weights": "ema_target"}
        export_model(run_dir / "export", "encoder", self.target, meta)
        export_model(run_dir / "export", "predictor", self.model.predictor, meta)


def build_dataset(cfg: PretrainConfig) -> ClipDataset:
    """Clip dataset with random-resized-crop augmentation."""
    store = EpisodeStore(cfg.data.roots)
    index = ClipIndex(store, cfg.data.frames_per_clip, cfg.data.clip_stride, cfg.data.frame_step)
    transform = RandomResizedCrop(cfg.data.crop_size, cfg.data.crop_scale, cfg.data.crop_ratio, cfg.data.hflip)
    return ClipDataset(store, index, transform)


def pretrain(cfg: PretrainConfig) -> TrainResult:
    """Run (or resume) pretraining as configured; works in one process or under torchrun."""

    def build(info: DistInfo) -> tuple[Task, ClipDataset]:
        dataset = build_dataset(cfg)
        return PretrainTask(cfg, info), dataset

    return train(cfg, build, desc="pretrain")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-pretrain``."""
    return training_main(argv, "vjepa2-pretrain", "V-JEPA 2 masked latent pretraining.", PretrainConfig, pretrain)


if __name__ == "__main__":
    sys.exit(main())
