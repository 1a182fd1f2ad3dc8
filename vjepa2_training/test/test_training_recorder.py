"""vjepa2-record over loopback DDS: raw CDR into mcap/sqlite3, finalised on SIGINT/SIGTERM/limits."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.qos import qos_profile_sensor_data
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import Image, JointState

from vjepa2_common.image import rgb_to_image
from vjepa2_training.data.bags_to_episodes import main as convert_main
from vjepa2_training.data.episodes import EpisodeStore
from vjepa2_training.data.recorder_node import READY_LINE

RATE_HZ = 20.0


@pytest.fixture
def robot(ros):
    """A fake robot in the test process: camera, pose and finger joints published at 20 Hz by a timer."""
    image_pub = ros.publisher(Image, "/camera/image_raw")
    pose_pub = ros.publisher(PoseStamped, "/franka_robot_state_broadcaster/current_pose")
    joints_pub = ros.publisher(JointState, "/franka_gripper/joint_states")
    cmd_pub = ros.publisher(TwistStamped, "/servo_node/delta_twist_cmds")
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
        joints = JointState(name=["panda_finger_joint1", "panda_finger_joint2"], position=[0.02, 0.02])
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
        "vjepa2_training.data.recorder_node",
        "-o",
        str(bag),
        "--storage",
        storage,
    )
    rec.wait_for_output(READY_LINE, timeout=30)
    os.killpg(rec.pid, sig)
    assert rec.proc.wait(15) == 0, rec.output()[-2000:]
    assert (bag / "metadata.yaml").is_file()
    counts = _topic_counts(bag)
    assert set(counts) == {
        "/camera/image_raw",
        "/franka_robot_state_broadcaster/current_pose",
        "/franka_gripper/joint_states",
        "/servo_node/delta_twist_cmds",
    }
    state = ("/camera/image_raw", "/franka_robot_state_broadcaster/current_pose", "/franka_gripper/joint_states")
    assert all(counts[t] >= 1 for t in state), counts  # commands are sparse: registered, maybe still empty


def test_recording_stops_at_max_frames_and_converts(robot, launcher, tmp_path: Path) -> None:
    bag = tmp_path / "rec"
    rec = launcher.module("vjepa2_training.data.recorder_node", "-o", str(bag), "--max-frames", "50")
    assert rec.proc.wait(60) == 0, rec.output()[-2000:]  # stops by itself after 50 images (2.5 s)
    counts = _topic_counts(bag)
    assert counts["/camera/image_raw"] == 50 and counts["/franka_robot_state_broadcaster/current_pose"] >= 40
    out = tmp_path / "episodes"
    assert convert_main([str(bag), "-o", str(out), "--set", "sync.min_frames=4"]) == 0
    ep = EpisodeStore(out).load(0)
    assert 8 <= ep.num_frames <= 11  # ~2.5 s at 4 fps
    np.testing.assert_allclose(ep.states[:, 6], 0.5, atol=1e-6)  # fingers half open
    assert np.all(ep.actions[:, 0] > 0)  # x increases 2 cm/s in the published poses


def test_bad_parameters_fail_clearly(launcher, tmp_path: Path) -> None:
    rec = launcher.module(
        "vjepa2_training.data.recorder_node", "-o", str(tmp_path / "x"), "--pose-type", "geometry_msgs/msg/Nope"
    )
    assert rec.proc.wait(30) == 2
    assert "cannot import message type 'geometry_msgs/msg/Nope'" in rec.output()
    assert not (tmp_path / "x").exists()
    (tmp_path / "taken").mkdir()
    rec = launcher.module("vjepa2_training.data.recorder_node", "-o", str(tmp_path / "taken"))
    assert rec.proc.wait(30) == 2
    assert "taken already exists; rosbag2 output must be a new directory" in rec.output()
    assert "Traceback" not in rec.output()
    rec = launcher.module("vjepa2_training.data.recorder_node", "-o", str(tmp_path / "y"), "--duration", "inf")
    assert rec.proc.wait(30) == 2 and "max_duration_s out of range" in rec.output(), rec.output()


def _status(msg) -> dict[str, str]:
    return {kv.key: kv.value for kv in msg.values}


def test_records_the_simulated_franka(ros, launcher, tmp_path: Path) -> None:
    """sim_node -> vjepa2-record (DDS, raw) -> SIGINT -> vjepa2-convert-bags: the recorded motion is in the states."""
    pytest.importorskip("vjepa2_sim.sim_node", reason="vjepa2_sim is not installed")
    from diagnostic_msgs.msg import DiagnosticStatus
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Float64MultiArray

    sim = launcher.module(
        "vjepa2_sim.sim_node",
        "--ros-args",
        "-r",
        "__node:=franka_sim",
        "-r",
        "exterior/image_raw:=camera/image_raw",
        "-p",
        "image_width:=64",
        "-p",
        "image_height:=64",
        "-p",
        "render_geometry:=collision",
        "-p",
        "randomize:=false",
    )
    sim.wait_for_output("simulated Franka ready", 60)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    status = ros.collect(DiagnosticStatus, "/franka_sim/motion_status", latched)
    bag = tmp_path / "sim_bag"
    rec = launcher.module(
        "vjepa2_training.data.recorder_node",
        "-o",
        str(bag),
        "--command-topic",
        "/franka_sim/delta_cmd",
        "--command-type",
        "std_msgs/msg/Float64MultiArray",
    )
    rec.wait_for_output(READY_LINE, timeout=30)
    delta = ros.publisher(Float64MultiArray, "/franka_sim/delta_cmd", 10, subscribers=2)  # sim + recorder
    images = ros.collect(Image, "/camera/image_raw", qos_profile_sensor_data)
    for seq, action in enumerate(([0.06, 0.0, 0.0, 0, 0, 0, 0], [0.0, 0.06, 0.0, 0, 0, 0, 0]), start=1):
        delta.publish(Float64MultiArray(data=action))
        status.wait_for(1, 30, lambda m, s=seq: int(_status(m)["seq"]) >= s and _status(m)["settled"] == "True")
    # The episode is resampled at 4 fps: keep recording until the camera has shown the arm at rest for 0.6 s
    # (frames stamped after the last settle), so that the last grid point sees the final pose.
    settled_ns = ros.node.get_clock().now().nanoseconds
    images.wait_for(1, 30, lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec > settled_ns + 600_000_000)
    os.killpg(rec.pid, signal.SIGINT)
    assert rec.proc.wait(15) == 0, rec.output()[-2000:]
    counts = _topic_counts(bag)
    assert counts["/franka_sim/delta_cmd"] == 2 and counts["/camera/image_raw"] >= 10

    out = tmp_path / "episodes"
    assert convert_main([str(bag), "-o", str(out), "--set", "sync.min_frames=4"]) == 0
    ep = EpisodeStore(out).load(0)
    assert ep.frames([0]).shape == (1, 64, 64, 3)
    travelled = ep.states[-1, :3] - ep.states[0, :3]
    np.testing.assert_allclose(travelled[:2], [0.06, 0.06], atol=0.01)  # both commanded moves were recorded
    np.testing.assert_allclose(ep.actions[:, :2].sum(0), travelled[:2], atol=1e-5)
    assert abs(travelled[2]) < 0.01


def test_a_silent_topic_is_named(launcher, tmp_path: Path) -> None:
    """Nothing publishes the default camera topic (a bare sim_node publishes /exterior/image_raw): the recorder
    says which topic is silent and how to fix it instead of recording 0 images without a word."""
    rec = launcher.module(
        "vjepa2_training.data.recorder_node", "-o", str(tmp_path / "bag"), "--ros-args", "-p", "silence_warning_s:=1.0"
    )
    rec.wait_for_output("no image message on /camera/image_raw after 1 s", timeout=30)
    assert "--image-topic /exterior/image_raw" in rec.output()
    assert "no pose message on /franka_robot_state_broadcaster/current_pose" in rec.output()
    assert "/servo_node/delta_twist_cmds after" not in rec.output()  # commands may be sparse: not warned about
    assert rec.stop() == 0
