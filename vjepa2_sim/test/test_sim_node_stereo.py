"""The sim node's tiled `stereo` camera over loopback DDS: the embedded demo model's observation.

The published frame and the `~/render_goal` image of `camera: stereo` are `front_left | front_right` side by side,
(height, 2 x width), and equal `vjepa2_sim.views.render_tiled` / `render_goal_tiled` of the same state rendered
in this process (same seed, nominal layout, collision geometry).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from vjepa2_common.image import image_to_rgb
from vjepa2_common.testing import ProcessLauncher, RosHarness
from vjepa2_msgs.srv import RenderGoal
from vjepa2_sim.scene import FRONT_LEFT
from vjepa2_sim.sim import FrankaSim
from vjepa2_sim.views import STEREO, STEREO_CAMERA, render_goal_tiled, render_tiled

NODE = "franka_sim"
HEIGHT, WIDTH = 48, 64  # per view; not square, so that a swapped height and width shows
SEED = 5
PARAMS = {
    "image_width": WIDTH,
    "image_height": HEIGHT,
    "cameras": [STEREO_CAMERA],
    "goal_camera": STEREO_CAMERA,
    "render_geometry": "collision",
    "randomize": False,
    "seed": SEED,
    "camera_rate": 10.0,
}
START_TIMEOUT = 60.0  # rclpy + MuJoCo model compile + GL context on a busy 2-core machine


def differing(a: np.ndarray, b: np.ndarray, levels: int = 24) -> float:
    """Share of pixels whose largest channel difference exceeds ``levels``."""
    return float(np.mean(np.abs(a.astype(int) - b.astype(int)).max(axis=-1) > levels))


@pytest.fixture(scope="module")
def local_sim():
    """This process's simulator in the node's start state (same seed, nominal layout, geometry, size)."""
    with FrankaSim(seed=SEED, image_size=(HEIGHT, WIDTH), randomize=False, render_geometry="collision") as sim:
        yield sim


def test_stereo_camera_publishes_the_tiled_pair(launcher: ProcessLauncher, ros: RosHarness, local_sim) -> None:
    images = ros.collect(Image, f"/{STEREO_CAMERA}/image_raw", qos_profile_sensor_data)
    infos = ros.collect(CameraInfo, f"/{STEREO_CAMERA}/camera_info", qos_profile_sensor_data)
    node = launcher.node("vjepa2_sim", "sim_node", name=NODE, params=PARAMS)
    node.wait_for_output("simulated Franka ready", START_TIMEOUT)

    msg = images.wait_for(2, START_TIMEOUT)[-1]
    frame = image_to_rgb(msg)
    assert frame.shape == (HEIGHT, 2 * WIDTH, 3)
    assert msg.header.frame_id == f"{FRONT_LEFT}_camera_optical_frame"
    expected = render_tiled(local_sim, STEREO)
    # the node's arm has been holding its pose under physics for a while: equal up to sub-millimetre sag
    assert differing(frame, expected) < 0.01, differing(frame, expected)
    swapped = np.concatenate([expected[:, WIDTH:], expected[:, :WIDTH]], axis=1)
    assert differing(frame, swapped) > 0.05  # the check can fail: the views in the wrong order differ

    info = infos.wait_for(1, START_TIMEOUT)[-1]
    assert (info.height, info.width) == (HEIGHT, 2 * WIDTH)
    focal = 0.5 * HEIGHT / math.tan(math.radians(45.0) / 2)  # front_left: fovy 45 deg; K of the first view
    assert info.k[0] == pytest.approx(focal) and info.k[2] == (WIDTH - 1) / 2

    # ~/render_goal by name (and as the default goal_camera): the tiled pair at the goal pose
    pos, quat = np.array([0.5, 0.08, 0.18]), local_sim.ee_pose()[1]
    request = RenderGoal.Request(gripper=-1.0)
    request.pose.header.frame_id = "panda_link0"
    request.pose.pose.position.x, request.pose.pose.position.y, request.pose.pose.position.z = pos.tolist()
    o = request.pose.pose.orientation
    o.x, o.y, o.z, o.w = quat.tolist()
    goal_expected = render_goal_tiled(local_sim, pos, quat)
    for camera in (STEREO_CAMERA, ""):
        request.camera = camera
        reply = ros.call(RenderGoal, f"/{NODE}/render_goal", request)
        assert reply.success, reply.message
        goal = image_to_rgb(reply.image)
        assert goal.shape == (HEIGHT, 2 * WIDTH, 3)
        assert differing(goal, goal_expected) < 0.01, differing(goal, goal_expected)
        assert differing(goal, expected) > 0.01  # the arm is elsewhere than in the live view
    request.camera = "stereo_nope"
    reply = ros.call(RenderGoal, f"/{NODE}/render_goal", request)
    assert not reply.success and "unknown camera 'stereo_nope'" in reply.message and "stereo" in reply.message
