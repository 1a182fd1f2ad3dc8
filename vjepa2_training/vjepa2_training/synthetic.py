"""ROS-free recording of robot episodes into rosbag2, through the same :class:`BagWriter` the recorder uses.

Builds ``sensor_msgs/Image``, ``geometry_msgs/PoseStamped`` and ``sensor_msgs/JointState`` messages with the
rosbags typestore. Used to turn a simulator roll-out (``vjepa2_sim.sim.FrankaSim``) into a bag without DDS,
and by tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vjepa2_common import names
from vjepa2_common.messages import ns_to_stamp

from .bagio import BagWriter

NS = 1_000_000_000


@dataclass(frozen=True)
class RobotTopics:
    """Topic names of one robot recording."""

    image: str = names.CAMERA_IMAGE_TOPIC
    pose: str = names.CURRENT_POSE_TOPIC
    gripper: str = names.GRIPPER_JOINT_STATES_TOPIC
    finger_joints: tuple[str, str] = ("panda_finger_joint1", "panda_finger_joint2")
    finger_open: float = 0.04  # finger joint position when fully open (m); 0 = closed


def _header(ts: Any, stamp_ns: int, frame_id: str) -> Any:
    header_cls = ts.types["std_msgs/msg/Header"]
    return header_cls(stamp=ns_to_stamp(stamp_ns, ts.types["builtin_interfaces/msg/Time"]), frame_id=frame_id)


def image_message(ts: Any, rgb: np.ndarray, stamp_ns: int, frame_id: str = "camera") -> Any:
    """``sensor_msgs/Image`` (rgb8) from an ``HxWx3`` uint8 array."""
    h, w = rgb.shape[:2]
    return ts.types["sensor_msgs/msg/Image"](
        header=_header(ts, stamp_ns, frame_id),
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=w * 3,
        data=np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1),
    )


def pose_message(ts: Any, position: Sequence[float], quat_xyzw: Sequence[float], stamp_ns: int) -> Any:
    """``geometry_msgs/PoseStamped`` in the ``base`` frame."""
    x, y, z = (float(v) for v in position)
    point = ts.types["geometry_msgs/msg/Point"](x=x, y=y, z=z)
    q = ts.types["geometry_msgs/msg/Quaternion"](
        x=float(quat_xyzw[0]), y=float(quat_xyzw[1]), z=float(quat_xyzw[2]), w=float(quat_xyzw[3])
    )
    pose = ts.types["geometry_msgs/msg/Pose"](position=point, orientation=q)
    return ts.types["geometry_msgs/msg/PoseStamped"](header=_header(ts, stamp_ns, "base"), pose=pose)


def joint_state_message(ts: Any, names: Sequence[str], positions: Sequence[float], stamp_ns: int) -> Any:
    """``sensor_msgs/JointState`` with positions only."""
    return ts.types["sensor_msgs/msg/JointState"](
        header=_header(ts, stamp_ns, ""),
        name=list(names),
        position=np.asarray(positions, dtype=np.float64),
        velocity=np.zeros(0, dtype=np.float64),
        effort=np.zeros(0, dtype=np.float64),
    )


@dataclass
class RobotSample:
    """One observation of a robot: camera frame, end-effector pose (base frame) and gripper in [0, 1]."""

    rgb: np.ndarray
    position: np.ndarray
    quat_xyzw: np.ndarray
    gripper: float


def write_robot_bag(
    path: Path | str,
    samples: Sequence[RobotSample] | Callable[[int], RobotSample],
    num_samples: int | None = None,
    period_s: float = 0.1,
    start_ns: int = 1_700_000_000 * NS,
    storage: str = "mcap",
    topics: RobotTopics = RobotTopics(),
) -> Path:
    """Write samples taken every ``period_s`` as a rosbag2 with image, pose and joint-state topics.

    ``samples`` is a sequence or a function ``i -> RobotSample`` (then ``num_samples`` is required), so a
    simulator can be stepped while writing.
    """
    if callable(samples):
        if num_samples is None:
            raise ValueError("write_robot_bag: num_samples is required when samples is a function")
        get = samples
        count = num_samples
    else:
        count = len(samples)

        def get(i: int) -> RobotSample:
            return samples[i]

    with BagWriter(path, storage) as bag:
        ts = bag.typestore
        bag.add_topic(topics.image, "sensor_msgs/msg/Image")
        bag.add_topic(topics.pose, "geometry_msgs/msg/PoseStamped")
        bag.add_topic(topics.gripper, "sensor_msgs/msg/JointState")
        for i in range(count):
            sample = get(i)
            t = start_ns + round(i * period_s * NS)
            finger = (1.0 - float(sample.gripper)) * topics.finger_open
            bag.write_message(topics.pose, t, pose_message(ts, sample.position, sample.quat_xyzw, t))
            bag.write_message(topics.gripper, t, joint_state_message(ts, topics.finger_joints, [finger, finger], t))
            bag.write_message(topics.image, t, image_message(ts, sample.rgb, t))
    return Path(path)


class SimExplorer:
    """Random-exploration roll-out of a simulator, sampled like a live recording (``i -> RobotSample``).

    Works with any object offering ``render()``, ``ee_pose() -> (pos, quat_xyzw)``, ``gripper_closure()``,
    ``apply_delta(dxyz, gripper=..., blocking=False)``, ``step(n)`` and ``time`` (e.g.
    ``vjepa2_sim.sim.FrankaSim``). Every ``command_period_s`` of simulated time a new random Cartesian delta
    (uniform in ±``max_delta`` per axis) and, with probability ``gripper_prob``, a new gripper target are
    commanded without blocking; samples are taken every ``period_s`` of simulated time, so the arm is
    recorded while it moves.
    """

    def __init__(
        self,
        sim: Any,
        period_s: float = 0.1,
        command_period_s: float = 0.5,
        max_delta: float = 0.05,
        gripper_prob: float = 0.2,
        seed: int = 0,
        control_dt: float = 0.01,
    ) -> None:
        self.sim = sim
        self.rng = np.random.default_rng(seed)
        self.steps_per_sample = max(1, round(period_s / control_dt))
        self.samples_per_command = max(1, round(command_period_s / period_s))
        self.max_delta = max_delta
        self.gripper_prob = gripper_prob
        self.gripper = float(sim.gripper_closure())
        self.home = np.asarray(sim.ee_pose()[0], dtype=np.float64)

    def __call__(self, i: int) -> RobotSample:
        if i % self.samples_per_command == 0:
            position = np.asarray(self.sim.ee_pose()[0])
            # uniform exploration with a weak pull back to the start so the arm does not stick to a wall
            delta = self.rng.uniform(-self.max_delta, self.max_delta, 3) - 0.25 * (position - self.home)
            delta = np.clip(delta, -self.max_delta, self.max_delta)
            if self.rng.uniform() < self.gripper_prob:
                self.gripper = 1.0 - self.gripper
            self.sim.apply_delta(delta, gripper=self.gripper, blocking=False)
        if i > 0:
            self.sim.step(self.steps_per_sample)
        position, quat = self.sim.ee_pose()
        return RobotSample(self.sim.render(), position, quat, float(self.sim.gripper_closure()))
