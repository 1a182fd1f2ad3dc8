"""rosbag2 -> episodes: synchronisation, states/actions, shards, resume, corrupt bags, extractors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vjepa2_core.conventions import apply_action, make_states, states_to_actions
from vjepa2_training import extractors
from vjepa2_training.bagio import BagWriter
from vjepa2_training.convert import main as convert_main
from vjepa2_training.episodes import EpisodeStore, encode_frame, load_manifest
from vjepa2_training.synthetic import pose_message

NS = 1_000_000_000
START = 1_700_000_000 * NS


def test_actions_follow_the_vjepa2_ac_definition() -> None:
    rng = np.random.default_rng(0)
    quats = Rotation.random(5, random_state=1).as_quat()
    states = make_states(rng.normal(size=(5, 3)), quats, rng.uniform(size=5))
    actions = states_to_actions(states)
    assert actions.shape == (4, 7)
    r = Rotation.from_quat(quats).as_matrix()
    for k in range(4):
        # rotation delta is R_{k+1} R_k^T as extrinsic-XYZ Euler angles; extrinsic xyz == Rz @ Ry @ Rx
        ax, ay, az = actions[k, 3:6]
        rebuilt = (
            Rotation.from_rotvec([0, 0, az]) * Rotation.from_rotvec([0, ay, 0]) * Rotation.from_rotvec([ax, 0, 0])
        ).as_matrix()
        np.testing.assert_allclose(rebuilt, r[k + 1] @ r[k].T, atol=1e-9)
        np.testing.assert_allclose(actions[k, :3], states[k + 1, :3] - states[k, :3])
        assert actions[k, 6] == pytest.approx(states[k + 1, 6] - states[k, 6])
        stepped = apply_action(states[k], actions[k])
        np.testing.assert_allclose(Rotation.from_euler("xyz", stepped[3:6]).as_matrix(), r[k + 1], atol=1e-9)
    with pytest.raises(ValueError, match=r"shape \[N, 7\]"):
        states_to_actions(np.zeros((3, 6)))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_converts_to_synchronised_episode(make_bag, sample_fn, tmp_path: Path, storage: str) -> None:
    bag = make_bag(f"run_{storage}", n=60, storage=storage)
    out = tmp_path / "dataset"
    assert convert_main([str(bag), "-o", str(out), "--fps", "4"]) == 0

    manifest = load_manifest(out)
    assert manifest["fps"] == 4.0 and manifest["frames"]["codec"] == "jpeg"
    store = EpisodeStore(out)
    assert len(store) == 1
    ep = store.load(0)
    # 60 samples at 15 Hz span 3.93 s -> 16 grid points at 4 fps
    assert ep.num_frames == 16 and store.num_frames(0) == 16
    frames = ep.frames()
    assert frames.shape == (16, 48, 64, 3)
    # every frame is the one recorded at the state's timestamp: brightness encodes the sample index
    sample_idx = np.round((ep.timestamps_ns - START) / (NS / 15)).astype(int)
    assert np.all(np.abs(ep.timestamps_ns - START - sample_idx * NS / 15) < 1e3)
    for frame, i in zip(frames, sample_idx):
        truth = sample_fn(int(i))
        assert abs(float(frame[-1, -1].mean()) - float(truth.rgb[-1, -1].mean())) < 4
        expected = make_states(truth.position[None], truth.quat_xyzw[None], [truth.gripper])[0]
        got = ep.states[list(sample_idx).index(i)]
        np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(ep.actions, states_to_actions(ep.states.astype(np.float64)), atol=1e-5)
    spacing = np.diff(ep.timestamps_ns) / NS
    assert np.all(np.abs(spacing - 0.25) <= 1 / 15)

    report = json.loads((out / "report.json").read_text())
    entry = report["sources"][0]
    assert entry["status"] == "ok" and entry["dropped_frames"]["total"] == 0
    assert entry["streams"]["camera"]["rate_hz"] == pytest.approx(15.0, rel=1e-3)


def test_resume_skips_converted_bags_and_redoes_changed_ones(make_bag, tmp_path: Path) -> None:
    bags = [make_bag("a", n=30), make_bag("b", n=30)]
    out = tmp_path / "ds"
    assert convert_main([str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out)]) == 0
    first = {e["id"]: (out / e["file"]).stat().st_mtime_ns for e in load_manifest(out)["episodes"]}
    assert set(first) == {"a", "b"}

    shutil.rmtree(bags[1])
    make_bag("b", n=40)  # a changed recording under the same name
    assert convert_main([str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    statuses = {Path(s["source"]).name: s for s in report["sources"]}
    assert "skipped" in statuses["a"] and statuses["a"]["status"] == "ok"
    assert "skipped" not in statuses["b"]
    second = {e["id"]: (out / e["file"]).stat().st_mtime_ns for e in load_manifest(out)["episodes"]}
    assert second["a"] == first["a"] and second["b"] != first["b"]
    with pytest.raises(SystemExit):  # a different fps cannot be mixed into the same dataset
        convert_main([str(tmp_path / "a"), "-o", str(out), "--fps", "5"])


def test_truncated_and_unfinished_bags_are_reported_and_skipped(make_bag, tmp_path: Path, capsys) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    good = make_bag("inputs/good", n=30)
    truncated = make_bag("inputs/truncated", n=30)
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    truncated_db = make_bag("inputs/truncated_db", n=30, storage="sqlite3")
    db = next(truncated_db.glob("*.db3"))
    db.write_bytes(db.read_bytes()[:4096])
    killed = make_bag("inputs/killed", n=30)  # like a recorder killed with SIGKILL: no metadata.yaml
    (killed / "metadata.yaml").unlink()
    good2 = make_bag("inputs/zgood", n=30, storage="sqlite3")

    out = tmp_path / "ds"
    assert convert_main([str(inputs), "-o", str(out)]) == 1
    report = json.loads((out / "report.json").read_text())
    status = {Path(s["source"]).name: s["status"] for s in report["sources"]}
    assert status == {
        "good": "ok",
        "truncated": "failed",
        "truncated_db": "failed",
        "killed": "failed",
        "zgood": "ok",
    }
    errors = {Path(s["source"]).name: s["error"] for s in report["sources"] if s["status"] == "failed"}
    assert all(errors.values())
    assert report["summary"]["failed"] == 3 and report["summary"]["converted"] == 2
    assert {e["id"] for e in load_manifest(out)["episodes"]} == {good.name, good2.name}
    assert "FAILED" in capsys.readouterr().err


def _write_gappy_bag(path: Path, sample_fn) -> None:
    """10 s at 10 Hz; camera silent in [4 s, 5.5 s); gripper readings out of range in the first second."""
    with BagWriter(path, "mcap") as bag:
        ts = bag.typestore
        bag.add_topic("/cam", "sensor_msgs/msg/CompressedImage")
        bag.add_topic("/tf_ee", "geometry_msgs/msg/TransformStamped")
        bag.add_topic("/gripper", "std_msgs/msg/Float64")
        for i in range(100):
            t = START + i * NS // 10
            sample = sample_fn(i)
            header = pose_message(ts, sample.position, sample.quat_xyzw, t).header
            if not 40 <= i < 55:
                jpg = encode_frame(sample.rgb, "jpeg")
                data = np.frombuffer(jpg, np.uint8)
                msg = ts.types["sensor_msgs/msg/CompressedImage"](header=header, format="jpeg", data=data)
                bag.write_message("/cam", t, msg)
            x, y, z = sample.position
            vec = ts.types["geometry_msgs/msg/Vector3"](x=x, y=y, z=z)
            qx, qy, qz, qw = sample.quat_xyzw
            quat = ts.types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)
            tf = ts.types["geometry_msgs/msg/Transform"](translation=vec, rotation=quat)
            tf_msg = ts.types["geometry_msgs/msg/TransformStamped"](header=header, child_frame_id="ee", transform=tf)
            bag.write_message("/tf_ee", t, tf_msg)
            width = 80.0 * (1.0 - sample.gripper) + (30.0 if i < 10 else 0.0)  # mm, 80 = open
            bag.write_message("/gripper", t, ts.types["std_msgs/msg/Float64"](data=width))


def test_gaps_split_episodes_and_are_reported(sample_fn, tmp_path: Path) -> None:
    bag = tmp_path / "gappy"
    _write_gappy_bag(bag, sample_fn)
    config = tmp_path / "convert.yaml"
    config.write_text(
        "image: {topic: /cam}\n"
        "pose: {topic: /tf_ee}\n"
        "gripper: {topic: /gripper, time_source: receive, options: {open_value: 80.0, closed_value: 0.0}}\n"
        "sync: {fps: 2.0, min_frames: 3}\n"
        "codec: png\n"
    )
    out = tmp_path / "ds"
    assert convert_main([str(bag), "-o", str(out), "--config", str(config)]) == 0
    report = json.loads((out / "report.json").read_text())["sources"][0]
    assert report["streams"]["camera"]["gaps"] == [pytest.approx({"start_s": 3.9, "duration_s": 1.6})]
    # grid 4.0 s takes the 3.9 s frame (within the 0.25 s tolerance); 4.5 s and 5.0 s have no frame
    assert report["dropped_frames"]["no_camera_frame"] == 2
    assert report["out_of_range"]["gripper_outside_0_1"] == 10
    store = EpisodeStore(out)
    assert [store.num_frames(i) for i in range(len(store))] == [9, 9]  # 0..4.0 s and 5.5..9.5 s
    assert [e["id"] for e in store.entries] == ["gappy_seg00", "gappy_seg01"]
    ep = store.load(1)
    assert ep.states[:, 6].min() >= 0.0 and ep.states[:, 6].max() <= 1.0
    assert ep.frames([0]).dtype == np.uint8


def test_unknown_topic_and_type_give_clear_errors(make_bag, tmp_path: Path) -> None:
    bag = make_bag("plain", n=20)
    out = tmp_path / "ds"
    assert convert_main([str(bag), "-o", str(out), "--pose-topic", "/nope"]) == 1
    error = json.loads((out / "report.json").read_text())["sources"][0]["error"]
    assert "/nope" in error and "/franka_robot_state_broadcaster/current_pose" in error
    with pytest.raises(extractors.ExtractorError, match="register_extractor"):
        extractors.get_extractor("pose", "franka_msgs/msg/FrankaState")
    with pytest.raises(SystemExit):
        convert_main([str(bag), "-o", str(out), "--set", "sync.fsp=3"])


def test_image_extractor_encodings() -> None:
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 10), np.uint8)  # row step 10 > 3 px * 3 channels
    padded[:, :9] = rgb[..., ::-1].reshape(2, 9)
    bgr_msg = SimpleNamespace(encoding="bgr8", height=2, width=3, step=10, data=padded.ravel())
    np.testing.assert_array_equal(extractors.image_from_raw(bgr_msg, {}), rgb)
    mono = SimpleNamespace(encoding="mono8", height=2, width=3, step=3, data=np.arange(6, dtype=np.uint8))
    assert extractors.image_from_raw(mono, {}).shape == (2, 3, 3)
    with pytest.raises(extractors.ExtractorError, match="encoding"):
        extractors.image_from_raw(SimpleNamespace(encoding="16UC1", height=1, width=1, step=2, data=b"00"), {})
