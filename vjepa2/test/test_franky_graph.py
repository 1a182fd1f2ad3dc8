"""The planner through the franky bridge, end to end against franky-sim on 127.0.0.1: the `franky` graph started by
vjepa2-launch (tiny random models), camera frames from vjepa2_common's image_publisher -> encoder node -> planner
-> the bridge's ~/execute_action -> franky -> the (simulated) robot. A PlanToGoal goal finishes with a result and
the arm moved as the planner commanded it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image
from vjepa2_franka.testing import SIM_BRIDGE_PARAMS, FrankySim, running_franky_sim

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

START_TIMEOUT_S = 180.0  # franky-sim, the bridge and two torch processes starting at once on two busy cores
STEPS = 2
#: franky-sim starts its TCP at (0.554, 0, 0.521) m: a box around it that leaves every planned step room; steps of at
#: most 2 cm per axis keep the motions short (franky-sim's robot time falls far behind the wall clock under load)
LIMITS = {
    "limits.workspace_min": [0.3, -0.3, 0.1],
    "limits.workspace_max": [0.75, 0.3, 0.75],
    "limits.max_step_per_axis": 0.02,
}


@pytest.fixture
def franky_sim(tmp_path: Path) -> Iterator[FrankySim]:
    with running_franky_sim(tmp_path) as sim:
        yield sim


def test_plan_to_goal_through_the_franky_bridge(
    franky_sim: FrankySim, launcher: ProcessLauncher, ros: RosHarness, tmp_path: Path
) -> None:
    checkpoint = tiny_encoder(tmp_path / "tiny_encoder")
    # franky.yaml's three roles with franky-sim's bridge settings and tiny models (franky.yaml is for a real robot)
    planning = tiny_planning_params(observation_timeout_s=30.0, step_timeout_s=60.0, **LIMITS)
    bridge = {**SIM_BRIDGE_PARAMS, "dynamics_factor": 0.5, **LIMITS}
    params = write_params(tmp_path / "franky_tiny.yaml", {"/**/franky_bridge": bridge, **planning})
    planner = PlannerClient(ros)
    frames = ros.collect(Image, names.CAMERA_IMAGE_TOPIC, qos_from_name("sensor_data"))
    poses = ros.collect(PoseStamped, names.CURRENT_POSE_TOPIC, qos_from_name("sensor_data", depth=1))
    launcher.node(
        "vjepa2_common",
        "image_publisher",
        name="camera",
        params={"rate_hz": 10.0, "height": TINY_CROP, "width": TINY_CROP},
        remaps={"image": names.CAMERA_IMAGE_TOPIC},
    )
    runner = launcher.start(
        [
            "vjepa2-launch",
            "franky",
            f"params_file:={params}",
            "robot_ip:=127.0.0.1",
            f"encoder_checkpoint:={checkpoint}",
            "predictor_checkpoint:=random",
        ],
        label="runner",
    )
    planner.wait_active(START_TIMEOUT_S, runner)
    goal_image = frames.wait_for(1)[0]  # a view of the pattern the camera showed earlier: a goal to plan towards

    result, feedback = planner.run(PlanToGoal.Goal(goal_images=[goal_image], max_steps=STEPS), timeout=240.0)
    assert result.outcome == PlanToGoal.Result.MAX_STEPS, result.message
    assert result.steps_executed == STEPS and len(result.energy_history) == STEPS
    steps = executed_steps(feedback)
    assert [s.step for s in steps] == list(range(1, STEPS + 1))
    assert all("execute_action" not in s.message for s in steps), [s.message for s in steps]  # bridge succeeded

    final = poses.wait_for(1)[-1].pose.position
    errors = motion_errors(steps, np.array([final.x, final.y, final.z]))
    commanded = [float(np.linalg.norm(s.chosen_action[:3])) for s in steps]
    errors_mm = np.array(errors) * 1e3
    print(f"franky graph: commanded steps {np.round(commanded, 4)} m, landed within {np.round(errors_mm, 2)} mm")
    assert max(commanded) > 0.005, "CEM chose no motion: the test shows nothing"
    assert max(errors) < 0.003  # the bridge's position_tolerance is 2 mm
    assert runner.alive() and "Traceback" not in runner.output()
