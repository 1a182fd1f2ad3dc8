"""Every vjepa2_msgs interface crosses a process boundary intact: topics, both services and the action."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from vjepa2_common.image import rgb_to_image
from vjepa2_common.testing import DISCOVERY_TIMEOUT_S, RosHarness, wait_until

pytest.importorskip("vjepa2_msgs", reason="the workspace is not built (make setup)")
from rclpy.action import ActionClient

from vjepa2_msgs.action import PlanToGoal
from vjepa2_msgs.msg import Classification, Embedding, PlannerStatus
from vjepa2_msgs.srv import EncodeImage, SetGoal

ECHO_SERVER = Path(__file__).with_name("echo_server.py")


def sample_embedding() -> Embedding:
    msg = Embedding(model_id="vit_tiny:test", num_frames=2, grid=[1, 2, 3], num_tokens=6, dim=4, normalized=True)
    msg.header.frame_id = "camera_optical_frame"
    msg.header.stamp = Time(sec=12, nanosec=345)
    msg.frame_stamps = [Time(sec=12, nanosec=0), Time(sec=12, nanosec=345)]
    msg.tokens = np.arange(24, dtype=np.float32).tolist()
    msg.pooled = [0.5, -1.5, 2.0, 3.25]
    return msg


def sample_classification() -> Classification:
    msg = Classification(
        model_id="vit_tiny+probe", class_ids=[3, 1], labels=["pushing", "pulling"], scores=[0.75, 0.25]
    )
    msg.header.frame_id = "camera_optical_frame"
    return msg


def sample_status() -> PlannerStatus:
    msg = PlannerStatus(
        state=PlannerStatus.PLANNING,
        goal_index=1,
        step=4,
        cem_iteration=3,
        cem_iterations=10,
        energy=0.375,
        best_energy=0.25,
        energy_per_iteration=[0.5, 0.45, 0.4],
        message="planning",
    )
    msg.chosen_action = [0.01, -0.02, 0.03, 0.0, 0.0, 0.0, 0.5]
    msg.ee_state = [0.5, 0.0, 0.3, 3.1, 0.0, 0.0, 0.0]
    msg.header.frame_id = "panda_link0"
    return msg


def fields(msg: object) -> dict:
    """Comparable view of a message (arrays as lists, nested messages recursively)."""
    out = {}
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, "get_fields_and_field_types"):
            value = fields(value)
        elif isinstance(value, (list, tuple)) and value and hasattr(value[0], "get_fields_and_field_types"):
            value = [fields(v) for v in value]
        elif hasattr(value, "tolist"):
            value = value.tolist()
        elif not isinstance(value, (str, bytes, int, float, bool)):
            value = list(value)
        out[name] = value
    return out


@pytest.fixture
def echo(launcher, ros: RosHarness):
    proc = launcher.start([sys.executable, str(ECHO_SERVER)], label="echo_server")
    ros.wait_for_node("echo_server")
    return proc


@pytest.mark.parametrize(
    "topic,make",
    [("embedding", sample_embedding), ("classification", sample_classification), ("planner_status", sample_status)],
)
def test_topic_round_trip(echo, ros: RosHarness, topic: str, make) -> None:
    sent = make()
    received = ros.collect(type(sent), f"{topic}_out")
    pub = ros.publisher(type(sent), f"{topic}_in", subscribers=1)
    wait_until(lambda: ros.node.count_publishers(f"{topic}_out") >= 1, DISCOVERY_TIMEOUT_S, f"echo of {topic}")
    pub.publish(sent)
    (echoed,) = received.wait_for(1)
    assert fields(echoed) == fields(sent)


def test_set_goal_service(echo, ros: RosHarness) -> None:
    images = [rgb_to_image(np.zeros((48, 64, 3), np.uint8)), rgb_to_image(np.zeros((32, 32, 3), np.uint8))]
    response = ros.call(SetGoal, "set_goal", SetGoal.Request(goal_images=images, goal_embeddings=[sample_embedding()]))
    assert response.success and response.num_goals == 3 and response.message == "64x48,32x32"
    assert ros.call(SetGoal, "set_goal", SetGoal.Request(clear=True)).num_goals == 0


def test_encode_image_service(echo, ros: RosHarness) -> None:
    image = rgb_to_image(np.full((32, 48, 3), 7, np.uint8), Time(sec=5), "cam")
    response = ros.call(EncodeImage, "encode_image", EncodeImage.Request(images=[image], normalized=True, pooled=True))
    assert response.success
    assert list(response.embedding.grid) == [1, 2, 3] and response.embedding.normalized
    assert response.embedding.header.frame_id == "cam" and response.embedding.header.stamp.sec == 5
    assert list(response.embedding.pooled) == [7.0]


def test_plan_action_round_trip(echo, ros: RosHarness) -> None:
    client = ActionClient(ros.node, PlanToGoal, "plan_to_goal")
    assert client.wait_for_server(timeout_sec=DISCOVERY_TIMEOUT_S), "action server did not appear"
    # The server sends feedback at once; wait until the feedback topic is connected so none is lost.
    wait_until(
        lambda: ros.node.count_publishers("/plan_to_goal/_action/feedback") >= 1,
        DISCOVERY_TIMEOUT_S,
        "the feedback topic",
    )
    # Feedback is read from the action's feedback topic: rclpy's client drops feedback that arrives after the
    # result, which this instant peer makes likely; a real planner has seconds between the two.
    feedback = ros.collect(PlanToGoal.Impl.FeedbackMessage, "/plan_to_goal/_action/feedback")
    goal = PlanToGoal.Goal(
        goal_images=[rgb_to_image(np.zeros((16, 16, 3), np.uint8))], max_steps=4, energy_tolerance=0.3
    )
    handle = ros.wait_future(client.send_goal_async(goal), DISCOVERY_TIMEOUT_S, "goal acceptance")
    assert handle.accepted
    result = ros.wait_future(handle.get_result_async(), DISCOVERY_TIMEOUT_S, "action result").result
    assert result.success and result.outcome == PlanToGoal.Result.REACHED and result.steps_executed == 4
    assert list(result.energy_history) == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert result.message == "1 goal image(s), tolerance 0.30000001192092896"
    messages = feedback.wait_for(4)
    assert all(bytes(m.goal_id.uuid) == bytes(handle.goal_id.uuid) for m in messages)
    assert [m.feedback.status.step for m in messages] == [0, 1, 2, 3]
    assert [m.feedback.status.energy for m in messages] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert all(m.feedback.status.state == PlannerStatus.PLANNING for m in messages)
    client.destroy()
