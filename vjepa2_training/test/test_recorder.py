"""vjepa2-record over loopback DDS: raw CDR into mcap/sqlite3, finalised on SIGINT/SIGTERM/limits."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, TwistStamped
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import Image, JointState

from vjepa2_common.image import rgb_to_image
from vjepa2_training.convert import main as convert_main
from vjepa2_training.episodes import EpisodeStore
from vjepa2_training.recorder_node import READY_LINE

RATE_HZ = 20.0


@pytest.fixture
def robot(ros):
    """A fake robot in the test process: camera, pose and finger joints published at 20 Hz by a timer."""
    image_pub = ros.publisher(Image, "/camera/image_raw")
    pose_pub = ros.publisher(PoseStamped, "/ee_pose")
    joints_pub = ros.publisher(JointState, "/joint_states")
    cmd_pub = ros.publisher(TwistStamped, "/servo/delta_twist_cmds")
    tick = {"n": 0}

    def publish() -> None:
        n = tick["n"]
        tick["n"] += 1
        stamp = ros.node.get_clock().now().to_msg()
        rgb = np.full((48, 64, 3), n % 256, np.uint8)
        image_pub.publish(rgb_to_image(rgb, stamp, "camera"))
        pose = PoseStamped()
        pose.header.stamp = stamp
        pose.pose.position.x = 0.4 + 0.001 * n
        pose.pose.orientation.x = 1.0  # gripper pointing down
        pose_pub.publish(pose)
        joints = JointState(name=["joint1", "finger_joint1", "finger_joint2"], position=[0.1, 0.02, 0.02])
        joints.header.stamp = stamp
        joints_pub.publish(joints)
        cmd_pub.publish(TwistStamped())

    ros.node.create_timer(1.0 / RATE_HZ, publish)
    return tick


def _topic_counts(bag: Path) -> dict[str, int]:
    with AnyReader([bag]) as reader:
        counts = {c.topic: 0 for c in reader.connections}
        for conn, _, raw in reader.messages():
            reader.deserialize(raw, conn.msgtype)  # every message is valid CDR of its type
            counts[conn.topic] += 1
    return counts


@pytest.mark.parametrize(("storage", "sig"), [("mcap", signal.SIGINT), ("sqlite3", signal.SIGTERM)])
def test_interrupted_recording_is_finalised(robot, launcher, tmp_path: Path, storage: str, sig: int) -> None:
    bag = tmp_path / f"rec_{storage}"
    rec = launcher.module(
        "vjepa2_training.recorder_node",
        "-o",
        str(bag),
        "--storage",
        storage,
        "--command-topic",
        "/servo/delta_twist_cmds",
    )
    rec.wait_for_output(READY_LINE, timeout=30)
    os.killpg(rec.pid, sig)
    assert rec.proc.wait(15) == 0, rec.output()[-2000:]
    assert (bag / "metadata.yaml").is_file()
    counts = _topic_counts(bag)
    assert set(counts) == {"/camera/image_raw", "/ee_pose", "/joint_states", "/servo/delta_twist_cmds"}
    assert all(n >= 1 for n in counts.values()), counts


def test_recording_stops_at_max_frames_and_converts(robot, launcher, tmp_path: Path) -> None:
    bag = tmp_path / "rec"
    rec = launcher.module("vjepa2_training.recorder_node", "-o", str(bag), "--max-frames", "50")
    assert rec.proc.wait(60) == 0, rec.output()[-2000:]  # stops by itself after 50 images (2.5 s)
    counts = _topic_counts(bag)
    assert counts["/camera/image_raw"] == 50 and counts["/ee_pose"] >= 40
    out = tmp_path / "episodes"
    assert convert_main([str(bag), "-o", str(out), "--set", "sync.min_frames=4"]) == 0
    ep = EpisodeStore(out).load(0)
    assert 8 <= ep.num_frames <= 11  # ~2.5 s at 4 fps
    np.testing.assert_allclose(ep.states[:, 6], 0.5, atol=1e-6)  # fingers half open
    assert np.all(ep.actions[:, 0] > 0)  # x increases 2 cm/s in the published poses


def test_bad_parameters_fail_clearly(launcher, tmp_path: Path) -> None:
    rec = launcher.module(
        "vjepa2_training.recorder_node", "-o", str(tmp_path / "x"), "--pose-type", "geometry_msgs/msg/Nope"
    )
    assert rec.proc.wait(30) == 2
    assert "cannot import message type 'geometry_msgs/msg/Nope'" in rec.output()
    assert not (tmp_path / "x").exists()
