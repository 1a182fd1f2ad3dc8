"""Parity with HF transformers' ``VJEPA2Model`` / ``VJEPA2ForVideoClassification`` (a test-only dependency).

A random tiny HF model is written with ``save_pretrained`` (config.json + model.safetensors, i.e. exactly the
layout of the facebook/vjepa2-* repos) and read back through OUR HF loader; outputs must agree to 1e-5 in
fp32.
"""

from __future__ import annotations

import pytest
import torch

from vjepa2_core.checkpoint import detect_format, load_classifier, load_encoder, load_predictor

transformers = pytest.importorskip("transformers", reason="transformers is a test-only dependency")

ATOL = 1e-5


def _randomize(model: torch.nn.Module) -> None:
    """HF init leaves biases 0, LayerNorms 1, mask tokens 0: randomise everything so the mapping is tested."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.05 * torch.randn_like(p))


@pytest.fixture
def hf_dir(tmp_path, tiny_hf_config):
    model = transformers.VJEPA2Model(tiny_hf_config).eval()
    _randomize(model)
    model.save_pretrained(tmp_path / "hf")
    return tmp_path / "hf", model


@pytest.mark.parametrize("frames", [4, 2, 8, 1])
def test_encoder_matches_hf(hf_dir, frames):
    path, hf = hf_dir
    assert detect_format(path) == "hf"
    ours = load_encoder(path)
    video = torch.randn(2, frames, 3, 32, 32)  # HF layout [B, T, C, H, W]
    with torch.inference_mode():
        ref = hf.get_vision_features(video)
        out = ours(video.permute(0, 2, 1, 3, 4))
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < ATOL


def test_encoder_token_subset_matches_hf_masked_forward(hf_dir):
    """Pretraining context encoding: our encoder on a token subset vs HF attending only those tokens.

    HF's VJEPA2Model always encodes the full clip, so the HF reference here runs HF's own layers on the
    gathered
    tokens with HF's position-mask argument (its RoPE takes positions from the given indices).
    """
    path, hf = hf_dir
    ours = load_encoder(path)
    video = torch.randn(2, 4, 3, 32, 32)
    idx = torch.stack([torch.tensor([0, 2, 3, 5, 7]), torch.tensor([1, 2, 4, 6, 7])])
    with torch.inference_mode():
        x = hf.encoder.embeddings(video)
        x = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))
        for layer in hf.encoder.layer:
            x = layer(x, idx)[0]
        ref = hf.encoder.layernorm(x)
        out = ours(video.permute(0, 2, 1, 3, 4), token_indices=idx)
    assert (out - ref).abs().max().item() < ATOL


@pytest.mark.parametrize("frames", [4, 8])
def test_predictor_matches_hf(hf_dir, frames):
    path, hf = hf_dir
    enc, pred = load_encoder(path), load_predictor(path)
    video = torch.randn(2, frames, 3, 32, 32)
    n = frames // 2 * 4
    perm = torch.stack([torch.randperm(n), torch.randperm(n)])
    ctx, tgt = perm[:, : n // 2].sort(dim=1).values, perm[:, n // 2 :]
    with torch.inference_mode():
        ref = hf(video, context_mask=[ctx], target_mask=[tgt]).predictor_output.last_hidden_state
        tokens = enc(video.permute(0, 2, 1, 3, 4))
        ctx_tokens = torch.gather(tokens, 1, ctx[..., None].expand(-1, -1, tokens.shape[-1]))
        out = pred(ctx_tokens, ctx, tgt, mask_index=1)
    assert out.shape == ref.shape == (2, n - n // 2, 64)
    assert (out - ref).abs().max().item() < ATOL


def test_predictor_mask_index_selects_token(hf_dir):
    path, _ = hf_dir
    enc, pred = load_encoder(path), load_predictor(path)
    tokens = enc(torch.randn(1, 3, 4, 32, 32)).detach()
    ctx, tgt = torch.tensor([[0, 1, 2, 3]]), torch.tensor([[4, 5, 6, 7]])
    with torch.inference_mode():
        a = pred(tokens[:, :4], ctx, tgt, mask_index=1)
        b = pred(tokens[:, :4], ctx, tgt, mask_index=11)  # modulo 10 -> same token
        c = pred(tokens[:, :4], ctx, tgt, mask_index=2)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_classifier_matches_hf(tmp_path, tiny_hf_config):
    tiny_hf_config.num_labels = 5
    hf = transformers.VJEPA2ForVideoClassification(tiny_hf_config).eval()
    _randomize(hf)
    hf.save_pretrained(tmp_path / "cls")
    enc = load_encoder(tmp_path / "cls")
    clf = load_classifier(tmp_path / "cls")
    assert clf.cfg.num_heads == tiny_hf_config.num_attention_heads and clf.cfg.depth == 2
    video = torch.randn(2, 4, 3, 32, 32)
    with torch.inference_mode():
        ref = hf(video).logits
        out = clf(enc(video.permute(0, 2, 1, 3, 4)))
    assert out.shape == (2, 5)
    assert (out - ref).abs().max().item() < ATOL
