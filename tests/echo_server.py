"""Test peer for the interface round-trip test: echoes every vjepa2_msgs topic, serves both services and
the PlanToGoal action with answers derived from the request, so the test can check every field crossed."""

from __future__ import annotations

import time

import numpy as np
from rclpy.action import ActionServer
from rclpy.node import Node

from vjepa2_common.node import run_node
from vjepa2_msgs.action import PlanToGoal
from vjepa2_msgs.msg import Classification, Embedding, PlannerStatus
from vjepa2_msgs.srv import EncodeImage, SetGoal

TOPIC_TYPES = {"embedding": Embedding, "classification": Classification, "planner_status": PlannerStatus}


class EchoServer(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("echo_server", **kwargs)
        for topic, msg_type in TOPIC_TYPES.items():
            pub = self.create_publisher(msg_type, f"{topic}_out", 10)
            self.create_subscription(msg_type, f"{topic}_in", pub.publish, 10)
        self.create_service(SetGoal, "set_goal", self._set_goal)
        self.create_service(EncodeImage, "encode_image", self._encode)
        self._action = ActionServer(self, PlanToGoal, "plan_to_goal", self._plan)

    def _set_goal(self, request: SetGoal.Request, response: SetGoal.Response) -> SetGoal.Response:
        response.num_goals = 0 if request.clear else len(request.goal_images) + len(request.goal_embeddings)
        response.success = True
        response.message = ",".join(f"{im.width}x{im.height}" for im in request.goal_images)
        return response

    def _encode(self, request: EncodeImage.Request, response: EncodeImage.Response) -> EncodeImage.Response:
        image = request.images[0]
        pixels = np.frombuffer(image.data, np.uint8).astype(np.float32)
        response.embedding.header = image.header
        response.embedding.num_frames = len(request.images)
        response.embedding.grid = [1, image.height // 16, image.width // 16]
        response.embedding.normalized = request.normalized
        response.embedding.pooled = [float(pixels.mean())] if request.pooled else []
        response.success = True
        return response

    def _plan(self, goal_handle) -> PlanToGoal.Result:
        goal = goal_handle.request
        # A real planner's first feedback comes seconds later; this peer answers at once, so it first waits
        # (bounded) until it has discovered the client's feedback subscription, or feedback would be lost.
        deadline = time.monotonic() + 10.0
        while self.count_subscribers("plan_to_goal/_action/feedback") < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        energies = [1.0 / (step + 1) for step in range(goal.max_steps)]
        for step, energy in enumerate(energies):
            feedback = PlanToGoal.Feedback()
            feedback.status.state = PlannerStatus.PLANNING
            feedback.status.step = step
            feedback.status.energy = energy
            goal_handle.publish_feedback(feedback)
        goal_handle.succeed()
        result = PlanToGoal.Result(
            success=True,
            outcome=PlanToGoal.Result.REACHED,
            steps_executed=len(energies),
            energy_history=energies,
            final_energy=energies[-1] if energies else 0.0,
        )
        result.message = f"{len(goal.goal_images)} goal image(s), tolerance {goal.energy_tolerance}"
        return result


if __name__ == "__main__":
    raise SystemExit(run_node(EchoServer))
