"""The frozen encoder of V-JEPA 2-AC: loading it and turning frames into layer-normed frame tokens.

Each frame is encoded on its own as a 2-frame clip (the frame repeated once, i.e. one tubelet), as V-JEPA 2-AC
does; the per-frame tokens ``[Npf, D]`` are concatenated in time and layer-normed without affine parameters.
Optionally the features of every episode frame are computed once and cached on disk (safetensors).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor
from tqdm import tqdm

from vjepa2_core.checkpoint import load_encoder
from vjepa2_core.inference import FrameEncoder, layer_norm_tokens
from vjepa2_core.models import EncoderConfig, VisionEncoder

from .checkpointing import LATEST, load_checkpoint
from .configs import FeatureCacheSpec, FrozenEncoderSpec
from .distributed import DistInfo, barrier
from .episodes import EpisodeStore
from .fileio import atomic_write_json

LOG = logging.getLogger("vjepa2_training.frozen_encoder")
_CACHE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def load_frozen_encoder(spec: FrozenEncoderSpec, device: torch.device) -> VisionEncoder:
    """Load the encoder named by ``spec`` (eval mode, no gradients).

    ``pretrain_run``: a ``vjepa2-pretrain`` run directory or checkpoint file (its EMA target encoder).
    ``core``: anything ``vjepa2_core.checkpoint.load_encoder`` reads (official ``.pt`` -- its
    ``target_encoder`` entry, as V-JEPA 2-AC uses --, HF directory, or a run's ``export/encoder.safetensors``).
    """
    path = Path(spec.checkpoint)
    if spec.source == "core":
        entry = "target_encoder" if path.suffix in (".pt", ".pth") else None
        encoder = load_encoder(path, entry=entry)
    else:
        state, config = _pretrain_encoder_state(path)
        encoder = VisionEncoder(EncoderConfig.from_dict(config), init_weights=False)
        encoder.load_state_dict(state)
    return encoder.to(device).eval().requires_grad_(False)


def _pretrain_encoder_state(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """EMA target encoder (state, config) of a pretraining run directory or checkpoint file."""
    if path.is_dir():
        path = path / "checkpoints" / LATEST
    models = load_checkpoint(path, kind="pretrain")["models"]
    return models["target_encoder"], models["encoder_config"]


def encoder_fingerprint(spec: FrozenEncoderSpec) -> str:
    """Identifies the encoder weights for cache invalidation (file sizes and modification times)."""
    path = Path(spec.checkpoint)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    files = [f for f in files if f.suffix in (".pt", ".pth", ".safetensors", ".json", ".bin")]
    digest = hashlib.sha256(spec.source.encode())
    for f in files:
        stat = f.stat()
        digest.update(f"{f.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


@torch.no_grad()
def encode_frames(encoder: VisionEncoder, video: Tensor) -> Tensor:
    """``video [B, 3, T, H, W]`` (preprocessed) -> layer-normed tokens ``[B, T*Npf, D]``: each frame encoded on
    its own by :meth:`vjepa2_core.inference.FrameEncoder.encode_preprocessed_frames`, as the perception node does."""
    b, c, t, h, w = video.shape
    weight = next(encoder.parameters())
    frame_encoder = FrameEncoder(encoder, device=weight.device, dtype=weight.dtype)
    tokens = frame_encoder.encode_preprocessed_frames(video.permute(1, 0, 2, 3, 4).reshape(c, b * t, h, w))
    tokens = layer_norm_tokens(tokens)  # [B*T, Npf, D]
    return tokens.reshape(b, t * tokens.shape[1], tokens.shape[2])


class FeatureCache:
    """On-disk frame features of every episode: ``<dir>/<key>/<episode content key>.safetensors`` with
    ``features [T, Npf, D]`` (layer-normed). ``key`` covers the encoder weights and the frame transform."""

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory / key

    def path(self, key: str) -> Path:
        """Cache file of one episode (``key`` = :meth:`EpisodeStore.content_key`)."""
        return self.directory / f"{key}.safetensors"

    def load(self, key: str, frames: list[int] | None = None) -> Tensor:
        """Cached features ``[T, Npf, D]`` (float32) of all frames, or of ``frames`` (read without the rest)."""
        with safe_open(str(self.path(key)), framework="pt") as f:
            if frames is None:
                return f.get_tensor("features").float()
            lo, hi = min(frames), max(frames) + 1
            block = f.get_slice("features")[lo:hi]
        return block[[i - lo for i in frames]].float()

    def build(
        self,
        store: EpisodeStore,
        encoder: VisionEncoder,
        transform: Any,
        spec: FeatureCacheSpec,
        info: DistInfo,
        frames_per_batch: int = 16,
    ) -> None:
        """Compute missing entries (episodes split round-robin over ranks), then wait for every rank."""
        self.directory.mkdir(parents=True, exist_ok=True)
        mine = [i for i in range(len(store)) if i % info.world_size == info.rank]
        todo = [i for i in mine if not self.path(store.content_key(i)).is_file()]
        dtype = _CACHE_DTYPES[spec.dtype]
        for i in tqdm(todo, desc="feature cache", unit="ep", disable=not info.is_main or not todo):
            episode = store.load(i)
            chunks = []
            for start in range(0, episode.num_frames, frames_per_batch):
                idx = list(range(start, min(start + frames_per_batch, episode.num_frames)))
                video = transform(episode.frames(idx), None).to(info.device)  # [3, n, S, S]
                chunks.append(encode_frames(encoder, video.unsqueeze(0)).view(len(idx), -1, encoder.embed_dim))
            features = torch.cat(chunks).to(dtype).cpu().contiguous()
            path = self.path(store.content_key(i))
            tmp = path.with_name(f".{path.name}.tmp")
            save_file({"features": features}, str(tmp))
            tmp.replace(path)
        if info.is_main:
            atomic_write_json(self.directory / "cache_info.json", {"episodes": len(store), "dtype": spec.dtype})
        barrier(info)


def cache_key(spec: FrozenEncoderSpec, transform_desc: dict[str, Any]) -> str:
    """Directory name of the cache for this encoder and frame transform."""
    payload = json.dumps({"encoder": encoder_fingerprint(spec), "transform": transform_desc}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
