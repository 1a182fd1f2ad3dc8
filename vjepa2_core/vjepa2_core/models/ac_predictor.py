"""V-JEPA 2-AC action-conditioned predictor (the world model used for planning).

Sequence layout: per timestep ``t`` the tokens ``[action_t, state_t, (extrinsics_t), frame_t tokens...]``, timesteps
concatenated in order. Attention is block-causal over timesteps (a token of timestep ``t`` sees every token of
timesteps ``0..t``), so the frame-token outputs of timestep ``t`` are the prediction of frame ``t + 1``. Frame
tokens get 3D RoPE (t, h, w); action/state/extrinsics tokens get temporal-only RoPE (time segment of each
head rotated with position ``t``, the rest left as is).

Planning: :meth:`ACPredictor.forward` broadcasts a batch of 1 (shared context frames / states) against a batch
of candidate actions. :meth:`ACPredictor.forward_cached` processes only new timesteps and reuses the keys and
values of earlier ones (a KV cache; exact because attention is block-causal), which makes an autoregressive
rollout of ``H`` steps cost ``H`` single-timestep passes instead of ``1 + 2 + ... + H`` timesteps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .blocks import Block, KVPair, init_vit_weights
from .encoder import activation_dtype
from .rope import RopeCache, RopeTables, build_rope_tables
from .transformer_config import TransformerConfig


@dataclass
class ACPredictorConfig(TransformerConfig):
    """Size of the AC predictor (released V-JEPA 2-AC: 1024 wide, 24 deep, 16 heads on ViT-g tokens).

    ``grid_h x grid_w`` is the token grid of one frame (16 x 16 for 256 px frames; e.g. 2 x 2 for tiny tests).
    """

    enc_embed_dim: int = 1408
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_hidden: int | None = None
    mlp_ratio: float = 4.0
    action_dim: int = 7
    state_dim: int = 7
    extrinsics_dim: int = 6
    use_extrinsics: bool = False
    grid_h: int = 16
    grid_w: int = 16
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-6
    #: Predict each frame's change: the output is the readout plus the input frame's tokens (ours; the released
    #: predictor is not residual). A small predictor then starts at "nothing moves" and learns only the motion.
    residual: bool = False
    #: Actions are multiplied by this before the action encoder (ours; released: 1). Deltas of a few cm are tiny
    #: inputs, and Adam moves weights at a rate independent of their input's scale: a small predictor trained on
    #: metre-scale deltas learns their effect ~20x slower than on unit-scale ones (20: 5 cm -> 1).
    action_scale: float = 1.0

    @property
    def tokens_per_frame(self) -> int:
        return self.grid_h * self.grid_w

    @property
    def cond_tokens(self) -> int:
        """Action + state (+ extrinsics) tokens per timestep."""
        return 3 if self.use_extrinsics else 2

    @property
    def tokens_per_step(self) -> int:
        return self.cond_tokens + self.tokens_per_frame


@dataclass
class ACKVCache:
    """Keys/values of every layer for the first ``num_steps`` timesteps (``[B, heads, L, head_dim]`` each).

    A cache of batch 1 is shared by (broadcast to) any batch of new timesteps.
    """

    layers: list[KVPair] = field(default_factory=list)
    num_steps: int = 0

    @property
    def batch_size(self) -> int:
        return self.layers[0][0].shape[0] if self.layers else 0

    def expand(self, batch: int) -> ACKVCache:
        """View of a batch-1 cache as ``batch`` rows (no copy)."""
        return ACKVCache(
            [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in self.layers],
            self.num_steps,
        )

    def index_select(self, rows: Tensor) -> ACKVCache:
        """Keep the given batch rows (e.g. CEM elites)."""
        return ACKVCache([(k[rows], v[rows]) for k, v in self.layers], self.num_steps)


def block_causal_mask(
    num_steps: int, tokens_per_step: int, past_steps: int = 0, device: torch.device | str | None = None
) -> Tensor | None:
    """Boolean mask (True = may attend) for ``num_steps`` new timesteps after ``past_steps`` cached ones.

    Shape ``[num_steps * tps, (past_steps + num_steps) * tps]``; ``None`` when nothing needs masking (one new
    timestep sees everything before it and itself).
    """
    if num_steps == 1:
        return None
    q_step = torch.arange(num_steps, device=device).repeat_interleave(tokens_per_step) + past_steps
    k_step = torch.arange(past_steps + num_steps, device=device).repeat_interleave(tokens_per_step)
    return q_step[:, None] >= k_step[None, :]


class ACPredictor(nn.Module):
    """Action-conditioned predictor (state-dict layout of the ``predictor`` entry of vjepa2-ac-vitg.pt)."""

    def __init__(self, cfg: ACPredictorConfig, init_weights: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.predictor_embed = nn.Linear(cfg.enc_embed_dim, cfg.embed_dim)
        self.action_encoder = nn.Linear(cfg.action_dim, cfg.embed_dim)
        self.state_encoder = nn.Linear(cfg.state_dim, cfg.embed_dim)
        # always present (as in the released checkpoint), used only with use_extrinsics
        self.extrinsics_encoder = nn.Linear(cfg.extrinsics_dim, cfg.embed_dim)
        self.predictor_blocks = nn.ModuleList(
            [
                Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_hidden, cfg.qkv_bias, cfg.layer_norm_eps)
                for _ in range(cfg.depth)
            ]
        )
        self.predictor_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.predictor_proj = nn.Linear(cfg.embed_dim, cfg.enc_embed_dim)
        self.rope_cache = RopeCache()
        self._mask_cache: dict[tuple, Tensor | None] = {}
        if init_weights:
            init_vit_weights(self, self.predictor_blocks)
            if cfg.residual:  # start at "nothing moves"
                nn.init.zeros_(self.predictor_proj.weight)
                nn.init.zeros_(self.predictor_proj.bias)

    # ---------------------------------------------------------------- helpers
    def _rope(self, num_steps: int, past_steps: int, device: torch.device, dtype: torch.dtype) -> RopeTables:
        cfg = self.cfg

        def build() -> RopeTables:
            t = torch.arange(past_steps, past_steps + num_steps, device=device)
            hh, ww = torch.meshgrid(
                torch.arange(cfg.grid_h, device=device),
                torch.arange(cfg.grid_w, device=device),
                indexing="ij",
            )
            k, n = cfg.cond_tokens, cfg.tokens_per_frame
            h = torch.cat([torch.zeros(k, dtype=torch.long, device=device), hh.reshape(-1)])
            w = torch.cat([torch.zeros(k, dtype=torch.long, device=device), ww.reshape(-1)])
            spatial = torch.cat(
                [
                    torch.zeros(k, dtype=torch.bool, device=device),
                    torch.ones(n, dtype=torch.bool, device=device),
                ]
            )
            pos = torch.stack(
                [t[:, None].expand(-1, k + n), h.expand(num_steps, -1), w.expand(num_steps, -1)], dim=-1
            ).reshape(-1, 3)
            return build_rope_tables(pos, cfg.head_dim, spatial.repeat(num_steps)).to(dtype)

        return self.rope_cache.get(("ac", num_steps, past_steps, str(device), dtype), build)

    def _mask(self, num_steps: int, past_steps: int, device: torch.device) -> Tensor | None:
        key = (num_steps, past_steps, str(device))
        if key not in self._mask_cache:
            if len(self._mask_cache) > 16:
                self._mask_cache.clear()
            self._mask_cache[key] = block_causal_mask(num_steps, self.cfg.tokens_per_step, past_steps, device)
        return self._mask_cache[key]

    def _embed_inputs(
        self, frame_tokens: Tensor, actions: Tensor, states: Tensor, extrinsics: Tensor | None
    ) -> tuple[Tensor, int]:
        """Check shapes, broadcast batches and build the interleaved token sequence ``[B, T*tps, D]``."""
        cfg = self.cfg
        if frame_tokens.ndim != 3 or frame_tokens.shape[-1] != cfg.enc_embed_dim:
            raise ValueError(
                f"frame_tokens must be [B, T*{cfg.tokens_per_frame}, {cfg.enc_embed_dim}], "
                f"got {tuple(frame_tokens.shape)}"
            )
        if frame_tokens.shape[1] % cfg.tokens_per_frame != 0:
            raise ValueError(
                f"frame_tokens has {frame_tokens.shape[1]} tokens, not a multiple of "
                f"{cfg.tokens_per_frame} tokens per frame ({cfg.grid_h}x{cfg.grid_w} grid)"
            )
        steps = frame_tokens.shape[1] // cfg.tokens_per_frame
        inputs = {"actions": (actions, cfg.action_dim), "states": (states, cfg.state_dim)}
        if cfg.use_extrinsics:
            if extrinsics is None:
                raise ValueError(
                    f"this predictor was built with use_extrinsics=True: pass extrinsics [B, T, {cfg.extrinsics_dim}]"
                )
            inputs["extrinsics"] = (extrinsics, cfg.extrinsics_dim)
        elif extrinsics is not None:
            raise ValueError("extrinsics given but the predictor was built with use_extrinsics=False")
        for name, (tensor, dim) in inputs.items():
            if tensor.ndim != 3 or tensor.shape[1] != steps or tensor.shape[2] != dim:
                raise ValueError(
                    f"{name} must be [B, T={steps}, {dim}] to match {steps} frames of tokens, got {tuple(tensor.shape)}"
                )
        batches = {frame_tokens.shape[0], *(t.shape[0] for t, _ in inputs.values())}
        batch = max(batches)
        if not batches <= {1, batch}:
            raise ValueError(
                f"batch sizes {sorted(batches)} of frame_tokens/actions/states do not broadcast "
                "(each must be 1 or the same B)"
            )
        dtype = activation_dtype(self.predictor_embed.weight)
        x = self.predictor_embed(frame_tokens.to(self.predictor_embed.weight.dtype))
        x = x.view(x.shape[0], steps, cfg.tokens_per_frame, -1)
        parts = [
            self.action_encoder(actions.to(self.action_encoder.weight.dtype) * self.cfg.action_scale).unsqueeze(2),
            self.state_encoder(states.to(self.state_encoder.weight.dtype)).unsqueeze(2),
        ]
        if cfg.use_extrinsics:
            parts.append(self.extrinsics_encoder(extrinsics.to(self.extrinsics_encoder.weight.dtype)).unsqueeze(2))
        parts.append(x)
        parts = [p.to(dtype).expand(batch, -1, -1, -1) for p in parts]
        return torch.cat(parts, dim=2).flatten(1, 2), steps

    def _readout(self, x: Tensor, steps: int) -> Tensor:
        cfg = self.cfg
        x = x.view(x.shape[0], steps, cfg.tokens_per_step, -1)[:, :, cfg.cond_tokens :].flatten(1, 2)
        return self.predictor_proj(self.predictor_norm(x))

    def _residual(self, out: Tensor, frame_tokens: Tensor) -> Tensor:
        """``out`` plus the input frames' tokens when the predictor is residual (broadcast over the batch)."""
        if not self.cfg.residual:
            return out
        return out + frame_tokens.to(out.dtype).expand(out.shape[0], -1, -1)

    # ---------------------------------------------------------------- API
    def forward(
        self, frame_tokens: Tensor, actions: Tensor, states: Tensor, extrinsics: Tensor | None = None
    ) -> Tensor:
        """Predict next-frame features for every timestep.

        frame_tokens: ``[B, T*Npf, D_enc]`` encoder tokens of T frames (layer-normed without affine, as trained).
        actions, states: ``[B, T, 7]``; extrinsics ``[B, T, 6]`` only when ``use_extrinsics``.
        Any of the inputs may have batch 1 and is then broadcast to the others' batch.
        Returns ``[B, T*Npf, D_enc]``; slot ``t`` is the predicted features of frame ``t + 1``.
        """
        x, steps = self._embed_inputs(frame_tokens, actions, states, extrinsics)
        rope = self._rope(steps, 0, x.device, x.dtype)
        mask = self._mask(steps, 0, x.device)
        for blk in self.predictor_blocks:
            x = blk(x, rope, mask)
        return self._residual(self._readout(x, steps), frame_tokens)

    def forward_cached(
        self,
        frame_tokens: Tensor,
        actions: Tensor,
        states: Tensor,
        extrinsics: Tensor | None = None,
        cache: ACKVCache | None = None,
    ) -> tuple[Tensor, ACKVCache]:
        """Like :meth:`forward` for new timesteps after the cached ones; returns (predictions, new cache).

        The inputs hold only the new timesteps (positions continue at ``cache.num_steps``). A batch-1 cache is
        broadcast to the batch of the new inputs. Equal to running :meth:`forward` on the concatenated clip and
        keeping the new timesteps' outputs.
        """
        x, steps = self._embed_inputs(frame_tokens, actions, states, extrinsics)
        past = cache.num_steps if cache is not None else 0
        if cache is not None and cache.layers and cache.batch_size not in (1, x.shape[0]):
            if x.shape[0] == 1:
                x = x.expand(cache.batch_size, -1, -1)
            else:
                raise ValueError(f"cache batch {cache.batch_size} does not broadcast with input batch {x.shape[0]}")
        rope = self._rope(steps, past, x.device, x.dtype)
        mask = self._mask(steps, past, x.device)
        new_layers: list[KVPair] = []
        for i, blk in enumerate(self.predictor_blocks):
            past_kv = cache.layers[i] if cache is not None and cache.layers else None
            x, kv = blk(x, rope, mask, past_kv=past_kv, return_kv=True)
            new_layers.append(kv)
        return self._residual(self._readout(x, steps), frame_tokens), ACKVCache(new_layers, past + steps)
