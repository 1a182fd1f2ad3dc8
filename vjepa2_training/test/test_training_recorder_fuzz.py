"""vjepa2-record under seeded fuzzing over DDS: malformed images and JPEGs, bytes that are no valid CDR, NaN
poses and twists, ragged and huge joint states, bursts, refused parameter sets and parameter queries. Afterwards
the recorder still records a valid message, and SIGINT leaves a finalised, readable bag."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters, SetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String

from vjepa2_common.fuzzing import (
    NASTY_FLOATS,
    RequestStream,
    malformed_compressed,
    malformed_image,
    nasty_stamp,
    parameter_attacks,
    pick,
    random_bytes,
    valid_image,
)
from vjepa2_common.params import schema_specs
from vjepa2_common.testing import RosHarness
from vjepa2_training.data.recorder_node import READY_LINE, RecorderParams

SEED = 20261202
EVENTS = 400
BURST = 100
NODE = "/vjepa2_recorder"
MARKER = "/fuzz/marker"
COMPRESSED = "/camera/image_raw/compressed"


def number(rng: np.random.Generator) -> float:
    return float(pick(rng, NASTY_FLOATS)) if rng.random() < 0.5 else float(rng.normal())


def marker_count(msg: DiagnosticArray) -> int:
    for status in msg.status:
        if status.name == "vjepa2_recorder: recorder":
            return int(next((kv.value for kv in status.values if kv.key == MARKER), 0))
    return 0


def test_fuzzed_input_leaves_the_recorder_recording_and_the_bag_readable(
    ros: RosHarness, launcher, tmp_path: Path
) -> None:
    rng = np.random.default_rng(SEED)
    bag = tmp_path / "fuzz_bag"
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    rec = launcher.module(
        "vjepa2_training.data.recorder_node",
        *("-o", str(bag), "--qos", "reliable"),
        *("--extra-topic", f"{COMPRESSED}:sensor_msgs/msg/CompressedImage"),
        *("--extra-topic", f"{MARKER}:std_msgs/msg/String"),
        *("--ros-args", "-p", "diagnostics_period_s:=0.2"),
    )
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    image = ros.publisher(Image, "/camera/image_raw", qos, subscribers=1, timeout=60.0)
    compressed = ros.publisher(CompressedImage, COMPRESSED, qos, subscribers=1)
    pose = ros.publisher(PoseStamped, "/franka_robot_state_broadcaster/current_pose", qos, subscribers=1)
    joints = ros.publisher(JointState, "/franka_gripper/joint_states", qos, subscribers=1)
    twist = ros.publisher(TwistStamped, "/servo_node/delta_twist_cmds", qos, subscribers=1)
    marker = ros.publisher(String, MARKER, qos, subscribers=1)
    clients = {
        srv: ros.node.create_client(srv, f"{NODE}/{name}")
        for srv, name in (
            (SetParameters, "set_parameters"),
            (GetParameters, "get_parameters"),
            (DescribeParameters, "describe_parameters"),
            (ListParameters, "list_parameters"),
        )
    }
    for client in clients.values():
        assert client.wait_for_service(timeout_sec=30.0), client.srv_name
    ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    assert ok
    specs = schema_specs(RecorderParams)
    names = [spec.name for spec in specs] + ["use_sim_time", "no_such_parameter", ""]

    def random_pose() -> PoseStamped:
        msg = PoseStamped()
        msg.header.stamp = nasty_stamp(rng)
        p, o = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z, o.x, o.y, o.z, o.w = (number(rng) for _ in range(7))
        return msg

    def random_joints() -> JointState:
        count = int(pick(rng, (0, 1, 2, 7, 100_000)))
        msg = JointState(name=[f"j{i}" for i in range(int(pick(rng, (0, 2, count))))])
        msg.position = [number(rng) for _ in range(min(count, 20))] * (5000 if count == 100_000 else 1)
        msg.header.stamp = nasty_stamp(rng)
        return msg

    def random_twist() -> TwistStamped:
        msg = TwistStamped()
        msg.header.stamp = nasty_stamp(rng)
        msg.header.frame_id = pick(rng, ("panda_link0", "", "x" * 1000))
        msg.twist.linear.x, msg.twist.angular.z = number(rng), number(rng)
        return msg

    requests = RequestStream(timeout_s=30.0)

    def send(srv: type, request: object) -> None:
        requests.send(srv.__name__, clients[srv], request)

    kinds = ("image", "compressed", "pose", "joints", "twist", "garbage", "burst", "set", "query")
    weights = np.array([0.2, 0.12, 0.15, 0.12, 0.1, 0.1, 0.02, 0.1, 0.09])
    started = time.monotonic()
    for kind in rng.choice(kinds, size=EVENTS, p=weights / weights.sum()):
        if kind == "image":
            image.publish(malformed_image(rng))
        elif kind == "compressed":
            compressed.publish(malformed_compressed(rng, jpeg.tobytes()))
        elif kind == "pose":
            pose.publish(random_pose())
        elif kind == "joints":
            joints.publish(random_joints())
        elif kind == "twist":
            twist.publish(random_twist())
        elif kind == "garbage":  # recorded as received: the converter reports undecodable messages
            pick(rng, (image, compressed, pose, joints, twist)).publish(random_bytes(rng, 512))
        elif kind == "burst":
            for _ in range(BURST):
                pose.publish(random_pose())
                image.publish(valid_image(rng, 16, 16))
        elif kind == "set":
            attacks = parameter_attacks(rng, specs, int(rng.integers(1, 4)))
            send(SetParameters, SetParameters.Request(parameters=[p.to_parameter_msg() for p in attacks]))
        else:
            asked = [pick(rng, names) for _ in range(int(rng.integers(0, 6)))]
            srv = pick(rng, (GetParameters, DescribeParameters, ListParameters))
            send(
                srv,
                ListParameters.Request(depth=int(rng.integers(0, 3)))
                if srv is ListParameters
                else srv.Request(names=asked),
            )
    replies = requests.replies()
    for kind, response in replies:
        if kind == "SetParameters":
            assert not any(r.successful for r in response.results), [r.reason for r in response.results]
    fuzz_s = time.monotonic() - started
    assert rec.alive(), rec.output()[-3000:]

    marker.publish(String(data="after the fuzzing"))
    diagnostics.wait_for(1, 30.0, predicate=lambda m: marker_count(m) >= 1)
    os.killpg(rec.pid, signal.SIGINT)
    assert rec.proc.wait(30) == 0, rec.output()[-3000:]
    out = rec.output()
    assert READY_LINE in out and "Traceback" not in out, out[-3000:]

    assert (bag / "metadata.yaml").is_file()
    with AnyReader([bag]) as reader:
        topics = {c.topic for c in reader.connections}
        assert {MARKER, COMPRESSED, "/camera/image_raw", "/franka_gripper/joint_states"} <= topics
        counts = dict.fromkeys(topics, 0)
        markers = []
        for conn, _, raw in reader.messages():
            counts[conn.topic] += 1
            if conn.topic == MARKER:
                markers.append(reader.deserialize(raw, conn.msgtype).data)
    assert markers == ["after the fuzzing"]
    assert counts["/camera/image_raw"] >= BURST and counts["/franka_robot_state_broadcaster/current_pose"] >= BURST
    print(f"fuzzed for {fuzz_s:.1f} s ({EVENTS} events, {len(replies)} requests); recorded {counts}")
