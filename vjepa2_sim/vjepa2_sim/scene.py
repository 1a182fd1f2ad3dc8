"""The MuJoCo scene: Menagerie Panda on a table, a few objects, lights and cameras.

World frame = the robot base frame ``panda_link0`` (x forward, y left, z up; table top at z = 0).
Names of bodies, cameras and lights defined here are the simulator's public vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from vjepa2_core.limits import GRIPPER_MAX_WIDTH

ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("finger_joint1", "finger_joint2")
ARM_BODIES = (
    "link0",
    "link1",
    "link2",
    "link3",
    "link4",
    "link5",
    "link6",
    "link7",
    "hand",
    "left_finger",
    "right_finger",
)
TCP_SITE = "tcp"
TCP_OFFSET = 0.1034  # [m] hand flange -> TCP along the hand z axis (franka_description tcp_xyz)
FINGER_MAX = GRIPPER_MAX_WIDTH / 2  # [m] travel of one finger; width = 2 * finger position
JOINT7_SERVO_DAMPING = 40.0  # [N m s/rad] see build_spec
GRIPPER_CTRL_MAX = 255.0  # Menagerie tendon actuator: ctrl 255 = open (0.04 per finger), 0 = closed
PHYSICS_DT = 0.002  # [s]

EXTERIOR = "exterior"
EXTERIOR_2 = "exterior_2"
WRIST = "wrist"
FRONT_LEFT = "front_left"
FRONT_RIGHT = "front_right"
CAMERAS = (EXTERIOR, EXTERIOR_2, WRIST, FRONT_LEFT, FRONT_RIGHT)
# [m] TCP box that FRONT_LEFT and FRONT_RIGHT frame (inside the command workspace): sim play data, reach goals.
REACH_BOX_MIN = (0.36, -0.16, 0.08)
REACH_BOX_MAX = (0.60, 0.16, 0.32)
NEAR_GOAL_DISTANCE = (0.10, 0.20)  # [m] TCP-to-goal distance of a "near" reach goal (oracle gate, benchmarks, demo)
REACH_SUCCESS_RADIUS = 0.04  # [m] a reach succeeded when the TCP ends this close to the goal position


def sample_near_goal(
    rng: np.random.Generator,
    start: Sequence[float],
    lo: Sequence[float] = REACH_BOX_MIN,
    hi: Sequence[float] = REACH_BOX_MAX,
) -> np.ndarray:
    """A goal position ``NEAR_GOAL_DISTANCE`` from ``start`` (uniform distance, isotropic direction) in the box."""
    start, lo, hi = (np.asarray(v, dtype=float) for v in (start, lo, hi))
    for _ in range(1000):
        direction = rng.normal(size=3)
        goal = start + rng.uniform(*NEAR_GOAL_DISTANCE) * direction / np.linalg.norm(direction)
        if np.all(goal >= lo) and np.all(goal <= hi):
            return goal
    raise RuntimeError(f"no near goal inside the box around {start}")


@dataclass(frozen=True)
class CameraSpec:
    """A camera that looks from ``pos`` at ``target`` (both in the parent body's frame)."""

    name: str
    parent: str  # "world" or a body name
    pos: tuple[float, float, float]
    target: tuple[float, float, float]
    fovy: float  # [deg] vertical field of view
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)


# DROID's exterior cameras sit ~1 m from the workspace, beside the robot, looking across the table (here
# 1.15 m from the look-at point, high enough to keep the whole arm in view).
CAMERA_SPECS = (
    CameraSpec(EXTERIOR, "world", pos=(0.45, 1.05, 0.72), target=(0.40, 0.0, 0.24), fovy=60.0),
    CameraSpec(EXTERIOR_2, "world", pos=(0.45, -1.05, 0.72), target=(0.40, 0.0, 0.24), fovy=60.0),
    # Wrist camera on the hand's side, looking along the approach axis (+z of the hand) at the fingers.
    CameraSpec(WRIST, "hand", pos=(0.08, 0.0, 0.0), target=(0.02, 0.0, 0.2), fovy=70.0, up=(1.0, 0.0, 0.0)),
    # A stereo pair in front of the robot, left and right of it and above, 0.8 m from REACH_BOX, 67 deg apart
    # (one camera alone cannot see motion along its own viewing ray). The TCP and the hand above it stay >= 15
    # px inside each frame over the box; at 208 px a 4 cm move along x / y / z is 10.0 / 10.9 / 10.6 px
    # (medians over the box; minimum 8 px) in each.
    CameraSpec(FRONT_LEFT, "world", pos=(1.0, 0.45, 0.65), target=(0.48, 0.0, 0.22), fovy=45.0),
    CameraSpec(FRONT_RIGHT, "world", pos=(1.0, -0.45, 0.65), target=(0.48, 0.0, 0.22), fovy=45.0),
)


@dataclass(frozen=True)
class ObjectSpec:
    """A free rigid object resting on the table; ``half_height`` puts its bottom at z = 0."""

    name: str
    half_height: float  # [m]
    footprint_radius: float  # [m] used to keep objects apart when sampling poses
    nominal_xy: tuple[float, float]  # [m] in panda_link0


OBJECTS = (
    ObjectSpec("cube", half_height=0.025, footprint_radius=0.036, nominal_xy=(0.55, 0.12)),
    ObjectSpec("cup", half_height=0.045, footprint_radius=0.055, nominal_xy=(0.50, -0.14)),
    ObjectSpec("can", half_height=0.05, footprint_radius=0.035, nominal_xy=(0.68, -0.02)),
)
OBJECT_NAMES = tuple(o.name for o in OBJECTS)
TABLE_HALF = (0.70, 0.75, 0.02)  # [m] half sizes of the table top
TABLE_CENTER_XY = (0.30, 0.0)
KEY_LIGHT = "key_light"
FILL_LIGHT = "fill_light"


def look_at_xyaxes(pos: Sequence[float], target: Sequence[float], up: Sequence[float]) -> np.ndarray:
    """MuJoCo camera ``xyaxes`` for a camera at ``pos`` looking at ``target`` (it looks along its -z)."""
    z = np.asarray(pos, float) - np.asarray(target, float)
    z /= np.linalg.norm(z)
    x = np.cross(up, z)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError(f"camera up vector {up} is parallel to its viewing direction")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.concatenate([x, y])


def _add_cup(body: mujoco.MjsBody, rgba: Sequence[float], mass: float) -> None:
    """A cup: a base disc, a ring of wall slabs and a handle (boxes and a cylinder, cheap to collide)."""
    radius, half_h, wall, n = 0.04, 0.045, 0.005, 14
    per_geom_mass = mass / (n + 2)
    body.add_geom(
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[radius, 0.004, 0],
        pos=[0, 0, -half_h + 0.004],
        rgba=rgba,
        mass=per_geom_mass,
    )
    half_w = radius * np.tan(np.pi / n) + 0.001
    for i in range(n):
        a = 2 * np.pi * i / n
        quat = np.array([np.cos(a / 2), 0.0, 0.0, np.sin(a / 2)])
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[wall / 2, half_w, half_h],
            pos=[(radius - wall / 2) * np.cos(a), (radius - wall / 2) * np.sin(a), 0.0],
            quat=quat,
            rgba=rgba,
            mass=per_geom_mass,
        )
    body.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.012, 0.005, 0.025],
        pos=[radius + 0.012, 0, 0.005],
        rgba=rgba,
        mass=per_geom_mass,
    )


def build_spec(panda_dir: Path, *, max_image_size: int = 1024) -> mujoco.MjSpec:
    """Assemble the scene on top of the Menagerie ``panda.xml`` in ``panda_dir``.

    Rendering is set up for speed on a CPU rasteriser: no shadows, no MSAA, no skybox or reflections.
    """
    spec = mujoco.MjSpec.from_file(str(Path(panda_dir) / "panda.xml"))
    spec.option.timestep = PHYSICS_DT
    spec.visual.quality.offsamples = 0
    spec.visual.quality.shadowsize = 0
    spec.visual.global_.offwidth = max_image_size
    spec.visual.global_.offheight = max_image_size
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.25, 0.25, 0.25]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]
    spec.stat.extent = 2.0  # [m] fixed, so that the near clipping plane below is 1 cm for the wrist camera
    spec.visual.map.znear = 0.005  # fraction of the extent
    for light in list(spec.lights):  # Menagerie's tracking light: replaced by our own lights
        spec.delete(light)
    for name in ARM_BODIES:  # gravity compensation, as the real robot's controller does
        spec.body(name).gravcomp = 1.0
    # Menagerie's joint 7 servo (kp 2000, kv 200, |torque| <= 12 N m) on the light wrist saturates on its
    # damping term and chatters at +-0.1 rad/s forever after a fast turn; kv 40 is still over-damped.
    spec.actuator("actuator7").biasprm[2] = -JOINT7_SERVO_DAMPING
    spec.body("hand").add_site(name=TCP_SITE, pos=[0, 0, TCP_OFFSET], size=[0.004, 0, 0], rgba=[1, 0, 0, 0], group=5)

    world = spec.worldbody
    directional = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    world.add_light(
        name=KEY_LIGHT,
        pos=[0.6, 0.6, 1.8],
        dir=[-0.1, -0.35, -1.0],
        castshadow=False,
        diffuse=[0.55, 0.55, 0.52],
        specular=[0.1, 0.1, 0.1],
        type=directional,
    )
    world.add_light(
        name=FILL_LIGHT,
        pos=[1.5, -0.8, 1.2],
        dir=[-0.7, 0.4, -0.6],
        castshadow=False,
        diffuse=[0.25, 0.26, 0.3],
        specular=[0.0, 0.0, 0.0],
        type=directional,
    )

    floor_z = -0.76
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[4, 4, 0.1],
        pos=[0, 0, floor_z],
        rgba=[0.42, 0.42, 0.45, 1],
    )
    world.add_geom(
        name="back_wall",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.02, 3.0, 1.5],
        pos=[2.0, 0, floor_z + 1.5],
        rgba=[0.78, 0.8, 0.82, 1],
        contype=0,
        conaffinity=0,
    )
    world.add_geom(
        name="rear_wall",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.02, 3.0, 1.5],
        pos=[-1.6, 0, floor_z + 1.5],
        rgba=[0.78, 0.8, 0.82, 1],
        contype=0,
        conaffinity=0,
    )
    world.add_geom(
        name="side_wall",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[3.0, 0.02, 1.5],
        pos=[0, -2.2, floor_z + 1.5],
        rgba=[0.74, 0.76, 0.78, 1],
        contype=0,
        conaffinity=0,
    )
    world.add_geom(
        name="side_wall_2",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[3.0, 0.02, 1.5],
        pos=[0, 2.2, floor_z + 1.5],
        rgba=[0.74, 0.76, 0.78, 1],
        contype=0,
        conaffinity=0,
    )
    tx, ty = TABLE_CENTER_XY
    hx, hy, hz = TABLE_HALF
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[hx, hy, hz],
        pos=[tx, ty, -hz],
        rgba=[0.62, 0.47, 0.33, 1],
        friction=[1.0, 0.005, 0.0001],
    )
    leg_half = (floor_z + 2 * hz) / -2 - hz
    for sx in (-1, 1):
        for sy in (-1, 1):
            world.add_geom(
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[0.025, 0.025, leg_half],
                pos=[tx + sx * (hx - 0.05), ty + sy * (hy - 0.05), floor_z + leg_half],
                rgba=[0.35, 0.27, 0.2, 1],
                contype=0,
                conaffinity=0,
            )

    colours = {"cube": [0.85, 0.12, 0.1, 1], "cup": [0.12, 0.35, 0.85, 1], "can": [0.95, 0.75, 0.1, 1]}
    for obj in OBJECTS:
        x, y = obj.nominal_xy
        body = world.add_body(name=obj.name, pos=[x, y, obj.half_height])
        body.add_freejoint(name=f"{obj.name}_joint")
        if obj.name == "cube":
            body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[obj.half_height] * 3,
                rgba=colours["cube"],
                mass=0.08,
                friction=[1.2, 0.005, 0.0001],
            )
        elif obj.name == "cup":
            _add_cup(body, colours["cup"], mass=0.12)
        else:
            body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.033, obj.half_height, 0], rgba=colours["can"], mass=0.15
            )

    for cam in CAMERA_SPECS:
        parent = world if cam.parent == "world" else spec.body(cam.parent)
        camera = parent.add_camera(name=cam.name, pos=list(cam.pos), fovy=cam.fovy)
        camera.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
        camera.alt.xyaxes = look_at_xyaxes(cam.pos, cam.target, cam.up)

    for key in list(spec.keys):  # the Menagerie "home" key does not cover the objects' free joints
        spec.delete(key)
    return spec


def build_model(panda_dir: Path, *, max_image_size: int = 1024) -> mujoco.MjModel:
    """Compile :func:`build_spec`."""
    return build_spec(panda_dir, max_image_size=max_image_size).compile()
