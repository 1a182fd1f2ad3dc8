"""Preprocessing must equal the HF ``VJEPA2VideoProcessor`` recipe bit for bit, and the DROID (AC) recipe.

References used (HF's processor itself needs torchvision, which is not installed here):
* ``_hf_recipe`` below re-derives the processor from its documented behaviour in transformers 5.23.0
  (``TorchvisionBackend.resize`` with ``shortest_edge`` = int(crop*256/224) and the long side
  ``int(short * long / short_in)``; torchvision 0.28 ``resize_image``, which interpolates uint8 directly on
  AVX2/AVX512/ARM CPUs and otherwise resizes a float copy and rounds; ``center_crop`` offsets
  ``int((size - crop) / 2)``; fused rescale+normalise ``(x - mean/(1/255)) / (std/(1/255))`` in float32).
  Both torchvision branches are checked.
* ``test_matches_real_hf_processor`` runs the real processor in a subprocess when torchvision can be imported
  (with the ``torchvision._meta_registrations`` stub needed for the CPU-only torch here); it is skipped
  otherwise.
* The AC recipe is the DROID trainer's deterministic centre crop (aspect range [0.75, 1.35]) followed by
  ``F.interpolate(bilinear, align_corners=False)`` in float32 and the same normalisation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vjepa2_core.preprocessing as prep
from vjepa2_core.preprocessing import ACFrameTransform, VideoTransform, aspect_crop_box, frames_to_tensor

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _hf_recipe(video_thwc: np.ndarray, crop: int, native_uint8: bool) -> torch.Tensor:
    x = torch.from_numpy(video_thwc).permute(0, 3, 1, 2).contiguous()
    short = int(crop * 256 / 224)
    h, w = x.shape[-2:]
    if h <= w:
        nh, nw = short, int(short * w / h)
    else:
        nh, nw = int(short * h / w), short
    if native_uint8:
        x = F.interpolate(x, size=[nh, nw], mode="bilinear", align_corners=False, antialias=True)
    else:
        x = F.interpolate(x.float(), size=[nh, nw], mode="bilinear", align_corners=False, antialias=True)
        x = x.round_().to(torch.uint8)
    top, left = int((nh - crop) / 2.0), int((nw - crop) / 2.0)
    x = x[..., top : top + crop, left : left + crop].to(torch.float32)
    mean = torch.tensor(MEAN) * (1.0 / (1 / 255))
    std = torch.tensor(STD) * (1.0 / (1 / 255))
    x = (x - mean[:, None, None]) / std[:, None, None]
    return x.permute(1, 0, 2, 3)  # ours is [C, T, H, W]


@pytest.fixture
def video():
    return np.random.default_rng(0).integers(0, 256, size=(4, 120, 170, 3), dtype=np.uint8)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("crop", [64, 96])
def test_video_transform_bitwise_equals_hf_recipe(video, crop, native, monkeypatch):
    monkeypatch.setattr(prep, "_native_uint8_bilinear", lambda: native)
    out = VideoTransform(crop_size=crop)(video)
    assert out.dtype == torch.float32 and out.shape == (3, 4, crop, crop)
    assert torch.equal(out, _hf_recipe(video, crop, native))


def test_portrait_frames_and_default_size():
    frames = np.random.default_rng(1).integers(0, 256, size=(2, 300, 260, 3), dtype=np.uint8)
    t = VideoTransform()
    assert t.resize_size == 292
    assert torch.equal(t(frames), _hf_recipe(frames, 256, prep._native_uint8_bilinear()))
    assert VideoTransform(384).resize_size == 438


def test_input_layouts_agree(video):
    t = VideoTransform(crop_size=64)
    ref = t(video)
    as_torch = torch.from_numpy(video)
    for frames in (list(video), as_torch, as_torch.permute(0, 3, 1, 2), [as_torch[i] for i in range(4)]):
        assert torch.equal(t(frames), ref)
    one = t(video[0])
    assert one.shape == (3, 1, 64, 64) and torch.equal(one, ref[:, :1])
    assert t.batch([video, video]).shape == (2, 3, 4, 64, 64)


def test_bad_inputs_are_rejected(video):
    t = VideoTransform(crop_size=64)
    with pytest.raises(ValueError, match="uint8"):
        t(video.astype(np.float32))
    with pytest.raises(ValueError, match="x 3"):
        t(video[..., :1])
    with pytest.raises(ValueError, match="same size"):
        t([video[0], video[0, :100]])
    with pytest.raises(TypeError, match="unsupported frames type"):
        frames_to_tensor("frame.png")


def test_ac_crop_box_follows_droid_fallback():
    assert aspect_crop_box(720, 1280, 0.75, 1.35) == (0, 154, 720, 972)  # 16:9 -> full height, width 972
    assert aspect_crop_box(480, 640, 0.75, 1.35) == (0, 0, 480, 640)  # 4:3 is inside the range
    assert aspect_crop_box(640, 400, 0.75, 1.35) == (53, 0, 533, 400)  # tall -> full width
    assert aspect_crop_box(256, 256, 0.75, 1.35) == (0, 0, 256, 256)


def test_ac_frame_transform_matches_droid_recipe():
    frames = np.random.default_rng(2).integers(0, 256, size=(3, 90, 160, 3), dtype=np.uint8)
    out = ACFrameTransform(size=32)(frames)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()[..., :, 19 : 19 + 122]  # round(90*1.35)=122
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    mean, std = torch.tensor(MEAN) * 255.0, torch.tensor(STD) * 255.0
    ref = ((x - mean[:, None, None]) / std[:, None, None]).permute(1, 0, 2, 3)
    assert out.shape == (3, 3, 32, 32)
    assert torch.equal(out, ref)
    assert ACFrameTransform(size=32).batch([frames, frames]).shape == (2, 3, 3, 32, 32)


_HF_SCRIPT = textwrap.dedent(
    """
    import sys, types, json
    import numpy as np, torch
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    import torchvision  # noqa: F401
    from transformers import VJEPA2VideoProcessor
    video = np.random.default_rng(0).integers(0, 256, size=(4, 120, 170, 3), dtype=np.uint8)
    out = VJEPA2VideoProcessor(crop_size=96)(video, return_tensors="pt")["pixel_values_videos"][0]
    torch.save(out, sys.argv[1])
    """
)


def test_matches_real_hf_processor(tmp_path, video):
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util, json; print(json.dumps(importlib.util.find_spec('torchvision') "
            "is not None))",
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
    )
    if not json.loads(probe.stdout or "false"):
        pytest.skip(
            "torchvision not importable: the real HF VJEPA2VideoProcessor cannot run (recipe tests cover it)"
        )
    out_file = tmp_path / "hf.pt"
    run = subprocess.run(
        [sys.executable, "-c", _HF_SCRIPT, str(out_file)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=240,
    )
    if run.returncode != 0:
        pytest.skip(f"HF VJEPA2VideoProcessor did not run here: {run.stderr.strip().splitlines()[-1][:200]}")
    hf = torch.load(out_file, weights_only=True)  # [T, C, H, W]
    assert torch.equal(VideoTransform(crop_size=96)(video), hf.permute(1, 0, 2, 3))
