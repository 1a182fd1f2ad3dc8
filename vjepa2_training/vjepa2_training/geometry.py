"""End-effector states and actions as V-JEPA 2-AC defines them.

State (7-D, robot base frame): ``[x, y, z, rx, ry, rz, gripper]`` with the orientation as extrinsic
XYZ Euler angles (scipy ``"xyz"``) and the gripper in [0, 1] (0 = open, 1 = closed, DROID convention).

Action (7-D) between consecutive states k and k+1: ``[Δx, Δy, Δz, Euler-xyz(R_{k+1} R_kᵀ), Δgripper]``.
No normalisation or scaling is applied to either.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

STATE_DIM = 7
ACTION_DIM = 7
EULER_SEQ = "xyz"  # lower case = extrinsic rotations in scipy
STATE_LAYOUT = ("x", "y", "z", "rot_x", "rot_y", "rot_z", "gripper")


def make_states(positions: np.ndarray, quats_xyzw: np.ndarray, gripper: np.ndarray) -> np.ndarray:
    """``[N, 7]`` states from positions ``[N, 3]``, quaternions ``[N, 4]`` (x, y, z, w), gripper ``[N]``."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    quats = np.asarray(quats_xyzw, dtype=np.float64).reshape(-1, 4)
    grip = np.asarray(gripper, dtype=np.float64).reshape(-1)
    if not len(positions) == len(quats) == len(grip):
        raise ValueError(
            f"make_states: length mismatch: {len(positions)} positions, {len(quats)} quaternions, "
            f"{len(grip)} gripper values"
        )
    euler = Rotation.from_quat(quats).as_euler(EULER_SEQ) if len(quats) else np.zeros((0, 3))
    return np.concatenate([positions, euler, grip[:, None]], axis=1)


def states_to_actions(states: np.ndarray) -> np.ndarray:
    """Actions ``[N-1, 7]`` between consecutive states ``[N, 7]`` (V-JEPA 2-AC ``poses_to_diffs``)."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != STATE_DIM:
        raise ValueError(f"states_to_actions: expected states of shape [N, 7], got {states.shape}")
    if len(states) < 2:
        return np.zeros((0, ACTION_DIM), dtype=np.float64)
    rot = Rotation.from_euler(EULER_SEQ, states[:, 3:6])
    delta_rot = (rot[1:] * rot[:-1].inv()).as_euler(EULER_SEQ)
    delta_xyz = states[1:, :3] - states[:-1, :3]
    delta_grip = states[1:, 6:7] - states[:-1, 6:7]
    return np.concatenate([delta_xyz, delta_rot, delta_grip], axis=1)


def apply_action(state: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Integrate one action into a state (inverse of :func:`states_to_actions`; gripper clipped to [0, 1])."""
    state = np.asarray(state, dtype=np.float64)
    action = np.asarray(action, dtype=np.float64)
    rot = Rotation.from_euler(EULER_SEQ, action[3:6]) * Rotation.from_euler(EULER_SEQ, state[3:6])
    return np.concatenate([state[:3] + action[:3], rot.as_euler(EULER_SEQ), [np.clip(state[6] + action[6], 0.0, 1.0)]])


def interpolate_poses(
    times: np.ndarray, positions: np.ndarray, quats_xyzw: np.ndarray, query_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pose at ``query_times``: linear in position, spherical-linear in orientation.

    ``times`` must be strictly increasing and bracket every query time (callers clip or drop the rest).
    """
    times = np.asarray(times, dtype=np.float64)
    query = np.asarray(query_times, dtype=np.float64)
    if len(times) == 1:
        return np.repeat(positions[:1], len(query), 0), np.repeat(quats_xyzw[:1], len(query), 0)
    pos = np.stack([np.interp(query, times, positions[:, i]) for i in range(3)], axis=1)
    quat = Slerp(times, Rotation.from_quat(quats_xyzw))(query).as_quat()
    return pos, quat
