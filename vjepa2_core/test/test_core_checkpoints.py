"""Checkpoint I/O: official key layouts, our safetensors format, and the clear errors for bad checkpoints.

Official-layout files are written here the way the released ones are laid out (top-level entries,
``module.`` / ``backbone.`` prefixes, fused ``qkv``, separate ``mask_tokens.i``, ``extrinsics_encoder`` in the AC
predictor, ``classifiers[0]`` in probe files) from tiny random models; loading them must reproduce the writer's
outputs.
"""

from __future__ import annotations

import pytest
import torch

from vjepa2_core.checkpoint import (
    CheckpointError,
    check_state_dict,
    detect_format,
    infer_encoder_config,
    load_ac_predictor,
    load_classifier,
    load_encoder,
    load_predictor,
    load_pretrained,
    read_all_components,
    save_pretrained,
)
from vjepa2_core.models import (
    ACPredictor,
    ACPredictorConfig,
    AttentiveClassifier,
    ClassifierConfig,
    EncoderConfig,
    MaskPredictor,
    PredictorConfig,
    VisionEncoder,
    encoder_preset,
)

ENC = EncoderConfig(embed_dim=64, depth=2, num_heads=4, img_size=32)
PRED = PredictorConfig(enc_embed_dim=64, embed_dim=32, depth=2, num_heads=4, num_mask_tokens=3, img_size=32)
AC = ACPredictorConfig(enc_embed_dim=64, embed_dim=32, depth=2, num_heads=4, grid_h=2, grid_w=2)
CLS = ClassifierConfig(embed_dim=64, num_classes=7, num_heads=4, depth=2)


def _randomized(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def _official(sd: dict, prefix: str) -> dict:
    return {prefix + k: v.clone() for k, v in sd.items()}


@pytest.fixture
def official_pretrain_file(tmp_path):
    """Layout of vitl.pt / vitg.pt: encoder, target_encoder and predictor with ``module.backbone.`` keys."""
    enc, ema, pred = (
        _randomized(VisionEncoder(ENC)),
        _randomized(VisionEncoder(ENC)),
        _randomized(MaskPredictor(PRED)),
    )
    pred_sd = _official(pred.state_dict(), "module.backbone.")
    pred_sd["module.backbone.predictor_pos_embed"] = torch.zeros(1, 8, 32)  # vestigial, must be ignored
    ckpt = {
        "encoder": _official(enc.state_dict(), "module.backbone."),
        "target_encoder": _official(ema.state_dict(), "module.backbone."),
        "predictor": pred_sd,
        "opt": {"state": {}, "param_groups": [{"lr": 1e-4}]},
        "epoch": 10,
        "loss": 0.5,
    }
    path = tmp_path / "vitl.pt"
    torch.save(ckpt, path)
    return path, enc, ema, pred


def test_official_encoder_predictor_roundtrip(official_pretrain_file):
    path, enc, ema, pred = official_pretrain_file
    assert detect_format(path) == "official"
    video = torch.randn(2, 3, 4, 32, 48)  # non-square
    with torch.inference_mode():
        loaded = load_encoder(path, num_heads=4)
        assert torch.equal(loaded(video), enc(video))
        loaded_ema = load_encoder(path, entry="target_encoder", num_heads=4)
        assert torch.equal(loaded_ema(video), ema(video))
        p = load_predictor(path, num_heads=4, img_size=32)
        tokens = enc(video)[:, :5]
        ctx, tgt = torch.arange(5), torch.arange(5, 9)
        assert torch.equal(p(tokens, ctx, tgt, mask_index=2), pred(tokens, ctx, tgt, mask_index=2))
    assert p.cfg.num_mask_tokens == 3


def test_official_ac_file_with_module_prefix_only(tmp_path):
    """DROID-trainer layout: keys start with ``module.`` only; extrinsics_encoder must be there and load."""
    enc, ac = _randomized(VisionEncoder(ENC)), _randomized(ACPredictor(AC))
    path = tmp_path / "vjepa2-ac-vitg.pt"
    torch.save(
        {
            "encoder": _official(enc.state_dict(), "module."),
            "predictor": _official(ac.state_dict(), "module."),
            "epoch": 315,
        },
        path,
    )
    loaded = load_ac_predictor(path, num_heads=4, grid=(2, 2))
    assert torch.equal(loaded.extrinsics_encoder.weight, ac.extrinsics_encoder.weight)
    frames, actions, states = torch.randn(2, 8, 64), torch.randn(2, 2, 7), torch.randn(2, 2, 7)
    with torch.inference_mode():
        assert torch.equal(loaded(frames, actions, states), ac(frames, actions, states))
    # the pretraining-predictor loader refuses an AC predictor with a pointer to the right function
    with pytest.raises(CheckpointError, match="load_ac_predictor"):
        load_predictor(path, num_heads=4)
    # an AC predictor without extrinsics_encoder is not the released layout
    bad = _official(ac.state_dict(), "module.")
    del bad["module.extrinsics_encoder.weight"]
    torch.save({"predictor": bad}, tmp_path / "bad_ac.pt")
    with pytest.raises(CheckpointError, match="extrinsics_encoder"):
        load_ac_predictor(tmp_path / "bad_ac.pt", num_heads=4, grid=(2, 2))


def test_official_probe_file(tmp_path):
    clf = _randomized(AttentiveClassifier(CLS))
    path = tmp_path / "ssv2-vitl-16x2x3.pt"
    torch.save({"classifiers": [_official(clf.state_dict(), "module.")], "epoch": 20}, path)
    loaded = load_classifier(path, num_heads=4)
    assert loaded.cfg.depth == 2 and loaded.cfg.num_classes == 7 and loaded.cfg.layer_norm_eps == 1e-5
    tokens = torch.randn(2, 10, 64)
    with torch.inference_mode():
        assert torch.equal(loaded(tokens), clf(tokens))
    with pytest.raises(CheckpointError, match="index 3 is out of range"):
        load_classifier(path, entry="classifiers[3]", num_heads=4)


def test_missing_extra_and_misshaped_keys_are_named(tmp_path):
    enc = VisionEncoder(ENC)
    good = _official(enc.state_dict(), "module.backbone.")
    cases = {
        "missing": (
            {k: v for k, v in good.items() if "blocks.1.mlp.fc2.bias" not in k},
            r"1 missing key\(s\) \(first: blocks\.1\.mlp\.fc2\.bias\)",
        ),
        "extra": (
            {**good, "module.backbone.blocks.0.attn.q_norm.weight": torch.ones(16)},
            "unexpected key.*blocks.0.attn.q_norm.weight",
        ),
        "shape": (
            {**good, "module.backbone.norm.weight": torch.ones(65)},
            r"norm\.weight: checkpoint \[65\] vs model \[64\]",
        ),
    }
    for name, (sd, pattern) in cases.items():
        path = tmp_path / f"{name}.pt"
        torch.save({"encoder": sd}, path)
        with pytest.raises(CheckpointError, match=pattern):
            load_encoder(path, num_heads=4)
    # a pos_embed entry is ignorable
    torch.save({"encoder": {**good, "module.backbone.pos_embed": torch.zeros(1, 8, 64)}}, tmp_path / "pe.pt")
    load_encoder(tmp_path / "pe.pt", num_heads=4)


def test_wrong_files_give_clear_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a recognised checkpoint"):
        load_encoder(tmp_path / "notes.txt")
    with pytest.raises(CheckpointError, match="no such file"):
        load_encoder(tmp_path / "absent.pt")
    torch.save({"something": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(
        CheckpointError, match=r"no entry 'encoder / target_encoder'; the file has: something \(1 tensors\)"
    ):
        load_encoder(tmp_path / "other.pt")
    torch.save({"encoder": {"module.w": torch.zeros(2)}}, tmp_path / "notenc.pt")
    with pytest.raises(CheckpointError, match="not an encoder state dict"):
        load_encoder(tmp_path / "notenc.pt")
    # objects other than tensors/containers are refused by weights_only loading
    torch.save({"encoder": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="never unpickled"):
        load_encoder(tmp_path / "pickled.pt")
    # width 64 is no released size: the head count must be given
    torch.save({"encoder": VisionEncoder(ENC).state_dict()}, tmp_path / "tiny.pt")
    with pytest.raises(CheckpointError, match="pass num_heads"):
        load_encoder(tmp_path / "tiny.pt")
    (tmp_path / "cfgdir").mkdir()
    (tmp_path / "cfgdir" / "config.json").write_text('{"model_type": "vit"}')
    with pytest.raises(CheckpointError, match="model_type 'vit'"):
        load_encoder(tmp_path / "cfgdir")


def test_released_sizes_are_inferred_from_shapes(caplog):
    """ViT-g shapes (meta tensors, no memory) give the 22-head preset; the crop (256 or 384, not stored) comes
    from img_size / preset, else 256 with a warning: never from the file name."""
    with torch.device("meta"):
        vitg = VisionEncoder(encoder_preset("vit_giant"), init_weights=False).state_dict()
    cfg = infer_encoder_config(vitg, "vitg.pt")
    assert (cfg.name, cfg.num_heads, cfg.mlp_hidden, cfg.depth) == ("vit_giant", 22, 6144, 40)
    caplog.clear()
    renamed = infer_encoder_config(vitg, "vitg-384.pt")
    assert (renamed.name, renamed.img_size) == ("vit_giant", 256)
    assert "does not store the training crop" in caplog.text and "img_size=384" in caplog.text
    assert infer_encoder_config(vitg, "weights.pt", img_size=384).name == "vit_giant_384"
    assert infer_encoder_config(vitg, "weights.pt", preset="vit_giant_384").img_size == 384
    with pytest.raises(CheckpointError, match="preset 'vit_large' does not match"):
        infer_encoder_config(vitg, "vitg.pt", preset="vit_large")
    # a model of another size refuses the weights with the shapes named
    with torch.device("meta"):
        model = VisionEncoder(encoder_preset("vit_large"), init_weights=False)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        check_state_dict(model, vitg, "vitg.pt")


def test_our_format_roundtrip_dir_and_pair(tmp_path):
    enc, pred = _randomized(VisionEncoder(ENC)), _randomized(MaskPredictor(PRED))
    save_pretrained({"encoder": enc, "predictor": pred}, tmp_path / "both", metadata={"source": "test"})
    save_pretrained(enc, tmp_path / "pair" / "tiny_enc.safetensors")
    assert detect_format(tmp_path / "both") == "ours"
    assert detect_format(tmp_path / "pair" / "tiny_enc.safetensors") == "ours"
    video = torch.randn(1, 3, 2, 32, 32)
    with torch.inference_mode():
        ref = enc(video)
        assert torch.equal(load_encoder(tmp_path / "both")(video), ref)
        assert torch.equal(load_encoder(tmp_path / "pair" / "tiny_enc.safetensors")(video), ref)
        both = load_pretrained(tmp_path / "both")
        assert set(both) == {"encoder", "predictor"}
        assert torch.equal(both["encoder"](video), ref)
        bf16 = load_encoder(tmp_path / "both", dtype=torch.bfloat16, device="cpu")
        assert bf16.norm.weight.dtype == torch.bfloat16
        assert (bf16(video.bfloat16()).float() - ref).abs().max().item() < 0.1
    summary, _ = read_all_components(tmp_path / "both")
    assert {c.kind for c in summary.components} == {"encoder", "predictor"}
    with pytest.raises(CheckpointError, match="no classifier component"):
        load_classifier(tmp_path / "both")


def test_official_layout_summary(official_pretrain_file):
    path, *_ = official_pretrain_file
    summary, found = read_all_components(path, num_heads=4, predictor_num_heads=4)
    assert summary.format == "official"
    assert "target_encoder (" in summary.entries and "predictor (" in summary.entries
    kinds = {c.name: c for c in summary.components}
    assert kinds["encoder"].num_params == sum(v.numel() for v in VisionEncoder(ENC).state_dict().values())
    assert set(found) == {"encoder", "predictor"}


def test_ek100_multi_head_probe(tmp_path):
    """EK100 anticipation probes: 3 queries and verb/noun/action heads instead of ``linear``."""
    cfg = ClassifierConfig(embed_dim=64, num_heads=4, depth=2, heads={"verb": 5, "noun": 6, "action": 9})
    clf = _randomized(AttentiveClassifier(cfg))
    assert clf.cfg.num_queries == 3 and "verb_classifier.weight" in clf.state_dict()
    path = tmp_path / "ek100-vitg-384.pt"
    torch.save({"classifiers": [_official(clf.state_dict(), "module.")]}, path)
    loaded = load_classifier(path, num_heads=4)
    assert loaded.cfg.heads == {"verb": 5, "noun": 6, "action": 9}
    tokens = torch.randn(2, 10, 64)
    with torch.inference_mode():
        out, ref = loaded(tokens), clf(tokens)
    assert set(out) == {"verb", "noun", "action"} and out["noun"].shape == (2, 6)
    assert all(torch.equal(out[k], ref[k]) for k in ref)
    save_pretrained(loaded, tmp_path / "ek")
    assert load_pretrained(tmp_path / "ek").cfg.heads == cfg.heads


def test_all_released_layouts_infer_their_sizes():
    """Shapes of each released file (meta tensors): encoder presets, predictor 384/12 heads, AC 1024/16."""
    from vjepa2_core.checkpoint import infer_ac_config, infer_predictor_config

    for name, heads in (("vit_large", 16), ("vit_huge", 16), ("vit_giant", 22)):
        with torch.device("meta"):
            sd = VisionEncoder(encoder_preset(name), init_weights=False).state_dict()
            pred = MaskPredictor(PredictorConfig(enc_embed_dim=sd["norm.weight"].shape[0]), init_weights=False)
        cfg = infer_encoder_config(sd, f"{name}.pt")
        assert (cfg.name, cfg.num_heads) == (name, heads)
        pcfg = infer_predictor_config(pred.state_dict(), "vitl.pt")
        assert (pcfg.num_heads, pcfg.depth, pcfg.num_mask_tokens, pcfg.embed_dim) == (12, 12, 10, 384)
    with torch.device("meta"):
        ac = ACPredictor(ACPredictorConfig(), init_weights=False).state_dict()
    acfg = infer_ac_config(ac, "vjepa2-ac-vitg.pt")
    assert (acfg.num_heads, acfg.depth, acfg.enc_embed_dim, acfg.grid_h, acfg.extrinsics_dim) == (
        16,
        24,
        1408,
        16,
        6,
    )


def test_truncated_and_legacy_files(tmp_path):
    enc = VisionEncoder(ENC)
    torch.save({"encoder": enc.state_dict()}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    loaded = load_encoder(tmp_path / "legacy.pt", num_heads=4)  # old (non-zip) format: loaded without mmap
    assert torch.equal(loaded.norm.weight, enc.norm.weight)
    data = (tmp_path / "legacy.pt").read_bytes()
    (tmp_path / "cut-legacy.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_encoder(tmp_path / "cut-legacy.pt", num_heads=4)
    torch.save({"encoder": enc.state_dict()}, tmp_path / "zip.pt")
    data = (tmp_path / "zip.pt").read_bytes()
    (tmp_path / "cut-zip.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_encoder(tmp_path / "cut-zip.pt", num_heads=4)
