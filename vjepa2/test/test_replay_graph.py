"""The replay graph through vjepa2-launch: a small recorded bag -> bag player (/clock) -> encoder node -> planner
in dry run. Planned commands appear on /vjepa2_planner/planned_action, one per replayed frame it planned from, and
no robot is needed: the goal ends after max_steps with nothing commanded."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from rclpy.action import ActionClient
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from scipy.spatial.transform import Rotation

from vjepa2.graph_spec import config_path
from vjepa2_common.image import rgb_to_image
from vjepa2_common.messages import stamp_to_ns
from vjepa2_common.testing import Collector, RosHarness, wait_until
from vjepa2_core.checkpoint import save_pretrained
from vjepa2_core.models import EncoderConfig, VisionEncoder

pytest.importorskip("vjepa2_training.data.bag_player", reason="vjepa2_training is not installed")

CROP = 64
DIM = 32
STEPS = 3
FRAMES = 150  # 15 s: enough frames for STEPS plans even when the encoder lags on a busy machine
START_TIMEOUT = 300.0  # two torch processes and the player starting at once on two busy cores (load 10-15 seen)
PLANNER = "/vjepa2_planner"


def sample(i: int) -> Any:
    """Frame i of a small recording: a red square moving over grey; the TCP pointing down, moving in x."""
    from vjepa2_training.data.synthetic import RobotSample

    rgb = np.full((CROP, CROP, 3), 90, np.uint8)
    col = 4 + i % 48
    rgb[24:36, col : col + 12] = (220, 30, 30)
    quat = Rotation.from_euler("xyz", [math.pi, 0.0, 0.0]).as_quat()
    return RobotSample(rgb, np.array([0.45 + 0.002 * i, 0.0, 0.3]), quat, 0.0)


def replay_params(tmp: Path, encoder: Path) -> Path:
    """vjepa2/config/replay.yaml with a tiny encoder and predictor (CPU test sizes)."""
    params = yaml.safe_load(Path(config_path("replay.yaml")).read_text())
    enc = params["/**/vjepa2_encoder"]["ros__parameters"]
    enc.update(crop_size=CROP, warmup=False)
    enc["model"].update(checkpoint=str(encoder), dtype="float32", torch_threads=1)
    plan = params["/**/vjepa2_planner"]["ros__parameters"]
    assert plan["command_interface"] == "dry_run"
    plan["predictor"].update(enc_embed_dim=DIM, embed_dim=32, depth=1, num_heads=2, grid_size=CROP // 16)
    plan["predictor"]["torch_threads"] = 1
    plan["cem"].update(samples=12, iterations=2, top_k=3)
    plan.update(base_frame="base", energy_tolerance=1e-6, publish_markers=False)  # synthetic poses are in 'base'
    plan.update(stale_after_s=10.0, observation_timeout_s=60.0)  # a busy machine may starve the encoder for seconds
    path = tmp / "replay_test.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def send_goal(ros: RosHarness, goal: Any) -> Any:
    """Send a PlanToGoal goal and return the result future. Requests go out from a callback of the client's own
    group: rclpy's ActionClient files a request only after sending it, and a response handled by another executor
    thread in between would be dropped."""
    from vjepa2_msgs.action import PlanToGoal

    group = MutuallyExclusiveCallbackGroup()
    client = ActionClient(ros.node, PlanToGoal, f"{PLANNER}/plan_to_goal", callback_group=group)
    assert client.wait_for_server(timeout_sec=START_TIMEOUT), "no PlanToGoal server"

    def in_group(request: Any) -> Any:
        out: list[Any] = []
        done = threading.Event()
        guard = ros.node.create_guard_condition(lambda: (out.append(request()), done.set()), callback_group=group)
        guard.trigger()
        assert done.wait(15.0)
        ros.node.destroy_guard_condition(guard)
        return out[0]

    handle = ros.wait_future(in_group(lambda: client.send_goal_async(goal)), 30.0, "goal acceptance")
    assert handle.accepted, "the planner rejected the goal"
    return in_group(handle.get_result_async)


def test_replay_graph_publishes_planned_commands(ros: RosHarness, launcher, tmp_path: Path) -> None:
    from std_srvs.srv import Trigger

    from vjepa2_msgs.action import PlanToGoal
    from vjepa2_msgs.msg import PlannerStatus
    from vjepa2_training.data.synthetic import write_robot_bag

    torch.manual_seed(0)
    encoder = VisionEncoder(EncoderConfig(embed_dim=DIM, depth=1, num_heads=2, img_size=CROP, name="vit_tiny"))
    checkpoint = save_pretrained(encoder, tmp_path / "tiny")
    bag = write_robot_bag(tmp_path / "bag", sample, FRAMES, period_s=0.1)  # at 10 Hz, as vjepa2-record writes
    frame_stamps = {1_700_000_000 * 10**9 + round(i * 0.1 * 10**9) for i in range(FRAMES)}
    planned = Collector()
    ros.node.create_subscription(PlannerStatus, f"{PLANNER}/planned_action", planned, 50)

    params = replay_params(tmp_path, checkpoint)
    runner = launcher.start(
        ["vjepa2-launch", "replay", f"bag:={bag}", f"params_file:={params}", "paused:=true"], label="runner"
    )
    # the encoder is active and the planner configured once both subscribe to the camera
    wait_until(
        lambda: ros.node.count_subscribers("/camera/image_raw") >= 2 or not runner.alive(),
        START_TIMEOUT,
        "the encoder and the planner on /camera/image_raw",
    )
    assert runner.alive(), runner.output()[-3000:]
    # a goal image no replayed frame equals (the bag's square repeats every 48 frames: an equal frame would end the
    # goal as "reached" at energy 0 before STEPS steps, depending on how far playback got)
    goal_rgb = np.full((CROP, CROP, 3), 90, np.uint8)
    goal_rgb[8:20, 30:42] = (30, 200, 30)
    goal = PlanToGoal.Goal(goal_images=[rgb_to_image(goal_rgb, frame_id="camera")], max_steps=STEPS)
    result_future = send_goal(ros, goal)
    assert ros.call(Trigger, "/vjepa2_bag_player/resume", Trigger.Request()).success

    commands = planned.wait_for(STEPS, timeout=120.0)
    result = ros.wait_future(result_future, 120.0, "the goal's result").result
    assert (result.outcome, result.steps_executed) == (PlanToGoal.Result.MAX_STEPS, STEPS), result.message
    stamps = [stamp_to_ns(c.header.stamp) for c in commands]
    assert set(stamps) <= frame_stamps, "a planned action names a frame the bag does not hold"
    assert stamps == sorted(set(stamps)), "each step plans from a later replayed frame"
    for c in commands:
        action = np.asarray(c.chosen_action)
        assert c.state == PlannerStatus.EXECUTING and c.header.frame_id == "base"
        assert np.all(np.isfinite(action)) and np.all(np.abs(action[:3]) <= 0.075 + 1e-6)  # after the safety layer
    # a dry run commands nothing: no robot service client, no Servo output
    clients = {name for name, _ in ros.node.get_client_names_and_types_by_node("vjepa2_planner", "/")}
    assert not any("execute_action" in name or name.endswith("/stop") for name in clients), clients
    assert ros.node.count_publishers("/servo_node/delta_twist_cmds") == 0
    print(f"planned actions from frames {[(s - min(frame_stamps)) / 1e9 for s in stamps]} s into the bag")
