"""The shared nodes: image_publisher sources, /diagnostics, and one clear line for a bad configuration."""

from __future__ import annotations

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image

from vjepa2_common.diagnostics import ERROR, OK, DiagnosticsPublisher, LatencyStats, RateMeter
from vjepa2_common.image import image_to_rgb
from vjepa2_common.qos import qos_from_name
from vjepa2_common.testing import RosHarness
from vjepa2_common.tools.image_publisher import test_pattern


def test_image_publisher_plays_a_folder_of_images(launcher, ros: RosHarness, tmp_path) -> None:
    frames = [np.full((24, 40, 3), (10 * i, 50, 200 - i), np.uint8) for i in range(3)]
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), rgb[:, :, ::-1])
    received = ros.collect(Image, "image", qos_from_name("sensor_data"))
    launcher.node(
        "vjepa2_common", "image_publisher", params={"source": str(tmp_path), "rate_hz": 50.0, "frame_id": "cam"}
    )
    messages = received.wait_for(6)
    decoded = [image_to_rgb(m) for m in messages]
    assert all(m.header.frame_id == "cam" for m in messages)
    assert all(any(np.array_equal(d, f) for f in frames) for d in decoded)


def test_pattern_moves() -> None:
    assert not np.array_equal(test_pattern(0, 8, 8), test_pattern(1, 8, 8))
    assert np.array_equal(test_pattern(3, 8, 8), test_pattern(3, 8, 8))


def test_bad_configuration_ends_with_one_clear_line(launcher) -> None:
    proc = launcher.node("vjepa2_common", "image_publisher", params={"source": "/nonexistent/cam.png"})
    assert proc.proc.wait(30) == 2
    out = proc.output()
    assert "error: cannot read image '/nonexistent/cam.png'" in out and "Traceback" not in out

    proc = launcher.node("vjepa2_common", "image_publisher", params={"rate_hz": 5000.0})
    assert proc.proc.wait(30) == 2
    assert "rate_hz" in proc.output() and "Traceback" not in proc.output()


def test_diagnostics_are_published(ros: RosHarness) -> None:
    received = ros.collect(DiagnosticArray, "/diagnostics")
    diag = DiagnosticsPublisher(ros.node, hardware_id="cpu", period_s=0.05)
    diag.add("camera", lambda: (OK, "streaming", {"rate_hz": 30.0}))
    diag.add("broken", lambda: 1 / 0)
    (array, *_) = received.wait_for(1)
    camera, broken = array.status
    assert camera.name.endswith(": camera") and camera.level == OK and camera.values[0].value == "30.0"
    assert broken.level == ERROR and broken.message.startswith("status function failed")


def test_rate_and_latency_statistics() -> None:
    meter = RateMeter(window_s=10.0)
    for i in range(11):
        meter.tick(now=100.0 + i * 0.1)
    assert abs(meter.rate(now=101.0) - 10.0) < 1e-6
    stats = LatencyStats()
    for ms in range(1, 101):
        stats.add(ms / 1000)
    assert abs(stats.percentile(50) - 0.050) <= 0.001 and abs(stats.percentile(95) - 0.095) <= 0.001


def test_missing_or_unparsable_params_file_is_one_line_and_exit_2(launcher, tmp_path) -> None:
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("image_publisher: {ros__parameters: [unclosed\n")
    for path, expected in (
        (tmp_path / "missing.yaml", "does not exist"),
        (garbage, "cannot parse parameter file"),
        (tmp_path, "is not a regular file"),
    ):
        proc = launcher.node("vjepa2_common", "image_publisher", params_file=path)
        assert proc.proc.wait(30) == 2
        lines = [line for line in proc.output().splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0] and str(path) in lines[0], proc.output()


def test_unknown_parameter_file_keys_are_named_in_one_warning(launcher, ros: RosHarness, tmp_path) -> None:
    params = tmp_path / "camera.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    rate_hz: 20.0\n    rate_hzz: 5.0\n"
        "image_publisher:\n  ros__parameters:\n    pattern: {size: 3}\n"
        "other_node:\n  ros__parameters:\n    not_for_us: 1\n"
    )
    received = ros.collect(Image, "image", qos_from_name("sensor_data"))
    proc = launcher.node("vjepa2_common", "image_publisher", params_file=params)
    received.wait_for(1)  # up and publishing despite the unknown keys
    proc.wait_for_output("unknown parameter", 30.0)
    (warning,) = [line for line in proc.output().splitlines() if "unknown parameter" in line]
    assert "rate_hzz, pattern.size" in warning and "not_for_us" not in warning and "rate_hz," not in warning
