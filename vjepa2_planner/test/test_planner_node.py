"""planner_node over loopback DDS against the real vjepa2_sim sim_node and a real encoder_node (tiny models).

One stack per module (sim, encoder, two planners: servo_twist and execute_action) in one random DDS domain:
starting torch in three processes per test would take minutes on two shared cores. The camera reaches the
encoder through a relay in the test process, so a test can stop it; tests that change the stack (e-stop,
encoder restarts) restore it before they end. No fixed sleeps: every wait is on messages or responses.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.srv import SetParameters
from rclpy.action import ActionClient
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from vjepa2_common.fuzzing import (
    NASTY_FLOATS,
    NASTY_STRINGS,
    RequestStream,
    lifecycle_requests,
    malformed_image,
    nasty_stamp,
    parameter_attacks,
    pick,
)
from vjepa2_common.image import rgb_to_image
from vjepa2_common.lifecycle_client import LifecycleClient, TransitionFailed
from vjepa2_common.params import schema_specs
from vjepa2_common.qos import qos_from_name
from vjepa2_common.testing import (
    Collector,
    ManagedProcess,
    ProcessLauncher,
    RosHarness,
    executable_path,
    isolate_ros,
    ros_args,
    wait_until,
)
from vjepa2_core.checkpoint import save_pretrained
from vjepa2_core.models import EncoderConfig, VisionEncoder
from vjepa2_msgs.action import PlanToGoal
from vjepa2_msgs.msg import Embedding, PlannerStatus
from vjepa2_msgs.srv import RenderGoal, SetGoal
from vjepa2_planner.params import PlannerParams

CROP = 64  # 4 x 4 tokens of 16 px
DIM = 32
START_TIMEOUT = 90.0  # three torch processes and MuJoCo starting at once on two busy cores
SERVO = "/vjepa2_planner"
BLOCKING = "/vjepa2_planner_blocking"
ESTOP_TOPIC = "/test/estop"
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
BEST_EFFORT = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
STALE_AFTER_S = 0.42  # [s of sim time] embeddings arrive ~0.01-0.2 s old here; + the reaction < 0.5 s
BOX_HALF = 0.04  # [m] the planners' workspace box: the start pose +- this


# ---------------------------------------------------------------------------------------------- the stack
@pytest.fixture(scope="module", autouse=True)
def ros_isolation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One random DDS domain (loopback only) for this module's stack; overrides the per-test fixture."""
    patch = pytest.MonkeyPatch()
    domain = isolate_ros(patch, tmp_path_factory)
    yield domain
    patch.undo()


class Stream(Collector):
    """A Collector whose waits look at new messages only (streams at 50-100 Hz grow long in a module)."""

    def wait_count(self, count: int, timeout: float = 30.0) -> Any:
        """Wait until ``count`` messages arrived in total; return the newest."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"got {len(self.messages)} of {count} messages within {timeout:.1f} s")
            return self.messages[-1]

    def first_after(self, index: int, predicate: Any, timeout: float, what: str) -> Any:
        """The first message from ``index`` on that satisfies ``predicate``."""
        found: list[Any] = []

        def scan() -> bool:
            nonlocal index
            with self._cond:
                new, index = self.messages[index:], len(self.messages)
            found.extend(m for m in new if predicate(m))
            return bool(found)

        wait_until(scan, timeout, what)
        return found[0]


class Stack:
    """The running processes, the test's node, the camera relay and the collectors the tests read."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.launcher = ProcessLauncher(tmp)
        self.ros = RosHarness(f"pytest_planner_{os.getpid()}")
        self.relay_open = threading.Event()
        self.relay_open.set()
        self.camera_pub = self.ros.node.create_publisher(Image, "/camera/image_raw", qos_from_name("sensor_data"))
        self.ros.node.create_subscription(  # serialized, in its own group: not queued behind the collectors
            Image,
            "/exterior/image_raw",
            self._relay,
            qos_from_name("sensor_data"),
            raw=True,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.twists = self.stream(TwistStamped, "/servo_node/delta_twist_cmds", 10)
        self.poses = self.stream(PoseStamped, "/franka_robot_state_broadcaster/current_pose", BEST_EFFORT)
        self.diagnostics = self.stream(DiagnosticArray, "/diagnostics", 10)
        self.debug_images = self.ros.collect(Image, f"{SERVO}/debug_image")
        self.markers = self.ros.collect(MarkerArray, f"{SERVO}/markers")
        self.embeddings = self.stream(Embedding, "/embedding", 5)
        self.estop = self.ros.node.create_publisher(Bool, ESTOP_TOPIC, LATCHED)
        # rclpy's ActionClient files a request under its sequence number only after sending it: a response handled
        # by another executor thread in between is dropped. Requests are therefore sent from a callback of the
        # clients' own mutually exclusive group (see in_client_group).
        self.action_group = MutuallyExclusiveCallbackGroup()
        self.clients = {
            name: ActionClient(self.ros.node, PlanToGoal, f"{name}/plan_to_goal", callback_group=self.action_group)
            for name in (SERVO, BLOCKING)
        }
        self.encoder: Any = None
        self.pose_pub: Any = None
        self.planner_params: dict[str, Any] = {}

    def stream(self, msg_type: Any, topic: str, qos: Any) -> Stream:
        stream = Stream()
        self.ros.node.create_subscription(msg_type, topic, stream, qos)
        return stream

    def node(self, package: str, executable: str, name: str, **kwargs: Any) -> ManagedProcess:
        """Start a node with this interpreter (the entry scripts' shebang may name another checkout's venv)."""
        args = ros_args(name, params=kwargs.get("params"), remaps=kwargs.get("remaps"), params_dir=self.tmp)
        return self.launcher.start([sys.executable, executable_path(package, executable), *args], label=name)

    def _relay(self, msg: bytes) -> None:
        if self.relay_open.is_set():
            self.camera_pub.publish(msg)

    def start_encoder(self, checkpoint: Path, name: str = "vjepa2_encoder") -> Any:
        self.encoder = self.node(
            "vjepa2_perception",
            "encoder_node",
            name=name,
            params={
                "model.checkpoint": str(checkpoint),
                "crop_size": CROP,
                "autostart": True,
                "output.normalize": True,
                "output.pooled": False,
                "warmup": True,  # the first encodes after a restart are fast, not stale
                "model.torch_threads": 1,
                "use_sim_time": True,
            },
            remaps={"image": "/camera/image_raw"},
        )
        return self.encoder

    def encoder_active(self) -> None:
        self.encoder.wait_for_output("active: encoding", START_TIMEOUT)

    def kill_encoder(self) -> None:
        os.killpg(self.encoder.pid, signal.SIGKILL)
        self.encoder.stop()

    def pose(self) -> np.ndarray:
        """A TCP position published after this call."""
        msg = self.poses.wait_count(len(self.poses.messages) + 2)
        return np.array([msg.pose.position.x, msg.pose.position.y, msg.pose.position.z])

    def planner_values(self, node: str, task: str, predicate: Any, timeout: float = 30.0) -> dict[str, str]:
        """The values (+ _level, _message) of the newest /diagnostics status ``<node>: <task>`` matching."""
        name = f"{node.strip('/')}: {task}"

        def values(msg: DiagnosticArray) -> dict[str, Any] | None:
            for status in msg.status:
                if status.name == name:
                    return {kv.key: kv.value for kv in status.values} | {
                        "_level": status.level,
                        "_message": status.message,
                    }
            return None

        values_seen = self.diagnostics.first_after(
            len(self.diagnostics.messages),
            lambda m: values(m) is not None and predicate(values(m)),
            timeout,
            f"/diagnostics '{name}' matching",
        )
        return values(values_seen)

    def move_to(self, position: np.ndarray) -> None:
        """Drive the arm to ``position`` (orientation kept) through the simulator's pose target input."""
        target = PoseStamped()
        target.header.frame_id = "panda_link0"
        target.pose.position.x, target.pose.position.y, target.pose.position.z = (float(v) for v in position)
        target.pose.orientation = self.poses.wait_count(1).pose.orientation
        if self.pose_pub is None:
            self.pose_pub = self.ros.publisher(PoseStamped, "/servo_node/pose_target_cmds", subscribers=1)
        self.pose_pub.publish(target)
        wait_until(lambda: np.linalg.norm(self.pose() - position) < 0.004, 20.0, f"the arm at {position.round(3)}")

    def render_goal(self, offset: tuple[float, float, float]) -> Image:
        current = self.poses.wait_count(len(self.poses.messages) + 1)
        request = RenderGoal.Request(gripper=-1.0)
        request.pose = copy.deepcopy(current)
        request.pose.pose.position.x += offset[0]
        request.pose.pose.position.y += offset[1]
        request.pose.pose.position.z += offset[2]
        reply = self.ros.call(RenderGoal, "/franka_sim/render_goal", request)
        assert reply.success, reply.message
        return reply.image

    def send(self, planner: str, goal: PlanToGoal.Goal) -> Goal:
        return Goal(self, planner, goal)

    def print_logs(self) -> None:
        for proc in self.launcher.processes:
            print(f"----- output of {' '.join(proc.cmd)[:160]} -----\n{proc.output()[-3000:]}")

    def in_client_group(self, request: Any) -> Any:
        """Run ``request()`` (which sends an action request and returns its future) in the clients' group."""
        out: list[Any] = []
        done = threading.Event()

        def run() -> None:
            out.append(request())
            done.set()

        guard = self.ros.node.create_guard_condition(run, callback_group=self.action_group)
        try:
            guard.trigger()
            assert done.wait(15.0), "the test node's executor did not run the request"
        finally:
            self.ros.node.destroy_guard_condition(guard)
        return out[0]

    def close(self) -> None:
        self.launcher.stop_all()
        self.ros.close()


class Goal:
    """One PlanToGoal goal in flight: its feedback, acceptance and result."""

    def __init__(self, stack: Stack, planner: str, goal: PlanToGoal.Goal) -> None:
        self.feedback = Collector()
        client = stack.clients[planner]
        assert client.wait_for_server(timeout_sec=START_TIMEOUT), f"no action server {planner}/plan_to_goal"
        self.stack = stack
        accepted = RosHarness.wait_future(
            stack.in_client_group(
                lambda: client.send_goal_async(goal, feedback_callback=lambda f: self.feedback(f.feedback.status))
            ),
            30.0,
            "goal acceptance",
        )
        assert accepted.accepted, "the planner rejected the goal"
        self.handle = accepted
        self._result = stack.in_client_group(accepted.get_result_async)

    def result(self, timeout: float = 60.0) -> PlanToGoal.Result:
        return RosHarness.wait_future(self._result, timeout, "the goal's result").result

    def status(self, timeout: float = 60.0) -> int:
        return RosHarness.wait_future(self._result, timeout, "the goal's result").status

    def cancel(self) -> Any:
        return RosHarness.wait_future(
            self.stack.in_client_group(self.handle.cancel_goal_async), 15.0, "cancel response"
        )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny encoder (32-dim tokens, what the planners' predictor takes) and a mismatched one (48-dim)."""
    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    right = VisionEncoder(EncoderConfig(embed_dim=DIM, depth=1, num_heads=2, img_size=CROP, name="vit_tiny"))
    wrong = VisionEncoder(EncoderConfig(embed_dim=48, depth=1, num_heads=2, img_size=CROP, name="vit_wrong"))
    return {"right": save_pretrained(right, root / "tiny_encoder"), "wrong": save_pretrained(wrong, root / "wrong")}


def planner_params(start: np.ndarray, **overrides: Any) -> dict[str, Any]:
    return {
        "use_sim_time": True,  # the watchdog measures input age on the simulator's clock (CPU starvation slows both)
        "autostart": True,
        "diagnostics_period_s": 0.5,
        "predictor.checkpoint": "random",
        "predictor.enc_embed_dim": DIM,
        "predictor.embed_dim": 32,
        "predictor.depth": 1,
        "predictor.num_heads": 2,
        "predictor.grid_size": CROP // 16,
        "predictor.torch_threads": 1,
        "cem.samples": 12,
        "cem.iterations": 2,
        "cem.top_k": 3,
        "energy_tolerance": 1e-6,  # random models: never reached unless the goal is the observation
        "max_steps": 50,
        "stale_after_s": STALE_AFTER_S,
        "topics.image": "/camera/image_raw",
        "topics.estop": ESTOP_TOPIC,
        "limits.workspace_min": (start - BOX_HALF).tolist(),
        "limits.workspace_max": (start + BOX_HALF).tolist(),
        "servo.rate_hz": 50.0,  # the least MoveIt Servo needs; spares the two shared cores
        "servo.linear_gain": 1.0,  # slow steps (>= 1 s): the watchdog and cancel tests stop them half-way
        "servo.position_tolerance": 0.001,
        "step_timeout_s": 6.0,
        **overrides,
    }


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, checkpoints: dict[str, Path], ros_isolation: int
) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        sim = s.node(
            "vjepa2_sim",
            "sim_node",
            name="franka_sim",
            params={
                "image_width": CROP,
                "image_height": CROP,
                "camera_rate": 20.0,
                "randomize": False,
                "seed": 1,
                "render_geometry": "collision",
                "publish_clock": True,
            },
        )
        s.start_encoder(checkpoints["right"])
        sim.wait_for_output("simulated Franka ready", START_TIMEOUT)
        start = s.pose()
        s.box = (start - BOX_HALF, start + BOX_HALF)
        s.start_pose = start
        s.node(
            "vjepa2_planner",
            "planner_node",
            name="vjepa2_planner",
            params=planner_params(start, **{"command_interface": "servo_twist", "cem.warm_start": True}),
        )
        s.node(
            "vjepa2_planner",
            "planner_node",
            name="vjepa2_planner_blocking",
            params=planner_params(start, **{"command_interface": "execute_action", "publish_debug_image": False}),
        )
        for planner in (SERVO, BLOCKING):
            s.planner_values(
                planner,
                "planner",
                lambda v: v["state"] == "active" and float(v["embedding_rate_hz"]) > 0,
                START_TIMEOUT,
            )
    except BaseException:
        s.print_logs()
        s.close()
        raise
    yield s
    s.close()


def image_goal(stack: Stack, offset=(0.03, -0.03, 0.02), **fields: Any) -> PlanToGoal.Goal:
    return PlanToGoal.Goal(goal_images=[stack.render_goal(offset)], **fields)


def stamp_s(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def nonzero(msg: TwistStamped) -> bool:
    t = msg.twist
    return any(abs(v) > 1e-9 for v in (t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z))


def wait_moving(stack: Stack, goal: Goal, start_index: int, timeout: float = 30.0) -> None:
    """Until the goal streams a non-zero twist; fails with the goal's result if it ended first."""

    def moving() -> bool:
        return any(nonzero(m) for m in stack.twists.messages[start_index:]) or goal._result.done()

    wait_until(moving, timeout, "a non-zero twist of the running goal")
    if not any(nonzero(m) for m in stack.twists.messages[start_index:]):
        raise AssertionError(f"the goal ended before it moved: {goal.result().message}")


def assert_stopped(stack: Stack, start_index: int) -> None:
    """Once a goal's result is in: no non-zero twist stamped after it, and the arm at rest.

    By stamp, not by arrival: this process may still be delivering twists sent before the result.
    """
    result_stamp = stamp_s(stack.poses.wait_count(len(stack.poses.messages) + 1).header.stamp)
    assert_at_rest(stack)
    late = [stamp_s(m.header.stamp) - result_stamp for m in stack.twists.messages[start_index:] if nonzero(m)]
    assert not [t for t in late if t > 0.05], f"non-zero twists {late} s after the result"


def assert_at_rest(stack: Stack) -> None:
    """After the arm's deceleration (0.5 s of states), it stays put for another 0.5 s: nothing commands it."""
    stack.poses.wait_count(len(stack.poses.messages) + 25)
    before = stack.pose()
    stack.poses.wait_count(len(stack.poses.messages) + 25)
    assert np.linalg.norm(stack.pose() - before) < 0.0015


def first_twist_after(stack: Stack, start_index: int, predicate: Any, timeout: float = 10.0) -> TwistStamped:
    return stack.twists.first_after(start_index, predicate, timeout, "a twist")


# ---------------------------------------------------------------------------------------------- tests
def test_goal_image_runs_end_to_end_with_feedback_and_result(stack: Stack) -> None:
    """execute_action: the goal image is encoded, each step plans (feedback per CEM iteration) and executes."""
    goal = stack.send(BLOCKING, image_goal(stack, max_steps=2))
    result = goal.result()
    assert result.outcome == PlanToGoal.Result.MAX_STEPS and not result.success, result.message
    assert result.steps_executed == 2 and len(result.energy_history) == 2
    assert all(np.isfinite(result.energy_history)) and np.isfinite(result.final_energy)
    states = [m.state for m in goal.feedback.messages]
    iterations = [m.cem_iteration for m in goal.feedback.messages if m.state == PlannerStatus.PLANNING]
    assert {1, 2} <= set(iterations), iterations
    executing = [m for m in goal.feedback.messages if m.state == PlannerStatus.EXECUTING]
    assert executing and all(m.plan_time_s > 0 for m in executing)
    assert any(m.execute_time_s > 0 for m in executing) and PlannerStatus.ENCODING in states
    assert max(abs(v) for v in executing[0].chosen_action[:3]) <= 0.075 + 1e-9


def test_goal_embedding_of_the_current_view_is_reached(stack: Stack) -> None:
    """A goal embedding of what the camera sees now: energy ~0 <= tolerance at step 0, success (REACHED)."""
    index = len(stack.embeddings.messages)
    embedding = stack.embeddings.first_after(index, lambda m: True, 10.0, "an embedding")
    goal = PlanToGoal.Goal(goal_embeddings=[embedding], energy_tolerance=0.05)
    result = stack.send(BLOCKING, goal).result()
    assert result.success and result.outcome == PlanToGoal.Result.REACHED, result.message
    assert result.steps_executed == 0 and result.final_energy <= 0.05


def test_sub_goals_from_set_goal_servo_twist_debug_image(stack: Stack) -> None:
    """SetGoal stores two goals; a goal without images pursues them (1 step each) with streamed twists."""
    images = [stack.render_goal((0.02, 0.0, 0.0)), stack.render_goal((0.0, 0.02, 0.0))]
    reply = stack.ros.call(SetGoal, f"{SERVO}/set_goal", SetGoal.Request(goal_images=images))
    assert reply.success and reply.num_goals == 2, reply.message
    twists_before, debug_before = len(stack.twists.messages), len(stack.debug_images.messages)
    markers_before = len(stack.markers.messages)
    goal = stack.send(SERVO, PlanToGoal.Goal(steps_per_goal=[1, 1]))
    result = goal.result()
    assert result.steps_executed == 2 and result.outcome == PlanToGoal.Result.MAX_STEPS, result.message
    assert {m.goal_index for m in goal.feedback.messages} >= {0, 1}
    streamed = stack.twists.messages[twists_before:]
    assert any(nonzero(m) for m in streamed) and not nonzero(streamed[-1])
    stamps = [stamp_s(m.header.stamp) for m in streamed if nonzero(m)]
    # fresh stamps: the (simulated) clock at sending time, so they advance with the stream (the sim clock ticks at
    # ~100 Hz of wall time, so consecutive 50 Hz twists may share a stamp)
    steps = np.diff(stamps)
    assert np.mean(steps >= 0) > 0.95 and stamps[-1] - stamps[0] > 0.3 * len(steps) / 50.0, steps
    picture = stack.debug_images.wait_for(debug_before + 1)[-1]
    assert (picture.width, picture.height) == (3 * 256, 256)
    # RViz markers in the base frame: the planned path (start + one point per planned action) and the CEM elites'
    # first actions (one line from the current position each)
    path, elites = stack.markers.wait_for(markers_before + 1)[-1].markers
    assert path.header.frame_id == elites.header.frame_id == "panda_link0"
    assert (path.ns, elites.ns) == ("planned_path", "elite_first_actions")
    assert len(path.points) >= 2 and len(elites.points) >= 2 and len(elites.points) % 2 == 0
    assert all(np.isfinite([p.x, p.y, p.z]).all() for p in path.points + elites.points)
    assert stack.ros.call(SetGoal, f"{SERVO}/set_goal", SetGoal.Request(clear=True)).success


def test_camera_stopped_zero_twist_and_abort(stack: Stack) -> None:
    """The camera stops mid-step: zero twist within 0.5 s (measured) and the goal aborts with the reason."""
    start = len(stack.twists.messages)
    goal = stack.send(SERVO, image_goal(stack))
    wait_moving(stack, goal, start)
    stack.relay_open.clear()
    stopped = time.monotonic()
    stopped_sim = stamp_s(stack.poses.messages[-1].header.stamp)  # the simulator's clock, to +-1/state_rate
    index = len(stack.twists.messages)
    try:
        zero = first_twist_after(stack, index, lambda m: not nonzero(m), 5.0)
        latency = time.monotonic() - stopped
        latency_sim = stamp_s(zero.header.stamp) - stopped_sim
        result = goal.result()
    finally:
        stack.relay_open.set()
    ages = stack.planner_values(SERVO, "planner", lambda v: True)
    print(
        f"\nembedding age at the planner: p50 {ages['embedding_age_p50_ms']} ms, p95 {ages['embedding_age_p95_ms']} "
        f"ms, max {ages['embedding_age_max_ms']} ms"
    )
    print(
        f"\nwatchdog: camera stopped -> zero twist after {latency_sim * 1e3:.0f} ms of sim time, "
        f"{latency * 1e3:.0f} ms wall (stale_after_s {STALE_AFTER_S} on the sim clock)"
    )
    assert latency_sim <= 0.5
    assert result.outcome == PlanToGoal.Result.ERROR and "watchdog" in result.message, result.message
    assert "embedding" in result.message
    assert not any(nonzero(m) for m in stack.twists.messages[len(stack.twists.messages) - 3 :])


def test_estop_latches_until_reset(stack: Stack) -> None:
    start = len(stack.twists.messages)
    goal = stack.send(SERVO, image_goal(stack))
    wait_moving(stack, goal, start)
    stack.estop.publish(Bool(data=True))
    result = goal.result()
    assert result.outcome == PlanToGoal.Result.ERROR and "e-stop" in result.message, result.message
    refused = stack.ros.call(Trigger, f"{SERVO}/reset_estop", Trigger.Request())
    assert not refused.success and "still asserted" in refused.message
    stack.estop.publish(Bool(data=False))
    stack.planner_values(SERVO, "safety", lambda v: v["estop_latched"] == "True")  # released but still latched
    blocked = stack.send(SERVO, image_goal(stack)).result()
    assert blocked.steps_executed == 0 and "e-stop" in blocked.message, blocked.message
    for planner in (SERVO, BLOCKING):  # both listen to the e-stop
        assert stack.ros.call(Trigger, f"{planner}/reset_estop", Trigger.Request()).success
    after = stack.send(SERVO, image_goal(stack, max_steps=1)).result()
    assert after.steps_executed == 1, after.message


def test_step_leaving_the_box_is_clipped(stack: Stack) -> None:
    """From a corner of the box every step that points out of it is clipped; the TCP stays inside."""
    low, high = stack.box
    stack.move_to(high - 0.003)
    index = len(stack.poses.messages)
    goal = stack.send(BLOCKING, image_goal(stack, offset=(0.1, 0.1, 0.1), max_steps=4))
    result = goal.result()
    assert result.steps_executed == 4, result.message
    messages = [m.message for m in goal.feedback.messages if m.state == PlannerStatus.EXECUTING]
    assert any("workspace" in m for m in messages), messages
    positions = np.array(
        [[p.pose.position.x, p.pose.position.y, p.pose.position.z] for p in stack.poses.messages[index:]]
    )
    assert np.all(positions <= high + 0.005) and np.all(positions >= low - 0.005)
    values = stack.planner_values(BLOCKING, "safety", lambda v: int(v.get("clipped", 0)) > 0)
    assert int(values["clipped"]) > 0


def test_cancel_stops_motion(stack: Stack) -> None:
    start = len(stack.twists.messages)
    goal = stack.send(SERVO, image_goal(stack))
    wait_moving(stack, goal, start)
    index = len(stack.twists.messages)
    goal.cancel()
    first_twist_after(stack, index, lambda m: not nonzero(m), 2.0)
    result = goal.result()
    assert result.outcome == PlanToGoal.Result.CANCELED and "canceled" in result.message
    assert goal.status() == 5  # action_msgs/GoalStatus.STATUS_CANCELED
    assert_stopped(stack, start)


def test_second_goal_preempts_the_first(stack: Stack) -> None:
    start = len(stack.twists.messages)
    first = stack.send(SERVO, image_goal(stack))
    wait_moving(stack, first, start)
    second = stack.send(SERVO, image_goal(stack, offset=(-0.02, 0.02, 0.0), max_steps=1))
    preempted = first.result()
    assert preempted.outcome == PlanToGoal.Result.CANCELED and "preempted" in preempted.message
    assert first.status() == 6  # aborted: the client did not ask for it
    result = second.result()
    assert result.steps_executed == 1, result.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"encoding": "32FC1"}, "unsupported image encoding"),
        ({"height": 32, "width": 32, "step": 96, "data": bytes(32 * 96)}, "camera's frames are 64x64"),
        ({"height": 64, "data": bytes(10)}, "bytes"),
        ({"height": 0, "width": 0, "step": 0, "data": b""}, "zero size"),
    ],
    ids=["wrong_encoding", "wrong_size", "truncated", "empty"],
)
def test_bad_goal_image_rejected_with_a_clear_message(stack: Stack, change: dict, expected: str) -> None:
    image = rgb_to_image(np.zeros((CROP, CROP, 3), np.uint8))
    for key, value in change.items():
        setattr(image, key, value)
    result = stack.send(SERVO, PlanToGoal.Goal(goal_images=[image])).result()
    assert result.outcome == PlanToGoal.Result.ERROR and result.steps_executed == 0
    assert "goal_images[0]" in result.message and expected in result.message, result.message


def test_mismatched_encoder_clear_error_node_stays_up(stack: Stack, checkpoints: dict[str, Path]) -> None:
    stack.kill_encoder()
    stack.start_encoder(checkpoints["wrong"])
    try:
        values = stack.planner_values(SERVO, "planner", lambda v: "48-dim" in v["_message"], START_TIMEOUT)
        assert values["_level"] == DiagnosticStatus.ERROR
        result = stack.send(
            SERVO, PlanToGoal.Goal(goal_images=[rgb_to_image(np.zeros((CROP, CROP, 3), np.uint8))])
        ).result()
        assert result.outcome == PlanToGoal.Result.ERROR and "48-dim" in result.message, result.message
        assert "32-dim" in result.message
    finally:
        stack.kill_encoder()
        stack.start_encoder(checkpoints["right"])
    stack.encoder_active()
    stack.planner_values(SERVO, "planner", lambda v: v["_message"].startswith("idle"), START_TIMEOUT)


def test_encoder_killed_mid_goal_aborts_then_next_goal_works(stack: Stack, checkpoints: dict[str, Path]) -> None:
    start = len(stack.twists.messages)
    goal = stack.send(SERVO, image_goal(stack))
    wait_moving(stack, goal, start)
    stack.kill_encoder()
    try:
        result = goal.result()
        assert result.outcome == PlanToGoal.Result.ERROR and "embedding" in result.message, result.message
        assert_stopped(stack, start)
    finally:
        stack.start_encoder(checkpoints["right"])
    stack.encoder_active()
    after = stack.send(SERVO, image_goal(stack, max_steps=1)).result()
    assert after.steps_executed == 1, after.message


@pytest.fixture(autouse=True)
def logs_on_failure(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    """Each test starts with the arm at the start pose (the box centre); the processes' output after a failure."""
    stack.move_to(stack.start_pose)
    yield
    report = getattr(request.node, "vjepa2_report_call", None)
    if report is not None and report.failed:
        stack.print_logs()


def set_parameters(stack: Stack, node: str, **values: Any) -> None:
    request = SetParameters.Request(
        parameters=[Parameter(k.replace("__", "."), value=v).to_parameter_msg() for k, v in values.items()]
    )
    reply = stack.ros.call(SetParameters, f"{node}/set_parameters", request)
    assert all(r.successful for r in reply.results), [r.reason for r in reply.results]


def test_lifecycle_bad_checkpoint_stays_up_then_pose_target(stack: Stack) -> None:
    """A failed configure leaves the node up (reason on /diagnostics); reconfigured for pose_target it plans again."""
    lifecycle = LifecycleClient(stack.ros.node, BLOCKING)
    targets = stack.stream(PoseStamped, "/servo_node/pose_target_cmds", 10)
    lifecycle.change("deactivate")
    lifecycle.change("cleanup")
    try:
        set_parameters(stack, BLOCKING, predictor__checkpoint="/nonexistent/vjepa2-ac-vitg.pt")
        with pytest.raises(TransitionFailed):
            lifecycle.change("configure")
        status = stack.planner_values(BLOCKING, "lifecycle", lambda v: v["_level"] == DiagnosticStatus.ERROR)
        assert "does not exist" in status["_message"] and lifecycle.state() == "unconfigured"
        set_parameters(stack, BLOCKING, predictor__checkpoint="random", command_interface="pose_target")
        lifecycle.change("configure")
        lifecycle.change("activate")
        index = len(targets.messages)
        result = stack.send(BLOCKING, image_goal(stack, max_steps=1)).result()
        assert result.steps_executed == 1, result.message
        target = targets.first_after(index, lambda m: True, 5.0, "a pose target")
        assert target.header.frame_id == "panda_link0"
        low, high = stack.box
        position = np.array([target.pose.position.x, target.pose.position.y, target.pose.position.z])
        assert np.all(position >= low - 1e-6) and np.all(position <= high + 1e-6)
    finally:
        if lifecycle.state() == "active":
            lifecycle.change("deactivate")
        if lifecycle.state() == "inactive":
            lifecycle.change("cleanup")
        set_parameters(stack, BLOCKING, predictor__checkpoint="random", command_interface="execute_action")
        lifecycle.change("configure")
        lifecycle.change("activate")


def _malformed_embedding(rng: np.random.Generator) -> Embedding:
    """An Embedding whose sizes, values or model id do not fit (sometimes empty, NaN or inconsistent)."""
    msg = Embedding(model_id=pick(rng, ("vit_tiny", "vit_wrong", *NASTY_STRINGS)))
    msg.num_tokens = int(pick(rng, (0, 1, 16, 17, 2**32 - 1)))
    msg.dim = int(pick(rng, (0, DIM, 48, 2**32 - 1)))
    msg.grid = [int(v) for v in rng.integers(0, 20, 3)]
    size = int(pick(rng, (0, 16 * DIM, 16 * DIM + 1, int(rng.integers(0, 2048)))))
    tokens = rng.standard_normal(size).astype(np.float32)
    if size and rng.random() < 0.3:
        tokens[int(rng.integers(size))] = pick(rng, (np.nan, np.inf, -np.inf))
    msg.tokens = tokens.tolist()
    msg.header.stamp = nasty_stamp(rng)
    return msg


def _malformed_pose(rng: np.random.Generator) -> PoseStamped:
    msg = PoseStamped()
    msg.header.stamp = nasty_stamp(rng)
    msg.header.frame_id = pick(rng, ("panda_link0", "world", *NASTY_STRINGS))
    p, q = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z = (float(pick(rng, (*NASTY_FLOATS, float(rng.normal(0.5, 0.3))))) for _ in range(3))
    q.x, q.y, q.z, q.w = (float(pick(rng, (*NASTY_FLOATS, 0.0, float(rng.normal())))) for _ in range(4))
    return msg


def _malformed_goal(rng: np.random.Generator, good_image: Image) -> PlanToGoal.Goal:
    goal = PlanToGoal.Goal()
    goal.goal_images = [good_image if rng.random() < 0.3 else malformed_image(rng) for _ in range(rng.integers(3))]
    goal.goal_embeddings = [_malformed_embedding(rng) for _ in range(rng.integers(3))]
    goal.steps_per_goal = [int(v) for v in rng.integers(0, 2**32 - 1, int(rng.integers(4)), dtype=np.uint64)]
    goal.energy_tolerance = float(pick(rng, (*NASTY_FLOATS, 0.0, 1e-3)))
    goal.max_steps = int(pick(rng, (0, 1, 2**32 - 1)))
    return goal


def test_fuzzed_inputs_leave_the_planner_up_and_planning(stack: Stack) -> None:
    """Seeded malformed goals, SetGoal requests, embeddings, states, e-stop flips, parameter sets and lifecycle
    requests; afterwards the planner is up, its e-stop resets and a valid goal is REACHED."""
    rng = np.random.default_rng(20261202)
    node = stack.ros.node
    state_pub = stack.ros.publisher(PoseStamped, "/franka_robot_state_broadcaster/current_pose", BEST_EFFORT)
    embedding_pub = stack.ros.publisher(Embedding, "/embedding", 5)
    set_goal = node.create_client(SetGoal, f"{SERVO}/set_goal")
    set_params = node.create_client(SetParameters, f"{SERVO}/set_parameters")
    change = node.create_client(ChangeState, f"{SERVO}/change_state")
    for client in (set_goal, set_params, change):
        assert client.wait_for_service(timeout_sec=START_TIMEOUT), client.srv_name
    good_image = stack.render_goal((0.01, 0.0, 0.0))
    specs = [s for s in schema_specs(PlannerParams) if not s.name.startswith("topics.")]
    requests = RequestStream()
    goals: list[Any] = []
    kinds = ("goal", "set_goal", "embedding", "state", "estop", "parameters", "transition")
    weights = np.array([0.15, 0.2, 0.25, 0.2, 0.05, 0.1, 0.05])
    for kind in rng.choice(kinds, size=250, p=weights / weights.sum()):
        if kind == "goal":
            goal = _malformed_goal(rng, good_image)
            goals.append(stack.in_client_group(lambda g=goal: stack.clients[SERVO].send_goal_async(g)))
        elif kind == "set_goal":
            request = SetGoal.Request(clear=bool(rng.random() < 0.2))
            request.goal_images = [malformed_image(rng) for _ in range(rng.integers(3))]
            request.goal_embeddings = [_malformed_embedding(rng) for _ in range(rng.integers(3))]
            requests.send("set_goal", set_goal, request)
        elif kind == "embedding":
            embedding_pub.publish(_malformed_embedding(rng))
        elif kind == "state":
            state_pub.publish(_malformed_pose(rng))
        elif kind == "estop":
            stack.estop.publish(Bool(data=bool(rng.random() < 0.5)))
        elif kind == "parameters":
            attacks = parameter_attacks(rng, specs, int(rng.integers(1, 4)))
            request = SetParameters.Request(parameters=[p.to_parameter_msg() for p in attacks])
            requests.send("parameters", set_params, request)
        else:
            requests.send("transition", change, lifecycle_requests(rng, 1)[0])
    for kind, response in requests.replies():
        if kind == "parameters":
            assert not any(r.successful for r in response.results), [r.reason for r in response.results]
    for future in goals:  # every goal got an answer (accepted or rejected), none hung the action server
        RosHarness.wait_future(future, 60.0, "a fuzzed goal's acceptance")
    planner = next(p for p in stack.launcher.processes if "__node:=vjepa2_planner" in p.cmd)
    assert planner.alive(), planner.output()[-3000:]
    assert "Traceback" not in planner.output(), planner.output()[-3000:]

    # recover: lifecycle up, e-stop released and reset, stored goals cleared; then a valid goal succeeds
    LifecycleClient(node, SERVO, timeout=START_TIMEOUT).up()
    stack.estop.publish(Bool(data=False))
    wait_until(
        lambda: stack.ros.call(Trigger, f"{SERVO}/reset_estop", Trigger.Request()).success, 30.0, "the e-stop reset"
    )
    assert stack.ros.call(SetGoal, f"{SERVO}/set_goal", SetGoal.Request(clear=True)).success
    index = len(stack.embeddings.messages)
    embedding = stack.embeddings.first_after(index, lambda m: True, 10.0, "an embedding")
    result = stack.send(SERVO, PlanToGoal.Goal(goal_embeddings=[embedding], energy_tolerance=0.05)).result()
    assert result.success and result.outcome == PlanToGoal.Result.REACHED, result.message
