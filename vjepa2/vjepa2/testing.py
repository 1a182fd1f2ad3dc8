"""Test helpers of the bringup graphs: tiny models and parameter files for the planning graphs, a PlanToGoal
client on a ``vjepa2_common.testing.RosHarness``, and how far the arm landed from where the planner commanded it
(from the planner's own feedback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vjepa2_common import names
from vjepa2_common.testing import Collector, ManagedProcess, RosHarness, wait_until

#: the tiny models' sizes: 64 px frames -> 4 x 4 tokens of 32 dims
TINY_CROP = 64
TINY_DIM = 32


def tiny_encoder(directory: Path) -> Path:
    """A random-weight encoder (32-dim tokens, 64 px) saved as a vjepa2_core checkpoint in ``directory``."""
    import torch

    from vjepa2_core.checkpoint import save_pretrained
    from vjepa2_core.models import EncoderConfig, VisionEncoder

    torch.manual_seed(0)
    config = EncoderConfig(embed_dim=TINY_DIM, depth=1, num_heads=2, img_size=TINY_CROP, name="vit_tiny")
    return save_pretrained(VisionEncoder(config), directory)


def tiny_planning_params(**planner: Any) -> dict[str, dict[str, Any]]:
    """Parameters of the encoder and the planner node for ``tiny_encoder`` and a random predictor of its size,
    CEM small enough for a shared CPU; ``planner`` adds to (or overrides) the planner's."""
    return {
        "/**/vjepa2_encoder": {
            "autostart": True,
            "crop_size": TINY_CROP,
            "output.normalize": True,
            "output.pooled": False,
            "model.torch_threads": 1,
        },
        "/**/vjepa2_planner": {
            "autostart": True,
            "diagnostics_period_s": 0.5,
            "predictor.enc_embed_dim": TINY_DIM,
            "predictor.embed_dim": 32,
            "predictor.depth": 1,
            "predictor.num_heads": 2,
            "predictor.grid_size": TINY_CROP // 16,
            "predictor.torch_threads": 1,
            "cem.samples": 12,
            "cem.iterations": 2,
            "cem.top_k": 3,
            "cem.plan_gripper": False,  # the arm is what the graph tests measure
            "energy_tolerance": 1e-6,  # random models: never reached, so a goal runs its max_steps
            "stale_after_s": 5.0,  # wall clock on a loaded 2-core machine (the watchdog has its own tests)
            "publish_markers": False,
            **planner,
        },
    }


def write_params(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """A ROS 2 parameter file of ``{section: {dotted.name: value}}`` (no YAML aliases: rcl does not read them)."""
    import yaml

    from vjepa2.runner import NoAliasDumper

    data = {section: {"ros__parameters": values} for section, values in sections.items()}
    path.write_text(yaml.dump(data, Dumper=NoAliasDumper))
    return path


class PlannerClient:
    """Sends PlanToGoal goals to one planner node and reads its readiness from /diagnostics."""

    def __init__(self, ros: RosHarness, planner: str = "/vjepa2_planner") -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.action import ActionClient
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

        from vjepa2_msgs.action import PlanToGoal

        self.ros = ros
        self.status_name = f"{planner.rsplit('/', 1)[-1]}: planner"
        self.group = MutuallyExclusiveCallbackGroup()
        self.action = f"{planner}/plan_to_goal"
        self.client = ActionClient(ros.node, PlanToGoal, self.action, callback_group=self.group)
        self.diagnostics = ros.collect(DiagnosticArray, names.DIAGNOSTICS_TOPIC)

    def planner_values(self, msg: Any) -> dict[str, str] | None:
        for status in msg.status:
            if status.name == self.status_name:
                return {kv.key: kv.value for kv in status.values}
        return None

    def wait_active(self, timeout: float, process: ManagedProcess | None = None) -> None:
        """Until the planner says on /diagnostics that it is active and receives embeddings; fails at once, with
        its output, if ``process`` (e.g. the runner of its graph) ends first."""

        def ready(msg: Any) -> bool:
            values = self.planner_values(msg)
            return values is not None and values.get("state") == "active" and float(values["embedding_rate_hz"]) > 0

        def done() -> bool:
            return any(ready(m) for m in self.diagnostics.messages[-20:]) or (
                process is not None and not process.alive()
            )

        wait_until(done, timeout, f"{self.status_name} active with embeddings on /diagnostics", poll_s=0.2)
        if process is not None and not process.alive():
            raise AssertionError(f"{process.cmd[0]} exited with {process.proc.returncode}:\n{process.output()[-4000:]}")

    def run(self, goal: Any, timeout: float) -> tuple[Any, list[Any]]:
        """Send ``goal``, wait for its result; return the result and the feedback (PlannerStatus) received."""
        assert self.client.wait_for_server(timeout_sec=30.0), f"no action server {self.action}"
        feedback = Collector()
        handle = RosHarness.wait_future(
            self.ros.in_group(
                self.group,
                lambda: self.client.send_goal_async(goal, feedback_callback=lambda f: feedback(f.feedback.status)),
            ),
            30.0,
            "the goal's acceptance",
        )
        assert handle.accepted, "the planner rejected the goal"
        response = RosHarness.wait_future(self.ros.in_group(self.group, handle.get_result_async), timeout, "the result")
        return response.result, list(feedback.messages)


def executed_steps(feedback: list[Any]) -> list[Any]:
    """The feedback sent after each executed motion (EXECUTING with execute_time_s > 0), in order: each carries the
    action the safety layer let through (``chosen_action``) and the end-effector state it started from."""
    from vjepa2_msgs.msg import PlannerStatus

    return [s for s in feedback if s.state == PlannerStatus.EXECUTING and s.execute_time_s > 0]


def motion_errors(steps: list[Any], final_position: np.ndarray) -> list[float]:
    """Per executed step, how far [m] the TCP ended from where its commanded translation should have taken it:
    the start of the next step (or ``final_position`` after the last) against start + (dx, dy, dz)."""
    starts = [np.asarray(s.ee_state[:3], float) for s in steps]
    ends = [*starts[1:], np.asarray(final_position, float)]
    return [
        float(np.linalg.norm(start + np.asarray(s.chosen_action[:3], float) - end))
        for s, start, end in zip(steps, starts, ends)
    ]
