"""The sim node over loopback DDS: a real node process, a real rclpy test node (vjepa2_common fixtures)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from ament_index_python.packages import get_package_share_directory
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64, Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from vjepa2_common.image import image_to_rgb
from vjepa2_common.testing import ProcessLauncher, RosHarness
from vjepa2_msgs.srv import ExecuteAction, PlaceObject, RenderGoal

NODE = "franka_sim"
PARAMS = {
    "image_width": 64,
    "image_height": 64,
    "camera_rate": 10.0,
    "state_rate": 50.0,
    "cameras": ["exterior"],
    "seed": 3,
}
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
BEST_EFFORT = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
START_TIMEOUT = 60.0  # node start-up: rclpy + MuJoCo model compile + GL context; ~3 s when the box is idle


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def position(msg: PoseStamped) -> np.ndarray:
    return np.array([msg.pose.position.x, msg.pose.position.y, msg.pose.position.z])


class SimClient:
    """Subscriptions to the sim node's outputs and helpers to command it and wait for the outcome."""

    def __init__(self, ros: RosHarness) -> None:
        self.ros = ros
        self.status = ros.collect(DiagnosticStatus, f"/{NODE}/motion_status", LATCHED)
        self.poses = ros.collect(PoseStamped, "/franka_robot_state_broadcaster/current_pose", BEST_EFFORT)
        self.images = ros.collect(Image, "/exterior/image_raw", qos_profile_sensor_data)
        self.delta = ros.publisher(Float64MultiArray, f"/{NODE}/delta_cmd", subscribers=1)

    def seq(self) -> int:
        return int(values(self.status.wait_for(1)[-1])["seq"])

    def next_pose(self) -> np.ndarray:
        """Position from a pose message published after this call."""
        return position(self.poses.wait_for(len(self.poses.messages) + 2)[-1])

    def next_image(self) -> np.ndarray:
        return image_to_rgb(self.images.wait_for(len(self.images.messages) + 2)[-1])

    def wait_outcome(self, after_seq: int, timeout: float = 30.0) -> DiagnosticStatus:
        """First status about a later command that is final: settled, or rejected."""

        def final(msg: DiagnosticStatus) -> bool:
            v = values(msg)
            return int(v["seq"]) > after_seq and (v["settled"] == "True" or msg.level == DiagnosticStatus.ERROR)

        return self.status.wait_for(1, timeout, predicate=final)[0]


@pytest.fixture
def sim_node(launcher: ProcessLauncher):
    """The node with the installed config/sim.yaml, overridden by PARAMS (small images)."""
    config = Path(get_package_share_directory("vjepa2_sim"), "config", "sim.yaml")
    proc = launcher.node("vjepa2_sim", "sim_node", name=NODE, params_file=config, params=PARAMS)
    proc.wait_for_output("simulated Franka ready", START_TIMEOUT)
    return proc


def test_delta_over_dds_moves_and_changes_image(sim_node, ros: RosHarness) -> None:
    client = SimClient(ros)
    joints = ros.collect(JointState, "/joint_states")
    info = ros.collect(CameraInfo, "/exterior/camera_info", qos_profile_sensor_data)
    start, seq = client.next_pose(), client.seq()
    before = client.next_image()

    client.delta.publish(Float64MultiArray(data=[0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    outcome = client.wait_outcome(seq)
    assert values(outcome)["reached"] == "True", values(outcome)
    moved = client.next_pose() - start
    assert abs(moved[0] - 0.05) < 0.005 and np.all(np.abs(moved[1:]) < 0.005), moved
    after = client.next_image()
    assert np.mean(np.abs(after.astype(int) - before.astype(int)).max(axis=-1) > 20) > 0.005

    state = [float(v) for v in values(outcome)["state"].split(",")]
    assert len(state) == 7 and abs(state[0] - (start[0] + 0.05)) < 0.005
    names = joints.wait_for(1)[-1].name
    assert names == [f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1", "panda_finger_joint2"]
    cam = info.wait_for(1)[-1]
    focal = 0.5 * 64 / math.tan(math.radians(60.0) / 2)  # exterior camera: fovy 60 deg
    assert cam.header.frame_id == "exterior_camera_optical_frame"
    assert cam.k[0] == pytest.approx(focal) and cam.k[4] == pytest.approx(focal) and cam.k[2] == 31.5

    # gripper closure command -> fingers close (franka_gripper/joint_states: width = sum of the fingers)
    gripper = ros.collect(JointState, "/franka_gripper/joint_states")
    closure = ros.publisher(Float64, f"/{NODE}/gripper/closure_cmd", subscribers=1)
    seq = client.seq()
    closure.publish(Float64(data=1.0))
    assert values(client.wait_outcome(seq))["settled"] == "True"
    assert sum(gripper.wait_for(len(gripper.messages) + 2)[-1].position) < 0.005

    # goal image for a pose (service): rendered without moving the live arm
    request = RenderGoal.Request(gripper=-1.0)
    request.pose.header.frame_id = "panda_link0"
    request.pose.pose.position.x, request.pose.pose.position.y, request.pose.pose.position.z = 0.55, -0.1, 0.2
    request.pose.pose.orientation.x, request.pose.pose.orientation.w = 1.0, 0.0  # pointing down, turned about z
    here = client.next_pose()
    reply = ros.call(RenderGoal, f"/{NODE}/render_goal", request)
    assert reply.success, reply.message
    assert (reply.image.height, reply.image.width, reply.image.encoding) == (64, 64, "rgb8")
    assert reply.image.header.frame_id == "exterior_camera_optical_frame"
    assert np.allclose(client.next_pose(), here, atol=1e-3)
    request.pose.pose.position.x = 3.0
    reply = ros.call(RenderGoal, f"/{NODE}/render_goal", request)
    assert not reply.success and "outside the workspace" in reply.message

    # place an object (service)
    place = PlaceObject.Request(name="cube")
    place.pose.header.frame_id = "panda_link0"
    place.pose.pose.position.x, place.pose.pose.position.y, place.pose.pose.position.z = 0.6, 0.15, 0.02
    place.pose.pose.orientation.w = 1.0
    assert ros.call(PlaceObject, f"/{NODE}/place_object", place).success
    place.name = "unicorn"
    reply = ros.call(PlaceObject, f"/{NODE}/place_object", place)
    assert not reply.success and "unknown object 'unicorn'" in reply.message

    # reset service: a new seeded episode, the arm back near home
    response = ros.call(SetBool, f"/{NODE}/reset", SetBool.Request(data=True))
    assert response.success and "episode seed 4" in response.message


def test_bad_commands_rejected_without_motion(sim_node, ros: RosHarness) -> None:
    client = SimClient(ros)
    twist = ros.publisher(TwistStamped, "/servo_node/delta_twist_cmds", subscribers=1)
    pose = ros.publisher(PoseStamped, "/servo_node/pose_target_cmds", subscribers=1)
    start = client.next_pose()

    def bad_twist(frame: str, vx: float) -> TwistStamped:
        msg = TwistStamped()
        msg.header.frame_id = frame
        msg.twist.linear.x = vx
        return msg

    def bad_pose(frame: str, qw: float) -> PoseStamped:
        msg = PoseStamped()
        msg.header.frame_id = frame
        msg.pose.position.x, msg.pose.position.z = 0.5, 0.3
        msg.pose.orientation.w = qw
        return msg

    cases = [
        (lambda: client.delta.publish(Float64MultiArray(data=[math.nan, 0, 0, 0, 0, 0, 0])), "NaN"),
        (lambda: client.delta.publish(Float64MultiArray(data=[0.5, 0, 0, 0, 0, 0, 0])), "max_delta_translation"),
        (lambda: client.delta.publish(Float64MultiArray(data=[0.01, 0.0])), "7 values"),
        (lambda: twist.publish(bad_twist("world", 0.05)), "frame_id is 'world'"),
        (lambda: twist.publish(bad_twist("panda_link0", math.inf)), "NaN or inf"),
        (lambda: twist.publish(bad_twist("panda_link0", 3.0)), "max_linear_speed"),
        (lambda: pose.publish(bad_pose("", 1.0)), "frame_id is ''"),
        (lambda: pose.publish(bad_pose("panda_link0", 0.0)), "unit quaternion"),
    ]
    for send, reason in cases:
        seq = client.seq()
        send()
        outcome = client.wait_outcome(seq)
        assert outcome.level == DiagnosticStatus.ERROR and reason in outcome.message, outcome.message
        sim_node.wait_for_output(reason, 10.0)  # the warning in the node's log names the problem
    assert np.allclose(client.next_pose(), start, atol=1e-3)  # nothing moved

    # a good command after all that still works, and the node exits cleanly on SIGINT
    seq = client.seq()
    twist.publish(bad_twist("panda_link0", 0.1))
    assert values(client.wait_outcome(seq))["settled"] == "True"
    assert client.next_pose()[0] > start[0] + 0.005
    assert sim_node.stop() == 0


def test_bad_configuration_exits_with_one_clear_line(launcher: ProcessLauncher, tmp_path: Path) -> None:
    proc = launcher.node("vjepa2_sim", "sim_node", name=NODE, params={"cameras": ["top"]})
    assert proc.proc.wait(START_TIMEOUT) == 2
    assert "parameter 'cameras'" in proc.output() and "Traceback" not in proc.output()
    missing = launcher.node("vjepa2_sim", "sim_node", name=NODE, params={"asset_dir": str(tmp_path)})
    assert missing.proc.wait(START_TIMEOUT) == 2
    assert "vjepa2-sim-assets" in missing.output() and "Traceback" not in missing.output()


def test_execute_action_blocks_until_settled(sim_node, ros: RosHarness) -> None:
    client = SimClient(ros)
    start = client.next_pose()
    response = ros.call(
        ExecuteAction, f"/{NODE}/execute_action", ExecuteAction.Request(action=[0.0, 0.04, -0.03, 0.0, 0.0, 0.0, 0.0])
    )
    assert response.success and response.settled, response.message
    assert np.allclose(np.array(response.state[:3]) - start, [0.0, 0.04, -0.03], atol=0.005)
    assert response.position_error_m < 0.002 and response.elapsed_s > 0
    # the service returned after the motion: the arm is already there
    assert np.allclose(client.next_pose(), np.array(response.state[:3]), atol=2e-3)

    bad = ros.call(
        ExecuteAction, f"/{NODE}/execute_action", ExecuteAction.Request(action=[math.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    )
    assert not bad.success and "NaN" in bad.message and "no motion" in bad.message
    assert np.allclose(np.array(bad.state[:3]), np.array(response.state[:3]), atol=2e-3)


# ---------------------------------------------------------------- hostile use (issue 14, items 11 and 12)
EXECUTE = f"/{NODE}/execute_action"


def _client(ros: RosHarness, srv_type, name: str):
    client = ros.node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=30.0), name
    return client


def _action(dx: float, timeout_s: float = 0.0) -> ExecuteAction.Request:
    return ExecuteAction.Request(action=[dx, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], timeout_s=timeout_s)


def test_execute_action_timeouts_bounded_and_answers_truthful(sim_node, ros: RosHarness) -> None:
    client = SimClient(ros)
    start = client.next_pose()
    for timeout_s in (math.inf, 1e10, -1.0, math.nan, 60.5):
        reply = ros.call(ExecuteAction, EXECUTE, _action(0.05, timeout_s))
        assert not reply.success and "timeout_s must be in (0, 60]" in reply.message and "no motion" in reply.message
    assert sim_node.alive() and np.allclose(client.next_pose(), start, atol=1e-3)

    # a timeout far shorter than the motion: "timed out", and the arm holds where it was at the reply
    reply = ros.call(ExecuteAction, EXECUTE, _action(0.08, 1e-9))
    assert not reply.success and reply.message.startswith("timed out"), reply.message
    held = np.array(reply.state[:3])
    poses = client.poses.wait_for(len(client.poses.messages) + 25)  # 0.5 s of state at 50 Hz
    assert np.allclose(position(poses[-1]), held, atol=3e-3), (position(poses[-1]), held)
    assert position(poses[-1])[0] < start[0] + 0.04  # stopped well short of the 8 cm

    # ~/reset while an action waits: the action answers "aborted by reset", not "reached"
    seq = client.seq()
    future = _client(ros, ExecuteAction, EXECUTE).call_async(_action(0.1, 30.0))
    client.status.wait_for(1, 30.0, predicate=lambda m: int(values(m)["seq"]) > seq and m.message == "accepted action")
    assert ros.call(SetBool, f"/{NODE}/reset", SetBool.Request(data=False)).success
    reply = ros.wait_future(future, 30.0, "execute_action")
    assert not reply.success and reply.message == "aborted by reset", reply.message


def test_concurrent_execute_actions_do_not_starve_physics(sim_node, ros: RosHarness) -> None:
    client = SimClient(ros)
    joints = ros.collect(JointState, "/joint_states")
    first, second = _client(ros, ExecuteAction, EXECUTE), _client(ros, ExecuteAction, EXECUTE)
    joints.wait_for(5)
    # The idle rate as the baseline: on a loaded machine the sim runs slower than real time (50 Hz nominal).
    count0, t0 = len(joints.messages), time.monotonic()
    joints.wait_for(count0 + 20)
    idle_rate = (len(joints.messages) - count0) / (time.monotonic() - t0)
    count0, t0 = len(joints.messages), time.monotonic()
    futures = [first.call_async(_action(0.1, 30.0)), second.call_async(_action(-0.1, 30.0))]
    replies = [ros.wait_future(f, 30.0, "execute_action") for f in futures]
    rate = (len(joints.messages) - count0) / (time.monotonic() - t0)
    assert rate > 0.25 * idle_rate, f"joint_states at {rate:.1f} Hz during two blocking calls, {idle_rate:.1f} Hz idle"
    # one moved and says so; the other was turned away at once, saying why
    reached = [r for r in replies if r.success]
    busy = [r for r in replies if "another ~/execute_action is still running" in r.message]
    assert len(reached) == 1 and len(busy) == 1 and reached[0].message == "reached", [r.message for r in replies]

    # ~/stop answers promptly while an action waits, and ends that wait truthfully
    future = first.call_async(_action(0.1, 30.0))
    seq = client.seq()
    client.status.wait_for(1, 30.0, predicate=lambda m: int(values(m)["seq"]) > seq and m.message == "accepted action")
    t0 = time.monotonic()
    assert ros.call(Trigger, f"/{NODE}/stop", Trigger.Request()).success
    assert time.monotonic() - t0 < 1.5  # 2.9 s when both executor threads were blocked
    reply = ros.wait_future(future, 30.0, "execute_action")
    assert not reply.success and reply.message == "stopped by ~/stop", reply.message


FUZZ_SEED = 14
FUZZ_MESSAGES = 300
NASTY = (math.nan, math.inf, -math.inf, 1e308, -1e308, 1e10, -1.0, 0.0, 1e-320, 0.3, 0.5, 1.5)


def test_fuzzed_inputs_leave_the_node_up_and_answering(sim_node, ros: RosHarness) -> None:
    """Seeded random and malformed messages and requests on every input, in bursts; then a valid action."""
    rng = np.random.default_rng(FUZZ_SEED)

    def number() -> float:
        return float(rng.choice(NASTY)) if rng.random() < 0.5 else float(rng.normal(0.0, 0.3))

    def pose(msg: PoseStamped) -> PoseStamped:
        msg.header.frame_id = str(rng.choice(["panda_link0", "panda_hand_tcp", "", "world", "x" * 300]))
        p, o = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = (number() + c for c in (0.5, 0.0, 0.3))
        q = rng.normal(size=4)
        o.x, o.y, o.z, o.w = (float(v) for v in (q / np.linalg.norm(q) if rng.random() < 0.7 else q * 10))
        if rng.random() < 0.2:
            o.w = number()
        return msg

    pubs = {
        "delta": ros.publisher(Float64MultiArray, f"/{NODE}/delta_cmd", subscribers=1),
        "twist": ros.publisher(TwistStamped, "/servo_node/delta_twist_cmds", subscribers=1),
        "pose": ros.publisher(PoseStamped, "/servo_node/pose_target_cmds", subscribers=1),
        "closure": ros.publisher(Float64, f"/{NODE}/gripper/closure_cmd", subscribers=1),
        "width": ros.publisher(Float64, f"/{NODE}/gripper/width_cmd", subscribers=1),
    }
    clients = {
        "execute": _client(ros, ExecuteAction, EXECUTE),
        "render": _client(ros, RenderGoal, f"/{NODE}/render_goal"),
        "place": _client(ros, PlaceObject, f"/{NODE}/place_object"),
        "reset": _client(ros, SetBool, f"/{NODE}/reset"),
        "stop": _client(ros, Trigger, f"/{NODE}/stop"),
    }
    pending: dict[str, list] = {kind: [] for kind in clients}
    replies = []

    def call(kind: str, request) -> None:
        # A service keeps the last 10 requests: more in flight per client would be dropped by DDS, not the node.
        if len(pending[kind]) >= 5:
            replies.append(ros.wait_future(pending[kind].pop(0), 60.0, f"a fuzzed {kind} request"))
        pending[kind].append(clients[kind].call_async(request))

    kinds = ["delta", "twist", "pose", "closure", "width", "execute", "render", "place", "reset", "stop"]
    weights = np.array([6, 6, 6, 3, 3, 3, 2, 2, 1, 1], float)
    for kind in rng.choice(kinds, size=FUZZ_MESSAGES, p=weights / weights.sum()):
        if kind == "delta":
            data = [number() * 0.1 for _ in range(int(rng.choice([0, 1, 6, 7, 7, 7, 8, 50])))]
            pubs[kind].publish(Float64MultiArray(data=data))
        elif kind == "twist":
            msg = TwistStamped()
            msg.header.frame_id = str(rng.choice(["panda_link0", "panda_hand_tcp", "", "map"]))
            t = msg.twist
            t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z = (number() for _ in range(6))
            pubs[kind].publish(msg)
        elif kind == "pose":
            pubs[kind].publish(pose(PoseStamped()))
        elif kind in ("closure", "width"):
            pubs[kind].publish(Float64(data=number()))
        elif kind == "execute":
            action = [number() * 0.1 for _ in range(6)] + [number()]
            timeout_s = float(rng.choice([0.0, 1e-9, 0.05, 0.5, math.inf, -1.0, math.nan]))
            call(kind, ExecuteAction.Request(action=action, timeout_s=timeout_s))
        elif kind == "render":
            request = RenderGoal.Request(gripper=number(), camera=str(rng.choice(["", "exterior", "wrist", "top"])))
            pose(request.pose)
            call(kind, request)
        elif kind == "place":
            request = PlaceObject.Request(name=str(rng.choice(["cube", "cup", "can", "", "unicorn"])))
            pose(request.pose)
            call(kind, request)
        elif kind == "reset":
            call(kind, SetBool.Request(data=bool(rng.random() < 0.5)))
        else:
            call(kind, Trigger.Request())
    replies += [ros.wait_future(f, 60.0, "a fuzzed request") for futures in pending.values() for f in futures]
    assert all(reply.success or reply.message for reply in replies)  # every request got an answer, saying why not
    assert sim_node.alive()

    # still up and doing its job: a nominal reset, then a valid action reaches its target
    assert ros.call(SetBool, f"/{NODE}/reset", SetBool.Request(data=False)).success
    for _ in range(5):  # fuzzed topic commands still in flight may preempt it (and say so)
        reply = ros.call(ExecuteAction, EXECUTE, ExecuteAction.Request(action=[0.03, 0.0, -0.02, 0.0, 0.0, 0.1, 0.0]))
        if reply.message != "preempted by a newer command":
            break
    assert reply.success and reply.message == "reached", reply.message
    assert sim_node.alive() and "Traceback" not in sim_node.output()
