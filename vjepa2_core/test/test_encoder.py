"""Encoder semantics beyond HF parity: non-square inputs, token subsets, out_layers, images, presets, RoPE.

HF's RoPE grid is fixed to a square ``crop_size``, so non-square inputs are checked against a naive reference
written here from the documented official behaviour (positions from the actual T x Hp x Wp grid, per-axis
segments with tiled angles, q and k only).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vjepa2_core.models import (
    EncoderConfig,
    VisionEncoder,
    build_rope_tables,
    encoder_preset,
    encoder_preset_names,
    rope_axis_dim,
)

CFG = EncoderConfig(embed_dim=64, depth=2, num_heads=4, img_size=32)


def _model() -> VisionEncoder:
    m = VisionEncoder(CFG).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def _rotate(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    size = x.shape[-1]
    freq = 1.0 / 10000 ** (torch.arange(size // 2, dtype=torch.float32) / (size / 2.0))
    ang = pos.float()[..., None] * freq
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    pairs = x.unflatten(-1, (-1, 2))
    return x * cos + torch.stack([-pairs[..., 1], pairs[..., 0]], -1).flatten(-2) * sin


def _reference(model: VisionEncoder, video: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
    b, _, _, h, w = video.shape
    hp, wp = h // 16, w // 16
    x = F.conv3d(video, model.patch_embed.proj.weight, model.patch_embed.proj.bias, stride=(2, 16, 16))
    x = x.flatten(2).transpose(1, 2)
    ids = torch.arange(x.shape[1]).expand(b, -1) if idx is None else idx
    x = torch.gather(x, 1, ids[..., None].expand(-1, -1, x.shape[-1]))
    pt, ph, pw = ids // (hp * wp), (ids % (hp * wp)) // wp, ids % wp
    heads, hd = CFG.num_heads, CFG.head_dim
    s = rope_axis_dim(hd)

    def rope(z: torch.Tensor) -> torch.Tensor:  # z [B, H, N, hd]; positions [B, N] -> [B, 1, N]
        parts = [_rotate(z[..., i * s : (i + 1) * s], p[:, None]) for i, p in enumerate((pt, ph, pw))]
        return torch.cat([*parts, z[..., 3 * s :]], -1)

    for blk in model.blocks:
        qkv = blk.attn.qkv(blk.norm1(x)).view(b, -1, 3, heads, hd).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(rope(qkv[0]), rope(qkv[1]), qkv[2])
        x = x + blk.attn.proj(att.transpose(1, 2).reshape(b, -1, CFG.embed_dim))
        x = x + blk.mlp.fc2(F.gelu(blk.mlp.fc1(blk.norm2(x))))
    return model.norm(x)


@pytest.mark.parametrize("shape", [(4, 32, 48), (2, 48, 32), (6, 16, 64)])
def test_non_square_and_other_lengths_match_reference(shape):
    model = _model()
    video = torch.randn(2, 3, *shape)
    with torch.inference_mode():
        out = model(video)
    ref = _reference(model, video).detach()
    assert out.shape == (2, shape[0] // 2 * shape[1] // 16 * shape[2] // 16, 64)
    assert (out - ref).abs().max().item() < 1e-5


def test_token_subset_keeps_positions():
    model = _model()
    video = torch.randn(2, 3, 4, 32, 48)
    idx = torch.stack([torch.tensor([0, 3, 5, 6, 11]), torch.tensor([1, 2, 7, 8, 10])])
    with torch.inference_mode():
        out = model(video, token_indices=idx)
        shared = model(video, token_indices=idx[0])
    assert (out - _reference(model, video, idx).detach()).abs().max().item() < 1e-5
    assert torch.allclose(shared[0], out[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"token_indices must lie in \[0, 12\)"):
        model(video, token_indices=torch.tensor([[0, 12]] * 2))


def test_out_layers_and_images():
    model = _model()
    video = torch.randn(1, 3, 2, 32, 32)
    with torch.inference_mode():
        final = model(video)
        outs = model(video, out_layers=[0, -1])
        img = model(video[:, :, 0])  # [B, C, H, W] -> duplicated into one tubelet
        one = model(video[:, :, :1])  # T = 1 -> duplicated
        dup = model(video[:, :, :1].repeat(1, 1, 2, 1, 1))
    assert len(outs) == 2 and torch.equal(outs[1], final)
    assert not torch.allclose(outs[0], final)
    assert torch.equal(img, dup) and torch.equal(one, dup)


def test_bad_video_shapes():
    model = _model()
    with pytest.raises(ValueError, match="multiple of the tubelet size"):
        model(torch.randn(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match="multiples of the patch size"):
        model(torch.randn(1, 3, 2, 40, 32))
    with pytest.raises(ValueError, match="permuted first"):
        model(torch.randn(1, 2, 3, 32, 32))


def test_presets():
    assert encoder_preset_names() == ["vit_large", "vit_huge", "vit_giant", "vit_giant_384"]
    g = encoder_preset("vitg")
    assert (g.embed_dim, g.depth, g.num_heads, g.mlp_hidden, g.head_dim) == (1408, 40, 22, 6144, 64)
    assert encoder_preset("vitg-384").img_size == 384 and encoder_preset("vit_huge").mlp_hidden == 5120
    assert encoder_preset("vit-large").num_heads == 16
    with pytest.raises(ValueError, match="unknown encoder preset"):
        encoder_preset("vit_small")


def test_rope_tables_use_tiled_not_interleaved_angles():
    hd = 64
    cos, sin = build_rope_tables(torch.tensor([[3, 5, 7]]), hd)
    s = rope_axis_dim(hd)
    assert s == 20
    freq = 1.0 / 10000 ** (torch.arange(s // 2, dtype=torch.float32) / (s / 2))
    # time segment: channel k uses theta_(k mod 10), so channels 0 and 1 (one pair) get different angles
    assert torch.allclose(cos[0, :s], torch.cat([(3 * freq).cos()] * 2))
    assert cos[0, 0] != cos[0, 1]
    assert torch.allclose(sin[0, s : 2 * s].abs(), torch.cat([(5 * freq).sin()] * 2).abs())
    assert torch.equal(cos[0, 3 * s :], torch.ones(hd - 3 * s)) and torch.equal(
        sin[0, 3 * s :], torch.zeros(4)
    )
