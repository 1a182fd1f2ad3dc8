"""The `sim` graph started by vjepa2-launch (tiny random models, in a namespace): a PlanToGoal goal sent over DDS
makes the planner command the simulator through ~/execute_action, and the arm moves as the planner commanded."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from vjepa2.testing import (
    TINY_CROP,
    PlannerClient,
    executed_steps,
    motion_errors,
    tiny_encoder,
    tiny_planning_params,
    write_params,
)
from vjepa2_common import names
from vjepa2_common.qos import qos_from_name
from vjepa2_common.testing import ProcessLauncher, RosHarness
from vjepa2_msgs.action import PlanToGoal
from vjepa2_msgs.srv import RenderGoal

NS = "/sim1"
START_TIMEOUT_S = 180.0  # MuJoCo and two torch processes starting at once on two busy cores
STEPS = 2
#: the simulator's part of the tiny parameter file (the shipped sim.yaml runs the demo model on its stereo camera)
SIM = {
    "image_width": TINY_CROP,
    "image_height": TINY_CROP,
    "camera_rate": 10.0,
    "cameras": ["exterior"],
    "randomize": False,
    "seed": 1,
    "render_geometry": "collision",
}


def test_sim_graph_executes_planned_steps(launcher: ProcessLauncher, ros: RosHarness, tmp_path: Path) -> None:
    checkpoint = tiny_encoder(tmp_path / "tiny_encoder")
    params = write_params(tmp_path / "sim_tiny.yaml", {"/**/franka_sim": SIM, **tiny_planning_params()})
    planner = PlannerClient(ros, f"{NS}/vjepa2_planner")
    poses = ros.collect(PoseStamped, f"{NS}{names.CURRENT_POSE_TOPIC}", qos_from_name("sensor_data", depth=1))
    latched = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    motion = ros.collect(DiagnosticStatus, f"{NS}{names.SIM_MOTION_STATUS_TOPIC}", latched)
    runner = launcher.start(
        [
            "vjepa2-launch",
            "sim",
            f"params_file:={params}",
            f"encoder_checkpoint:={checkpoint}",
            "predictor_checkpoint:=random",
            "command_interface:=execute_action",
            "camera:=exterior",
            f"namespace:={NS.strip('/')}",
        ],
        label="runner",
    )
    planner.wait_active(START_TIMEOUT_S, runner)

    start = poses.wait_for(1)[-1]
    request = RenderGoal.Request(gripper=-1.0, pose=copy.deepcopy(start))
    request.pose.pose.position.y += 0.04
    goal_image = ros.call(RenderGoal, f"{NS}{names.SIM_RENDER_GOAL_SERVICE}", request)
    assert goal_image.success, goal_image.message
    accepted_before = sum(m.message == "accepted action" for m in motion.messages)

    result, feedback = planner.run(PlanToGoal.Goal(goal_images=[goal_image.image], max_steps=STEPS), timeout=120.0)
    assert result.outcome == PlanToGoal.Result.MAX_STEPS, result.message
    assert result.steps_executed == STEPS and len(result.energy_history) == STEPS
    # the simulator's ~/execute_action accepted one action per planned step (its ~/motion_status, over DDS)
    accepted = sum(m.message == "accepted action" for m in motion.messages) - accepted_before
    assert accepted == STEPS, [m.message for m in motion.messages]

    steps = executed_steps(feedback)
    assert [s.step for s in steps] == list(range(1, STEPS + 1))
    final = poses.wait_for(1, predicate=lambda m: m.header.stamp.sec > 0)[-1].pose.position
    errors = motion_errors(steps, np.array([final.x, final.y, final.z]))
    commanded = [float(np.linalg.norm(s.chosen_action[:3])) for s in steps]
    errors_mm = np.array(errors) * 1e3
    print(f"sim graph: commanded steps {np.round(commanded, 4)} m, landed within {np.round(errors_mm, 2)} mm")
    assert max(commanded) > 0.005, "CEM chose no motion: the test shows nothing"
    assert max(errors) < 0.003
    assert runner.alive() and "Traceback" not in runner.output()
