"""The ``vjepa2-convert`` CLI (console script and ``python -m``) and the FrameEncoder inference helper."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vjepa2_core.checkpoint import load_ac_predictor, load_encoder, load_pretrained
from vjepa2_core.convert import main as convert_main
from vjepa2_core.inference import FrameEncoder, layer_norm_tokens
from vjepa2_core.models import ACPredictor, ACPredictorConfig, EncoderConfig, VisionEncoder
from vjepa2_core.preprocessing import ACFrameTransform

ENC = EncoderConfig(embed_dim=64, depth=2, num_heads=4, img_size=32)


@pytest.fixture
def ac_file(tmp_path):
    enc = VisionEncoder(ENC).eval()
    ac = ACPredictor(ACPredictorConfig(enc_embed_dim=64, embed_dim=32, depth=1, num_heads=4, grid_h=2, grid_w=2))
    path = tmp_path / "tiny-ac.pt"
    torch.save(
        {
            "encoder": {f"module.backbone.{k}": v for k, v in enc.state_dict().items()},
            "predictor": {f"module.{k}": v for k, v in ac.eval().state_dict().items()},
        },
        path,
    )
    return path, enc, ac


def test_convert_official_ac_file(ac_file, tmp_path, capsys):
    path, enc, ac = ac_file
    rc = convert_main([str(path), str(tmp_path / "out"), "--num-heads", "4", "--predictor-heads", "4"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "format: official" in out and "encoder: encoder from encoder" in out
    assert "ac_predictor: ac_predictor from predictor" in out and "wrote encoder, ac_predictor" in out
    models = load_pretrained(tmp_path / "out")
    video = torch.randn(1, 3, 2, 32, 32)
    with torch.inference_mode():
        assert torch.equal(models["encoder"](video), enc(video))
    assert torch.equal(load_ac_predictor(tmp_path / "out").extrinsics_encoder.bias, ac.extrinsics_encoder.bias)


def test_convert_errors_and_inspect(ac_file, tmp_path, capsys):
    path, *_ = ac_file
    assert convert_main([str(path), "--inspect"]) == 1  # width 64 needs --num-heads
    assert "pass --num-heads N" in capsys.readouterr().err
    assert convert_main([str(path), "--inspect", "--num-heads", "4", "--predictor-heads", "4"]) == 0
    assert (
        convert_main(
            [
                str(path),
                str(tmp_path / "x"),
                "--num-heads",
                "4",
                "--predictor-heads",
                "4",
                "--only",
                "classifier",
            ]
        )
        == 1
    )
    assert "not in the checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_module_entry_point_and_console_script(ac_file, tmp_path):
    path, *_ = ac_file
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "vjepa2_core.convert",
            str(path),
            str(tmp_path / "m"),
            "--num-heads",
            "4",
            "--predictor-heads",
            "4",
            "--only",
            "encoder",
            "--dtype",
            "bf16",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert load_encoder(tmp_path / "m").norm.weight.dtype == torch.bfloat16
    script = shutil.which("vjepa2-convert", path=str(Path(sys.executable).parent)) or shutil.which("vjepa2-convert")
    if script is None:
        pytest.skip("vjepa2-convert console script not installed (pip install -e vjepa2_core)")
    run = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "official" in run.stdout


def test_frame_encoder_per_frame_equals_manual_duplication():
    enc = VisionEncoder(ENC).eval()
    fe = FrameEncoder(enc, ACFrameTransform(size=32))
    frames = [np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8) for i in range(3)]
    tokens = fe.encode_frames(frames)
    assert tokens.shape == (3, 4, 64) and tokens.dtype == torch.float32
    assert fe.tokens_per_frame == 4
    video = ACFrameTransform(size=32)(frames)  # [C, T, H, W]
    with torch.inference_mode():
        for t in range(3):
            ref = enc(video[:, t : t + 1].unsqueeze(0).repeat(1, 1, 2, 1, 1))
            assert torch.allclose(tokens[t], ref[0], atol=1e-6)
    chunked = FrameEncoder(enc, ACFrameTransform(size=32), max_batch=2).encode_frames(frames)
    assert torch.allclose(chunked, tokens, atol=1e-6)
    clip = fe.encode_clip(frames[:2])
    assert clip.shape == (1, 4, 64)
    z = layer_norm_tokens(tokens)
    assert torch.allclose(z.mean(-1), torch.zeros(3, 4), atol=1e-5)


def test_frame_encoder_bf16_and_autocast(ac_file):
    path, enc, _ = ac_file
    frame = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ref = FrameEncoder(enc, ACFrameTransform(size=32)).encode_frames(frame)
    fe = FrameEncoder.from_pretrained(path, transform="ac", size=32, num_heads=4, dtype=torch.bfloat16)
    assert fe.encoder.norm.weight.dtype == torch.bfloat16
    out = fe.encode_frames(frame)
    assert out.dtype == torch.float32 and (out - ref).abs().max().item() < 0.15
    amp = FrameEncoder(load_encoder(path, num_heads=4), ACFrameTransform(size=32), autocast=torch.bfloat16)
    assert (amp.encode_frames(frame) - ref).abs().max().item() < 0.15


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_frame_encoder_torch_compile():
    """The optional torch.compile path (inductor; ~15 s on 2 cores) gives the eager numbers."""
    enc = VisionEncoder(ENC).eval()
    frames = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(2)]
    ref = FrameEncoder(enc, ACFrameTransform(size=32)).encode_frames(frames)
    out = FrameEncoder(enc, ACFrameTransform(size=32), compile=True).encode_frames(frames)
    assert (out - ref).abs().max().item() < 1e-5
