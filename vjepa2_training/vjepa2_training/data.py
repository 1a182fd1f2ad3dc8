"""Clip datasets over converted episodes and a deterministic, resumable, DDP-aware batch sampler.

The sampler is a pure function of ``(seed, step)``: step ``s`` uses positions ``[s*G, (s+1)*G)`` of an endless
sequence of per-epoch permutations (G = global batch). Rank ``r`` takes its contiguous share of that global
batch. Every sample also carries its own augmentation seed derived from ``(seed, step, position)``. Hence:

* resuming at step ``s`` only needs ``s`` (no iterator state), and
* one process with global batch G sees exactly the samples, crops and masks that N processes with G/N each
  see together.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from vjepa2_core.conventions import states_to_actions

from .episodes import Episode, EpisodeStore


@dataclass(frozen=True)
class ClipRef:
    """One clip: episode index, first frame, and the seed of its augmentation."""

    episode: int
    start: int
    seed: int


class ClipIndex:
    """All windows of ``frames_per_clip`` frames (every ``frame_step``-th frame) starting every ``stride``."""

    def __init__(self, store: EpisodeStore, frames_per_clip: int, stride: int = 1, frame_step: int = 1) -> None:
        if frames_per_clip < 1 or stride < 1 or frame_step < 1:
            raise ValueError("frames_per_clip, stride and frame_step must be >= 1")
        self.frames_per_clip = frames_per_clip
        self.frame_step = frame_step
        span = (frames_per_clip - 1) * frame_step + 1
        self.items: list[tuple[int, int]] = [
            (e, s) for e in range(len(store)) for s in range(0, store.num_frames(e) - span + 1, stride)
        ]
        if not self.items:
            longest = max((store.num_frames(e) for e in range(len(store))), default=0)
            raise ValueError(
                f"no episode is long enough for clips of {frames_per_clip} frames with frame_step "
                f"{frame_step} (needs {span} frames; the longest episode has {longest}). Record longer "
                "episodes or use shorter clips."
            )

    def __len__(self) -> int:
        return len(self.items)

    def frame_indices(self, start: int) -> list[int]:
        """Frame indices of the clip starting at ``start``."""
        return [start + i * self.frame_step for i in range(self.frames_per_clip)]


def mix_seed(*keys: int) -> int:
    """Deterministic 63-bit seed from integer keys (stable across processes and Python versions)."""
    seed = 0x2545F4914F6CDD1D
    for key in keys:
        seed = (seed * 6364136223846793005 + int(key) + 1442695040888963407) % (2**63 - 1)
    return seed


class GlobalBatchSampler(Sampler[list[ClipRef]]):
    """Yields this rank's share of each global batch, for steps ``start_step .. total_steps - 1``."""

    def __init__(
        self,
        index: ClipIndex,
        global_batch: int,
        seed: int,
        total_steps: int,
        start_step: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if global_batch % world_size:
            raise ValueError(
                f"global batch {global_batch} is not divisible by the {world_size} processes; "
                "choose a batch size that is a multiple of the world size"
            )
        self.index = index
        self.global_batch = global_batch
        self.local_batch = global_batch // world_size
        self.seed = seed
        self.total_steps = total_steps
        self.start_step = start_step
        self.rank = rank
        self._perms: dict[int, Tensor] = {}

    def _permutation(self, epoch: int) -> Tensor:
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch, 0xE70C))
            self._perms = {epoch: torch.randperm(len(self.index), generator=gen)}
        return self._perms[epoch]

    def global_batch_refs(self, step: int) -> list[ClipRef]:
        """All clips of the global batch at ``step``."""
        n = len(self.index)
        refs = []
        for k in range(self.global_batch):
            position = step * self.global_batch + k
            item = int(self._permutation(position // n)[position % n])
            episode, start = self.index.items[item]
            refs.append(ClipRef(episode, start, mix_seed(self.seed, step, k)))
        return refs

    def batch_for_step(self, step: int) -> list[ClipRef]:
        """This rank's part of the global batch at ``step``."""
        refs = self.global_batch_refs(step)
        return refs[self.rank * self.local_batch : (self.rank + 1) * self.local_batch]

    def __iter__(self) -> Iterator[list[ClipRef]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch_for_step(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)


class _EpisodeCache:
    """Small per-process LRU cache of loaded (still JPEG-encoded) episodes."""

    def __init__(self, store: EpisodeStore, size: int = 8) -> None:
        self.store = store
        self.size = size
        self._items: OrderedDict[int, Episode] = OrderedDict()

    def get(self, index: int) -> Episode:
        if index in self._items:
            self._items.move_to_end(index)
        else:
            self._items[index] = self.store.load(index)
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return self._items[index]


class ClipDataset(Dataset):
    """Map-style dataset: ``ClipRef -> {"video": [3, T, S, S], "states": [T, 7], "actions": [T-1, 7]}``.

    ``transform(clip_uint8 [T, H, W, 3], generator) -> [3, T, S, S]``. Actions are the recorded deltas between
    the clip's consecutive frames (re-derived when ``frame_step`` > 1 would skip frames).
    """

    def __init__(self, store: EpisodeStore, index: ClipIndex, transform) -> None:
        self.store = store
        self.index = index
        self.transform = transform
        self._cache: _EpisodeCache | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, ref: ClipRef) -> dict[str, Tensor]:
        if self._cache is None:  # created lazily so that each DataLoader worker has its own
            self._cache = _EpisodeCache(self.store)
        episode = self._cache.get(ref.episode)
        frames = self.index.frame_indices(ref.start)
        states = episode.states[frames].astype(np.float32)
        if self.index.frame_step == 1:
            actions = episode.actions[frames[:-1]]
        else:
            actions = states_to_actions(episode.states[frames].astype(np.float64))
        return {
            **self.observation(ref, episode, frames),
            "states": torch.from_numpy(np.ascontiguousarray(states)),
            "actions": torch.from_numpy(np.ascontiguousarray(actions, dtype=np.float32)),
        }

    def observation(self, ref: ClipRef, episode: Episode, frames: list[int]) -> dict[str, Tensor]:
        """The visual part of a sample: ``{"video": [3, T, S, S]}``."""
        gen = torch.Generator().manual_seed(ref.seed)
        return {"video": self.transform(episode.frames(frames), gen)}


class FeatureClipDataset(ClipDataset):
    """Like :class:`ClipDataset` but with cached encoder features ``{"features": [T*Npf, D]}`` instead of
    video; ``cache`` is a :class:`~vjepa2_training.frozen_encoder.FeatureCache`."""

    def __init__(self, store: EpisodeStore, index: ClipIndex, cache) -> None:
        super().__init__(store, index, transform=None)
        self.feature_cache = cache

    def observation(self, ref: ClipRef, episode: Episode, frames: list[int]) -> dict[str, Tensor]:
        features = self.feature_cache.load(self.store.content_key(ref.episode), frames)  # [T, Npf, D]
        return {"features": features.reshape(-1, features.shape[-1])}


def collate(samples: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Stack a list of samples into a batch."""
    return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}
