"""franky_bridge against franky-sim (the libfranka protocol over 127.0.0.1, MuJoCo behind it): real processes.

franky-sim takes one client at a time, so each test starts its own server (``vjepa2_franka.testing``: a process
group, always killed) and its own bridge node.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from vjepa2_franka.bridge_node import BEST_EFFORT_1
from vjepa2_franka.testing import SIM_BRIDGE_PARAMS, START_TIMEOUT_S, FrankySim, running_franky_sim

from vjepa2_common import names
from vjepa2_common.testing import ManagedProcess, ProcessLauncher, RosHarness, wait_until
from vjepa2_msgs.srv import ExecuteAction

NODE_PARAMS = SIM_BRIDGE_PARAMS
DIAGNOSTIC = f"{names.FRANKY_NODE}: robot"


@pytest.fixture
def franky_sim(tmp_path: Path) -> Iterator[FrankySim]:
    with running_franky_sim(tmp_path) as sim:
        yield sim


def start_bridge(launcher: ProcessLauncher, ros: RosHarness, **params: object) -> tuple[ManagedProcess, object]:
    """Start franky_bridge and wait until it publishes the TCP pose; return the process and the pose collector."""
    proc = launcher.node("vjepa2_franka", "franky_bridge", params={**NODE_PARAMS, **params})
    poses = ros.collect(PoseStamped, names.CURRENT_POSE_TOPIC, BEST_EFFORT_1)
    try:
        poses.wait_for(1, timeout=START_TIMEOUT_S)
    except TimeoutError:
        pytest.fail("franky_bridge published no pose:\n" + proc.output()[-3000:])
    return proc, poses


def position(msg: PoseStamped) -> np.ndarray:
    p = msg.pose.position
    return np.array([p.x, p.y, p.z])


def stamp_s(msg: object) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def execute(ros: RosHarness, action: list[float], timeout_s: float = 20.0) -> ExecuteAction.Response:
    return ros.call(
        ExecuteAction,
        names.FRANKY_EXECUTE_ACTION_SERVICE,
        ExecuteAction.Request(action=action, timeout_s=timeout_s),
        timeout=timeout_s + 10,
    )


def test_execute_action_moves_5_cm_and_state_streams_at_100_hz(
    franky_sim: FrankySim, launcher: ProcessLauncher, ros: RosHarness
) -> None:
    joints = ros.collect(JointState, names.JOINT_STATES_TOPIC)
    grippers = ros.collect(JointState, names.GRIPPER_JOINT_STATES_TOPIC)
    proc, poses = start_bridge(launcher, ros)
    start = position(poses.messages[-1])
    t0 = time.monotonic()
    response = execute(ros, [0.05, 0, 0, 0, 0, 0, 0])
    assert response.success, response.message
    wait_until(lambda: stamp_s(poses.messages[-1]) > time.time() - 0.05, 5.0, "a fresh pose")
    moved = position(poses.messages[-1]) - start
    print(f"ExecuteAction +5 cm x: moved {np.round(moved * 1e3, 2).tolist()} mm in {response.elapsed_s:.2f} s")
    assert abs(moved[0] - 0.05) <= 0.002 and np.linalg.norm(moved[1:]) <= 0.002
    assert response.position_error_m <= 0.002 and response.settled
    window = [m for m in joints.messages if stamp_s(m) >= time.time() - (time.monotonic() - t0)]
    span = stamp_s(window[-1]) - stamp_s(window[0])
    rate = (len(window) - 1) / span
    print(f"joint_states: {rate:.0f} Hz over {span:.1f} s; gripper joint states: {len(grippers.messages)} messages")
    assert rate >= 100, f"joint_states at {rate:.0f} Hz"
    assert len(window[-1].name) == 9 and grippers.messages[-1].name[0].endswith("finger_joint1")
    assert proc.alive()


def test_twist_stream_moves_the_arm_and_a_stale_stream_halts_it(
    franky_sim: FrankySim, launcher: ProcessLauncher, ros: RosHarness
) -> None:
    _, poses = start_bridge(launcher, ros)
    pub = ros.publisher(TwistStamped, names.SERVO_TWIST_TOPIC, subscribers=1)
    start = position(poses.messages[-1])
    msg = TwistStamped()
    msg.header.frame_id = names.BASE_FRAME
    msg.twist.linear.y = 0.05
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # a 50 Hz stream, as a Servo client sends it
        msg.header.stamp = ros.node.get_clock().now().to_msg()
        pub.publish(msg)
        time.sleep(0.02)
    last_sent = time.time()

    def halted() -> list[PoseStamped]:
        """Poses after the last command from which the TCP moved less than 0.01 mm in the next 20 ms."""
        after = [m for m in poses.messages if stamp_s(m) > last_sent]
        return [
            a
            for i, a in enumerate(after)
            if any(stamp_s(b) - stamp_s(a) >= 0.02 for b in after[i:])
            and all(
                np.linalg.norm(position(b) - position(a)) < 1e-5 for b in after[i:] if stamp_s(b) - stamp_s(a) <= 0.02
            )
        ]

    wait_until(lambda: bool(halted()), 5.0, "the arm to halt after the stream stopped")
    halt_s = stamp_s(halted()[0]) - last_sent
    moved = position(poses.messages[-1]) - start
    print(
        f"twist stream 5 cm/s in y for 1 s: moved {np.round(moved * 1e3, 1).tolist()} mm; halted {halt_s * 1e3:.0f} ms "
        f"after the last command ({(halt_s - 0.1) * 1e3:.0f} ms after it went stale at twist_timeout = 0.1 s)"
    )
    # velocity mode has no position feedback and franky-sim's time runs slow under load: 7-51 mm of 50 seen
    assert moved[1] > 0.005
    # 13-82 ms after going stale measured on an idle-ish run, up to 131 ms at load average 8 on the 2-core
    # machine (franky-sim's robot time then runs behind the wall clock): the bound is 0.2 s for that load only
    assert halt_s - 0.1 <= 0.2, "the arm still moved more than 0.2 s after the twist went stale"


def test_gripper_moves(franky_sim: FrankySim, launcher: ProcessLauncher, ros: RosHarness) -> None:
    fingers = ros.collect(JointState, names.GRIPPER_JOINT_STATES_TOPIC)
    start_bridge(launcher, ros)
    opening = fingers.wait_for(1)[-1]
    pub = ros.publisher(Float64, f"/{names.FRANKY_NODE}/gripper/width_cmd", subscribers=1)
    target = 0.02 if sum(opening.position) > 0.03 else 0.06
    pub.publish(Float64(data=target))
    # franky-sim's hand stops ~1.5-3 mm short of the commanded width (measured)
    fingers.wait_for(1, timeout=15.0, predicate=lambda m: abs(sum(m.position) - target) < 0.005)
    print(
        f"gripper: {sum(opening.position) * 1e3:.1f} mm -> {sum(fingers.messages[-1].position) * 1e3:.1f} mm "
        f"(commanded {target * 1e3:.0f} mm)"
    )


def test_a_step_outside_the_workspace_is_clipped(
    franky_sim: FrankySim, launcher: ProcessLauncher, ros: RosHarness
) -> None:
    # franky-sim starts the TCP at x = 0.554 m: a box whose +x face lies at 0.57 m is 1.6 cm ahead of it
    face = 0.57
    _, poses = start_bridge(launcher, ros, **{"limits.workspace_max": [face, 0.3, 0.6]})
    start = position(poses.messages[-1])
    assert start[0] < face - 0.005, f"franky-sim's start pose moved: x = {start[0]:.4f} m"
    response = execute(ros, [0.05, 0, 0, 0, 0, 0, 0])
    assert "clamped into the workspace" in response.message, response.message
    wait_until(lambda: stamp_s(poses.messages[-1]) > time.time() - 0.05, 5.0, "a fresh pose")
    x = position(poses.messages[-1])[0]
    print(f"step +5 cm from x = {start[0]:.4f} m into a box ending at x = {face} m: x = {x:.4f} m")
    assert abs(x - face) <= 0.002


def test_an_action_stopped_on_timeout_does_not_fail_the_next(
    franky_sim: FrankySim, launcher: ProcessLauncher, ros: RosHarness
) -> None:
    """franky raises the preemption of a motion that the bridge stopped itself (timeout, ~/stop) at the next
    command: the bridge must take it as its own, not as a robot error (which refused every later command until
    ~/recover, or crashed the node when it surfaced in the next move)."""
    proc, _ = start_bridge(launcher, ros)
    first = execute(ros, [0.05, 0, 0, 0, 0, 0, 0], timeout_s=0.1)
    assert not first.success and "timed out" in first.message, first.message
    second = execute(ros, [0.0, 0.02, 0, 0, 0, 0, 0])
    print(f"after a timed-out action: {second.message} ({second.elapsed_s:.2f} s)")
    assert second.success, second.message
    assert proc.alive() and "Traceback" not in proc.output()


def test_simulator_killed_mid_motion_then_back(
    franky_sim: FrankySim, launcher: ProcessLauncher, ros: RosHarness
) -> None:
    diagnostics = ros.collect(DiagnosticArray, names.DIAGNOSTICS_TOPIC)
    proc, poses = start_bridge(launcher, ros, dynamics_factor=0.05)
    start = position(poses.messages[-1])
    client = ros.node.create_client(ExecuteAction, names.FRANKY_EXECUTE_ACTION_SERVICE)
    assert client.wait_for_service(timeout_sec=15.0)
    future = client.call_async(ExecuteAction.Request(action=[0.05, 0, 0, 0, 0, 0, 0], timeout_s=30.0))
    wait_until(lambda: position(poses.messages[-1])[0] - start[0] > 0.005, 20.0, "the arm to start moving")
    killed = time.monotonic()
    franky_sim.kill()
    response = ros.wait_future(future, 20.0, "the ExecuteAction reply after the kill")
    print(f"reply {time.monotonic() - killed:.2f} s after the kill: {response.message}")
    assert not response.success and "connection to the Franka at 127.0.0.1 lost" in response.message

    def robot_level(array: DiagnosticArray, level: bytes, text: str = "") -> bool:
        return any(st.name == DIAGNOSTIC and st.level == level and text in st.message for st in array.status)

    diagnostics.wait_for(1, timeout=10.0, predicate=lambda a: robot_level(a, b"\x02", "lost"))
    assert proc.alive(), proc.output()[-3000:]
    franky_sim.start()
    diagnostics.wait_for(1, timeout=30.0, predicate=lambda a: robot_level(a, b"\x00", "reconnected"))
    response = execute(ros, [0.0, 0.02, 0, 0, 0, 0, 0])
    assert response.success, response.message
    assert proc.alive() and "Traceback" not in proc.output()
