"""V-JEPA 2-AC predictor: reference semantics, block causality, prefixes, KV cache, batch broadcasting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vjepa2_core.models import ACKVCache, ACPredictor, ACPredictorConfig, block_causal_mask, rope_axis_dim

TINY = dict(enc_embed_dim=48, embed_dim=64, depth=2, num_heads=4, grid_h=2, grid_w=2)


def _randomize(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(
                1.0 + 0.1 * torch.randn_like(p)
                if "norm" in name and name.endswith("weight")
                else 0.1 * torch.randn_like(p)
            )


def _model(**kw) -> ACPredictor:
    m = ACPredictor(ACPredictorConfig(**{**TINY, **kw})).eval()
    _randomize(m)
    return m


def _inputs(batch: int, steps: int, cfg: ACPredictorConfig):
    return (
        torch.randn(batch, steps * cfg.tokens_per_frame, cfg.enc_embed_dim),
        torch.randn(batch, steps, cfg.action_dim),
        torch.randn(batch, steps, cfg.state_dim),
    )


# ---------------------------------------------------------------- an independent, naive reference
def _rotate_segment(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Reference RoPE of one axis segment, from the documented formula (tiled angles, adjacent pairs)."""
    size = x.shape[-1]
    freq = 1.0 / 10000 ** (torch.arange(size // 2, dtype=torch.float32) / (size / 2.0))
    ang = pos.float()[:, None] * freq  # [N, size/2]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
    return x * cos + rotated * sin


def _reference_forward(model: ACPredictor, frames, actions, states) -> torch.Tensor:
    """Token-by-type loop version of the released AC predictor (no fused tables, explicit mask)."""
    cfg = model.cfg
    b, steps = actions.shape[:2]
    npf, heads, hd = cfg.tokens_per_frame, cfg.num_heads, cfg.head_dim
    seg = rope_axis_dim(hd)
    x = model.predictor_embed(frames).view(b, steps, npf, -1)
    a = model.action_encoder(actions).unsqueeze(2)
    s = model.state_encoder(states).unsqueeze(2)
    x = torch.cat([a, s, x], dim=2).flatten(1, 2)
    tps = npf + 2
    # positions: time per token, (h, w) for frame tokens
    t_pos = torch.arange(steps).repeat_interleave(tps)
    local = torch.arange(tps).repeat(steps)
    is_frame = local >= 2
    h_pos = torch.where(is_frame, (local - 2) // cfg.grid_w, 0)
    w_pos = torch.where(is_frame, (local - 2) % cfg.grid_w, 0)
    mask = t_pos[:, None] >= t_pos[None, :]
    for blk in model.predictor_blocks:
        y = blk.norm1(x)
        qkv = blk.attn.qkv(y).view(b, -1, 3, heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]

        def rope(z: torch.Tensor) -> torch.Tensor:
            zt = _rotate_segment(z[..., :seg], t_pos)
            zh = _rotate_segment(z[..., seg : 2 * seg], h_pos)
            zw = _rotate_segment(z[..., 2 * seg : 3 * seg], w_pos)
            spatial = torch.cat([zh, zw], -1)
            spatial = torch.where(is_frame[:, None], spatial, z[..., seg : 3 * seg])  # cond tokens: time only
            return torch.cat([zt, spatial, z[..., 3 * seg :]], -1)

        att = F.scaled_dot_product_attention(rope(q), rope(k), v, attn_mask=mask)
        x = x + blk.attn.proj(att.transpose(1, 2).reshape(b, -1, cfg.embed_dim))
        x = x + blk.mlp.fc2(F.gelu(blk.mlp.fc1(blk.norm2(x))))
    x = x.view(b, steps, tps, -1)[:, :, 2:].flatten(1, 2)
    return model.predictor_proj(model.predictor_norm(x))


@pytest.mark.parametrize("steps", [1, 3])
def test_matches_reference_semantics(steps):
    model = _model()
    frames, actions, states = _inputs(2, steps, model.cfg)
    with torch.inference_mode():
        out = model(frames, actions, states)
        ref = _reference_forward(model, frames, actions, states)
    assert out.shape == frames.shape
    assert (out - ref).abs().max().item() < 1e-5


def test_block_causal_mask_shape_and_content():
    m = block_causal_mask(3, 2)
    assert m.shape == (6, 6)
    assert m[0, :2].all() and not m[0, 2:].any()  # step 0 sees only step 0
    assert m[5].all()  # last step sees everything
    assert block_causal_mask(1, 4) is None
    m2 = block_causal_mask(2, 2, past_steps=3)
    assert m2.shape == (4, 10) and m2[0, :8].all() and not m2[0, 8:].any()


def test_perturbing_a_timestep_leaves_earlier_outputs_unchanged():
    model = _model()
    cfg = model.cfg
    frames, actions, states = _inputs(1, 4, cfg)
    t, n = 2, cfg.tokens_per_frame
    f2, a2, s2 = frames.clone(), actions.clone(), states.clone()
    f2[:, t * n :] += 1.0
    a2[:, t:] += 1.0
    s2[:, t:] -= 1.0
    with torch.inference_mode():
        base, pert = model(frames, actions, states), model(f2, a2, s2)
    assert torch.allclose(base[:, : t * n], pert[:, : t * n], atol=1e-6, rtol=0)
    assert not torch.allclose(base[:, t * n :], pert[:, t * n :], atol=1e-3)
    # the action of step t alone changes step t's prediction (slot t predicts frame t + 1)
    a3 = actions.clone()
    a3[:, t] += 1.0
    with torch.inference_mode():
        only_action = model(frames, a3, states)
    assert torch.allclose(base[:, : t * n], only_action[:, : t * n], atol=1e-6, rtol=0)
    assert not torch.allclose(base[:, t * n : (t + 1) * n], only_action[:, t * n : (t + 1) * n], atol=1e-3)


def test_prefix_outputs_equal_full_clip_prefix():
    model = _model()
    frames, actions, states = _inputs(2, 4, model.cfg)
    n = model.cfg.tokens_per_frame
    with torch.inference_mode():
        full = model(frames, actions, states)
        for k in (1, 2, 3):
            part = model(frames[:, : k * n], actions[:, :k], states[:, :k])
            assert torch.allclose(part, full[:, : k * n], atol=1e-5, rtol=0)


def test_kv_cache_step_by_step_equals_full_forward():
    model = _model()
    frames, actions, states = _inputs(2, 4, model.cfg)
    n = model.cfg.tokens_per_frame
    with torch.inference_mode():
        full = model(frames, actions, states)
        out, cache = model.forward_cached(frames[:, :n], actions[:, :1], states[:, :1])
        pieces = [out]
        out, cache = model.forward_cached(frames[:, n : 3 * n], actions[:, 1:3], states[:, 1:3], cache=cache)
        pieces.append(out)  # two new steps at once (masked inside the new block)
        out, cache = model.forward_cached(frames[:, 3 * n :], actions[:, 3:], states[:, 3:], cache=cache)
        pieces.append(out)
    assert cache.num_steps == 4
    assert (torch.cat(pieces, 1) - full).abs().max().item() < 1e-5


def test_shared_batch1_cache_broadcasts_to_candidates():
    """CEM pattern: context computed once (batch 1), then many candidate actions for the next step."""
    model = _model()
    cfg = model.cfg
    n, cand = cfg.tokens_per_frame, 5
    frames, actions, states = _inputs(1, 2, cfg)
    next_actions = torch.randn(cand, 1, cfg.action_dim)
    with torch.inference_mode():
        _, cache = model.forward_cached(frames[:, :n], actions[:, :1], states[:, :1])
        assert cache.batch_size == 1
        pred, _ = model.forward_cached(frames[:, n:], next_actions, states[:, 1:], cache=cache)
        full = model(
            frames.expand(cand, -1, -1),
            torch.cat([actions[:, :1].expand(cand, -1, -1), next_actions], 1),
            states.expand(cand, -1, -1),
        )
        picked, _ = model.forward_cached(frames[:, n:], next_actions, states[:, 1:], cache=cache.expand(cand))
    assert pred.shape == (cand, n, cfg.enc_embed_dim)
    assert (pred - full[:, n:]).abs().max().item() < 1e-5
    assert torch.allclose(picked, pred)
    assert isinstance(cache.index_select(torch.tensor([0])), ACKVCache)


def test_batch_broadcasting_of_context():
    model = _model()
    frames, _, states = _inputs(1, 2, model.cfg)
    actions = torch.randn(3, 2, 7)
    with torch.inference_mode():
        out = model(frames, actions, states)
        ref = model(frames.expand(3, -1, -1), actions, states.expand(3, -1, -1))
    assert out.shape[0] == 3 and torch.allclose(out, ref, atol=1e-6)


def test_extrinsics_token():
    model = _model(use_extrinsics=True)
    frames, actions, states = _inputs(2, 2, model.cfg)
    with torch.inference_mode():
        out = model(frames, actions, states, torch.randn(2, 2, 6))
    assert out.shape == frames.shape
    with pytest.raises(ValueError, match="use_extrinsics"):
        model(frames, actions, states)
    plain = _model()
    assert "extrinsics_encoder.weight" in plain.state_dict()
    with pytest.raises(ValueError, match="use_extrinsics=False"):
        plain(frames, actions, states, torch.randn(2, 2, 6))


def test_bad_shapes_give_clear_errors():
    model = _model()
    frames, actions, states = _inputs(2, 2, model.cfg)
    with pytest.raises(ValueError, match="not a multiple of 4 tokens per frame"):
        model(frames[:, :-1], actions, states)
    with pytest.raises(ValueError, match=r"actions must be \[B, T=2, 7\]"):
        model(frames, actions[:, :1], states)
    with pytest.raises(ValueError, match="do not broadcast"):
        model(frames, actions[:1].expand(3, -1, -1), states)


def test_training_backward_through_loaded_predictor(tmp_path):
    """Loaded weights are trainable parameters and gradients flow (the training package fine-tunes AC)."""
    from vjepa2_core.checkpoint import load_ac_predictor, save_pretrained

    save_pretrained(_model(), tmp_path / "ac")
    model = load_ac_predictor(tmp_path / "ac").train()
    assert all(p.requires_grad for p in model.parameters())
    frames, actions, states = _inputs(2, 2, model.cfg)
    loss = (model(frames, actions, states) - frames).abs().mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if not n.startswith("extrinsics_encoder")}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert model.extrinsics_encoder.weight.grad is None  # unused without use_extrinsics
    assert model.predictor_blocks[0].attn.qkv.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- residual (ours; the released one is not)
def test_residual_predictor_adds_the_input_frames_and_starts_at_no_motion():
    torch.manual_seed(0)
    fresh = ACPredictor(ACPredictorConfig(**{**TINY, "residual": True})).eval()
    frames, actions, states = _inputs(2, 3, fresh.cfg)
    with torch.inference_mode():
        assert torch.equal(fresh(frames, actions, states), frames)  # zero readout at init: "nothing moves"
    model, plain = _model(residual=True), _model()
    plain.load_state_dict(model.state_dict())  # same weights, only the flag differs
    with torch.inference_mode():
        res, ref = model(frames, actions, states), plain(frames, actions, states)
    assert (res - (ref + frames)).abs().max().item() < 1e-5
    assert ACPredictorConfig.from_dict(model.cfg.to_dict()).residual is True


def test_residual_kv_cache_equals_full_forward_and_broadcasts():
    model = _model(residual=True)
    frames, actions, states = _inputs(1, 3, model.cfg)
    n, cand = model.cfg.tokens_per_frame, 4
    with torch.inference_mode():
        full = model(frames, actions, states)
        out, cache = model.forward_cached(frames[:, :n], actions[:, :1], states[:, :1])
        rest, _ = model.forward_cached(frames[:, n:], actions[:, 1:], states[:, 1:], cache=cache)
        assert (torch.cat([out, rest], 1) - full).abs().max().item() < 1e-5
        many, _ = model.forward_cached(
            frames[:, n : 2 * n], actions[:, 1:2].expand(cand, -1, -1), states[:, 1:2], cache=cache
        )
    assert many.shape == (cand, n, model.cfg.enc_embed_dim)
    assert (many - full[:, n : 2 * n]).abs().max().item() < 1e-5


def test_action_scale_equals_scaling_the_action_encoder():
    scaled, plain = _model(action_scale=20.0), _model()
    plain.load_state_dict(scaled.state_dict())
    with torch.no_grad():
        plain.action_encoder.weight.mul_(20.0)
    frames, actions, states = _inputs(2, 2, plain.cfg)
    with torch.inference_mode():
        assert (scaled(frames, actions, states) - plain(frames, actions, states)).abs().max().item() < 1e-5
