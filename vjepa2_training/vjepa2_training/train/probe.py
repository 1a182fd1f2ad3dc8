"""Attentive probes on frozen V-JEPA 2 features (CLI ``vjepa2-train-probe --config x.yaml``).

The frozen encoder turns every sampled clip (see :mod:`.probe_data`) into tokens once, exactly as the perception
node does in clip mode (eval transform, ``FrameEncoder.encode_clip``, raw tokens); then an
:class:`~vjepa2_core.models.AttentiveClassifier` learns on those tokens with the shared training loop (AdamW,
torchrun, exact resume, tqdm + CSV). At the end the validation videos are scored (softmax averaged over their
segments x views): top-1/top-5, per-class accuracy and a confusion matrix (``eval.json``, ``confusion.png``), and
the probe is exported with its label names (``export/probe.safetensors`` + ``.json``, ``export/labels.txt``),
which the perception node loads like a released probe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm import tqdm

from vjepa2_core.inference import FrameEncoder, make_transform
from vjepa2_core.models import AttentiveClassifier, ClassifierConfig

from ..config_io import ConfigError
from ..data.episodes import EpisodeStore
from ..eval.export import export_model
from ..fileio import atomic_write_json
from .cli import training_main
from .configs import FeatureCacheSpec, FrozenEncoderSpec, OptimSpec, RunSpec
from .distributed import DistInfo, barrier
from .frozen_encoder import encoder_fingerprint, load_frozen_encoder
from .probe_data import (
    FrameSource,
    LabelledVideo,
    class_names,
    clip_indices,
    read_intervals,
    scan_video_folder,
    spatial_views,
    split_videos,
)
from .trainer import Task, TrainResult, train

LOG = logging.getLogger("vjepa2_training.probe")
EVAL_FILE = "eval.json"
CONFUSION_PNG = "confusion.png"
EXPORT_NAME = "probe"
LABELS_FILE = "labels.txt"


# ----------------------------------------------------------------------------------------------- config
@dataclass
class ProbeData:
    """Labelled clips: ``labels`` (intervals file over the episodes in ``roots``) or ``video_dir``.

    Sampling defaults are the official SSv2 probe eval's (16 frames, frame step 4, 2 segments x 3 views).
    """

    labels: str | None = None
    roots: list[str] = field(default_factory=list)
    video_dir: str | None = None
    class_names: list[str] | None = None
    frames_per_clip: int = 16
    frame_step: int = 4
    num_segments: int = 2
    num_views: int = 3
    train_clips_per_segment: int = 3
    crop_size: int = 256
    val_fraction: float = 0.2
    split_seed: int = 0

    def validate(self) -> None:
        if (self.labels is None) == (self.video_dir is None):
            raise ValueError("give exactly one of data.labels (intervals file + data.roots) or data.video_dir")
        if self.labels is not None and not self.roots:
            raise ValueError("data.labels needs data.roots: the episode datasets the intervals refer to")
        if min(self.frames_per_clip, self.frame_step, self.num_segments, self.num_views) < 1:
            raise ValueError("frames_per_clip, frame_step, num_segments and num_views must be >= 1")
        if self.train_clips_per_segment < 1:
            raise ValueError("train_clips_per_segment must be >= 1")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in [0, 1), got {self.val_fraction}")


@dataclass
class ProbeSpec:
    """The probe: ``depth - 1`` self-attention blocks + the cross-attention block (official: 4 blocks, 16 heads)."""

    depth: int = 4
    num_heads: int = 16


@dataclass(frozen=True)
class CosineSchedule:
    """Linear warmup ``start_lr -> lr``, then cosine decay to ``final_lr`` (the official probe schedule)."""

    total_steps: int
    warmup_steps: int
    start_lr: float
    lr: float
    final_lr: float

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.start_lr + (self.lr - self.start_lr) * step / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return self.final_lr + 0.5 * (self.lr - self.final_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class ProbeOptimSpec(OptimSpec):
    """AdamW over ``epochs`` epochs with :class:`CosineSchedule`: ``warmup_steps`` of linear warmup, then cosine
    decay to ``final_lr`` over the rest of the run (``decay_steps`` is not used). Official probe numbers: 20 epochs,
    no warmup, decay to 0; the official config trains a grid of heads with lr in {5e-3, 3e-3, 1e-3, 3e-4, 1e-4} x
    weight decay in {0.01, 0.1, 0.4, 0.8} and reports the best; one head is trained here, lr 1e-3 / wd 0.01 by
    default."""

    epochs: int = 20
    lr: float = 1e-3
    start_lr: float = 1e-3
    final_lr: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.01

    def validate(self) -> None:
        super().validate()
        if self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        if self.decay_steps:
            raise ValueError("decay_steps is not used by the probe (cosine decay over the whole run); leave it 0")
        if min(self.lr, self.start_lr, self.final_lr) < 0:
            raise ValueError("learning rates must be >= 0")

    def schedule(self, total_steps: int) -> CosineSchedule:
        if self.warmup_steps > total_steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) exceed total_steps ({total_steps})")
        return CosineSchedule(total_steps, self.warmup_steps, self.start_lr, self.lr, self.final_lr)


@dataclass
class ProbeRunSpec(RunSpec):
    """:class:`RunSpec` whose ``total_steps`` defaults to 0 = ``optim.epochs`` epochs over the training clips."""

    total_steps: int = 0
    batch_size: int = 32
    precision: Literal["bf16", "fp32"] = "fp32"
    num_workers: int = 0

    def validate(self) -> None:
        if self.total_steps < 0:
            raise ValueError("total_steps must be >= 0 (0 = optim.epochs epochs)")
        RunSpec.validate(dataclasses.replace(self, total_steps=max(1, self.total_steps)))


@dataclass
class ProbeConfig:
    """``vjepa2-train-probe`` configuration."""

    data: ProbeData
    encoder: FrozenEncoderSpec
    run: ProbeRunSpec
    probe: ProbeSpec = field(default_factory=ProbeSpec)
    optim: ProbeOptimSpec = field(default_factory=ProbeOptimSpec)
    feature_cache: FeatureCacheSpec = field(default_factory=FeatureCacheSpec)


# ----------------------------------------------------------------------------------------------- features
@dataclass
class ClipFeatures:
    """Tokens of every sampled clip of a split: ``tokens [C, N, D]``, ``labels [C]``, ``video [C]`` (which
    labelled video each clip came from)."""

    tokens: Tensor
    labels: Tensor
    video: Tensor

    def to_tensors(self, prefix: str) -> dict[str, Tensor]:
        return {f"{prefix}.{k}": getattr(self, k).contiguous() for k in ("tokens", "labels", "video")}

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], prefix: str) -> ClipFeatures:
        return cls(*(tensors[f"{prefix}.{k}"] for k in ("tokens", "labels", "video")))


@torch.no_grad()
def encode_videos(
    encoder: FrameEncoder,
    source: FrameSource,
    videos: list[LabelledVideo],
    classes: list[str],
    data: ProbeData,
    positions: int,
    num_views: int,
    desc: str,
    show: bool,
) -> ClipFeatures:
    """Tokens of ``positions`` clips per segment x ``num_views`` views of every video (eval transform)."""
    tokens, labels, owner = [], [], []
    for i, video in enumerate(tqdm(videos, desc=desc, unit="video", disable=not show)):
        frames = source.frames(video)
        clips = clip_indices(len(frames), data.frames_per_clip, data.frame_step, data.num_segments, positions)
        batch = [view for clip in clips for view in spatial_views(frames[clip], num_views)]
        out = encoder.encode_video(encoder.transform.batch(batch))
        tokens.append(out.cpu())
        labels += [classes.index(video.label)] * len(batch)
        owner += [i] * len(batch)
    return ClipFeatures(torch.cat(tokens), torch.tensor(labels), torch.tensor(owner))


def labelled_videos(data: ProbeData) -> tuple[list[LabelledVideo], FrameSource]:
    """The labelled videos of the configured source and where their frames come from."""
    if data.labels is not None:
        store = EpisodeStore(data.roots)
        return read_intervals(data.labels, store), FrameSource(store)
    return scan_video_folder(data.video_dir), FrameSource()


def _file_digest(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def feature_key(cfg: ProbeConfig, videos: list[LabelledVideo]) -> str:
    """Cache key: encoder weights, sampling settings and the labelled videos (sources, spans, labels)."""
    data = dataclasses.asdict(cfg.data)
    sources = sorted({v.source for v in videos})
    payload = {
        "encoder": encoder_fingerprint(cfg.encoder),
        "data": {k: data[k] for k in data if k not in ("labels", "roots", "video_dir")},
        "videos": [dataclasses.astuple(v) for v in videos],
        "files": [_file_digest(Path(s)) for s in sources if Path(s).is_file()],
        "labels_file": _file_digest(Path(cfg.data.labels)) if cfg.data.labels else None,
        "dtype": cfg.feature_cache.dtype,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


_CACHE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def build_features(
    cfg: ProbeConfig, info: DistInfo
) -> tuple[list[str], list[LabelledVideo], ClipFeatures, ClipFeatures, int]:
    """(classes, val videos, train features, val features, embed dim), read from the cache when enabled."""
    videos, source = labelled_videos(cfg.data)
    classes = class_names(videos, cfg.data.class_names)
    train_videos, val_videos = split_videos(videos, cfg.data.val_fraction, cfg.data.split_seed)
    cache_path = None
    if cfg.feature_cache.enabled:
        directory = Path(cfg.feature_cache.dir or Path(cfg.run.run_dir) / "feature_cache")
        cache_path = directory / f"probe-{feature_key(cfg, videos)}.safetensors"
    if cache_path is None or not cache_path.is_file():
        if info.is_main or cache_path is None:  # with a cache, rank 0 encodes and the others read its file
            encoder = load_frozen_encoder(cfg.encoder, info.device)
            frame_encoder = FrameEncoder(
                encoder, make_transform("video", cfg.data.crop_size), device=info.device, dtype=torch.float32
            )
            views = cfg.data.num_views
            train_f = encode_videos(
                frame_encoder,
                source,
                train_videos,
                classes,
                cfg.data,
                cfg.data.train_clips_per_segment,
                1,
                "features (train)",
                info.is_main,
            )
            val_f = encode_videos(
                frame_encoder, source, val_videos, classes, cfg.data, 1, views, "features (val)", info.is_main
            )
            if cache_path is not None:
                dtype = _CACHE_DTYPES[cfg.feature_cache.dtype]
                tensors = {**train_f.to_tensors("train"), **val_f.to_tensors("val")}
                tensors = {k: v.to(dtype) if k.endswith("tokens") else v for k, v in tensors.items()}
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache_path.with_name(f".{cache_path.name}.tmp")
                save_file(tensors, str(tmp))
                tmp.replace(cache_path)
        barrier(info)
    if cache_path is not None:
        tensors = load_file(str(cache_path))
        train_f, val_f = ClipFeatures.from_tensors(tensors, "train"), ClipFeatures.from_tensors(tensors, "val")
        train_f.tokens, val_f.tokens = train_f.tokens.float(), val_f.tokens.float()
    return classes, val_videos, train_f, val_f, int(train_f.tokens.shape[-1])


class _ItemIndex:
    """The ``index`` the shared batch sampler draws from: one item per training clip."""

    def __init__(self, count: int) -> None:
        self.items = [(i, 0) for i in range(count)]

    def __len__(self) -> int:
        return len(self.items)


class FeatureDataset(torch.utils.data.Dataset):
    """Training clips' tokens and class ids for the shared loop (``ClipRef.episode`` = clip number)."""

    def __init__(self, features: ClipFeatures) -> None:
        self.features = features
        self.index = _ItemIndex(len(features.labels))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, ref: Any) -> dict[str, Tensor]:
        return {"tokens": self.features.tokens[ref.episode], "label": self.features.labels[ref.episode]}


# ----------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_probe(probe: AttentiveClassifier, features: ClipFeatures, num_videos: int, batch: int = 64) -> Tensor:
    """Per-video class probabilities ``[num_videos, C]``: the softmax averaged over the video's clips x views."""
    probe.eval()
    device = next(probe.parameters()).device
    probs = torch.cat(
        [
            probe(features.tokens[i : i + batch].to(device)).float().softmax(-1).cpu()
            for i in range(0, len(features.labels), batch)
        ]
    )
    summed = torch.zeros(num_videos, probs.shape[-1]).index_add_(0, features.video, probs)
    counts = torch.bincount(features.video, minlength=num_videos).clamp(min=1)
    return summed / counts[:, None]


def classification_report(probs: Tensor, targets: Tensor, classes: list[str]) -> dict[str, Any]:
    """Top-1 / top-k accuracy, per-class accuracy and the confusion matrix (rows = true class)."""
    k = min(5, len(classes))
    top = probs.topk(k, dim=-1).indices
    predicted = top[:, 0]
    confusion = torch.zeros(len(classes), len(classes), dtype=torch.int64)
    confusion.index_put_((targets, predicted), torch.ones_like(targets), accumulate=True)
    per_class = {
        name: (float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else None)
        for c, name in enumerate(classes)
    }
    return {
        "num_videos": len(targets),
        "top1": float((predicted == targets).float().mean()),
        f"top{k}": float((top == targets[:, None]).any(-1).float().mean()),
        "per_class": per_class,
        "classes": classes,
        "confusion": confusion.tolist(),
    }


def plot_confusion(confusion: list[list[int]], classes: list[str], path: Path, title: str) -> Path:
    """Confusion-matrix PNG (rows = true class, columns = predicted), counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..eval.plot_losses import save_figure

    matrix = np.asarray(confusion)
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(classes) <= 30:
        for (r, c), v in np.ndenumerate(matrix):
            ax.text(c, r, str(v), ha="center", va="center", color="white" if v > matrix.max() / 2 else "black")
    fig.tight_layout()
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------- task
class ProbeTask(Task):
    """Cross-entropy on the frozen tokens of labelled clips."""

    kind = "probe"
    metric_fields = ("train_acc",)

    def __init__(
        self,
        cfg: ProbeConfig,
        classes: list[str],
        embed_dim: int,
        val_videos: list[LabelledVideo],
        val_features: ClipFeatures,
    ) -> None:
        self.cfg = cfg
        self.classes = classes
        self.val_videos = val_videos
        self.val_features = val_features
        self.probe_config = ClassifierConfig(
            embed_dim=embed_dim, num_classes=len(classes), num_heads=cfg.probe.num_heads, depth=cfg.probe.depth
        )
        self.probe = AttentiveClassifier(self.probe_config)

    def trainable(self) -> nn.Module:
        return self.probe

    def loss(self, batch: dict[str, Tensor], step: int, fixed: bool = False) -> tuple[Tensor, dict[str, float]]:
        logits = self.ddp(batch["tokens"]).float()
        loss = F.cross_entropy(logits, batch["label"])
        return loss, {"train_acc": float((logits.argmax(-1) == batch["label"]).float().mean())}

    def state_dict(self) -> dict[str, Any]:
        return {"probe": self.probe.state_dict(), "probe_config": self.probe_config.to_dict(), "classes": self.classes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["probe_config"] != self.probe_config.to_dict() or list(state["classes"]) != self.classes:
            raise ConfigError(
                f"the checkpoint's probe ({state['probe_config']}, classes {list(state['classes'])}) differs from "
                "this config's; use a new run_dir for a different probe or label set"
            )
        self.probe.load_state_dict(state["probe"])

    def export(self, run_dir: Path) -> None:
        targets = torch.tensor([self.classes.index(v.label) for v in self.val_videos])
        probs = evaluate_probe(self.probe, self.val_features, len(self.val_videos))
        report = classification_report(probs, targets, self.classes)
        atomic_write_json(run_dir / EVAL_FILE, report)
        plot_confusion(
            report["confusion"],
            self.classes,
            run_dir / CONFUSION_PNG,
            f"validation: top-1 {100 * report['top1']:.1f} % ({report['num_videos']} videos)",
        )
        meta = {
            "labels": self.classes,
            "encoder": str(self.cfg.encoder.checkpoint),
            "preprocessing": "video",
            "crop_size": self.cfg.data.crop_size,
            "frames_per_clip": self.cfg.data.frames_per_clip,
            "frame_step": self.cfg.data.frame_step,
            "val_top1": report["top1"],
        }
        export_model(run_dir / "export", EXPORT_NAME, self.probe, meta)
        (run_dir / "export" / LABELS_FILE).write_text("\n".join(self.classes) + "\n")
        LOG.warning("validation top-1 %.1f %% over %d videos", 100 * report["top1"], report["num_videos"])


def train_probe(cfg: ProbeConfig) -> TrainResult:
    """Encode the labelled clips with the frozen encoder, train (or resume) the probe, evaluate and export."""

    def build(info: DistInfo) -> tuple[Task, FeatureDataset]:
        classes, val_videos, train_f, val_f, dim = build_features(cfg, info)
        if cfg.run.total_steps == 0:
            steps_per_epoch = math.ceil(len(train_f.labels) / cfg.run.batch_size)
            cfg.run.total_steps = cfg.optim.epochs * steps_per_epoch
        try:
            task = ProbeTask(cfg, classes, dim, val_videos, val_f)
        except ValueError as err:
            raise ConfigError(f"probe: {err}") from None
        return task, FeatureDataset(train_f)

    return train(cfg, build, desc="probe")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-train-probe``."""
    return training_main(
        argv, "vjepa2-train-probe", "Attentive probe on frozen V-JEPA 2 features.", ProbeConfig, train_probe
    )


if __name__ == "__main__":
    sys.exit(main())
