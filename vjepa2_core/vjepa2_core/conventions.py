"""The V-JEPA 2-AC end-effector state and action convention (numpy/scipy, plus batched torch twins).

State (7-D, robot base frame): ``[x, y, z, rx, ry, rz, gripper]`` with the orientation as extrinsic XYZ Euler
angles (scipy ``"xyz"``: R = Rz·Ry·Rx) and the gripper closure in [0, 1] (0 = open, 1 = closed, DROID).

Action (7-D) from state k to state k+1: ``[Δx, Δy, Δz, Euler-xyz(R_{k+1}·R_kᵀ), Δgripper]``; integrating an
action left-multiplies the rotation delta, ``R_{k+1} = R(Δ)·R_k``, and clips the gripper to [0, 1]. Neither is
normalised or scaled.

This module imports without torch (the simulator uses it); the ``*_torch`` functions import torch when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

if TYPE_CHECKING:
    import torch

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


def state_from_pose(pos: np.ndarray, quat_xyzw: np.ndarray, closure: float) -> np.ndarray:
    """One 7-D state from a position [m], an (x, y, z, w) quaternion and a gripper closure in [0, 1]."""
    return make_states(pos, quat_xyzw, [closure])[0]


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
    """Integrate actions ``[..., 7]`` into states ``[..., 7]`` (inverse of :func:`states_to_actions`)."""
    state = np.asarray(state, dtype=np.float64)
    action = np.asarray(action, dtype=np.float64)
    shape = np.broadcast_shapes(state.shape, action.shape)
    s = np.broadcast_to(state, shape).reshape(-1, STATE_DIM)
    a = np.broadcast_to(action, shape).reshape(-1, ACTION_DIM)
    rot = Rotation.from_euler(EULER_SEQ, a[:, 3:6]) * Rotation.from_euler(EULER_SEQ, s[:, 3:6])
    grip = np.clip(s[:, 6:7] + a[:, 6:7], 0.0, 1.0)
    return np.concatenate([s[:, :3] + a[:, :3], rot.as_euler(EULER_SEQ), grip], axis=1).reshape(shape)


def euler_to_matrix_torch(angles: torch.Tensor) -> torch.Tensor:
    """Extrinsic XYZ Euler angles ``[..., 3]`` to rotation matrices ``[..., 3, 3]``: R = Rz·Ry·Rx."""
    import torch

    cx, cy, cz = torch.cos(angles).unbind(-1)
    sx, sy, sz = torch.sin(angles).unbind(-1)
    rows = [
        cy * cz,
        sx * sy * cz - cx * sz,
        cx * sy * cz + sx * sz,
        cy * sz,
        sx * sy * sz + cx * cz,
        cx * sy * sz - sx * cz,
        -sy,
        sx * cy,
        cx * cy,
    ]
    return torch.stack(rows, dim=-1).reshape(*angles.shape[:-1], 3, 3)


def matrix_to_euler_torch(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`euler_to_matrix_torch` (angles in (-π, π], pitch in [-π/2, π/2])."""
    import torch

    sy = (-matrix[..., 2, 0]).clamp(-1.0, 1.0)
    pitch = torch.asin(sy)
    roll = torch.atan2(matrix[..., 2, 1], matrix[..., 2, 2])
    yaw = torch.atan2(matrix[..., 1, 0], matrix[..., 0, 0])
    return torch.stack([roll, pitch, yaw], dim=-1)


def apply_action_torch(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Batched :func:`apply_action`: xyz += Δxyz; R <- R(Δrot)·R; gripper = clip(g + Δg, 0, 1)."""
    import torch

    xyz = state[..., :3] + action[..., :3]
    rot = euler_to_matrix_torch(action[..., 3:6]) @ euler_to_matrix_torch(state[..., 3:6])
    gripper = (state[..., 6:7] + action[..., 6:7]).clamp(0.0, 1.0)
    return torch.cat([xyz, matrix_to_euler_torch(rot), gripper], dim=-1)


def states_to_actions_torch(states: torch.Tensor) -> torch.Tensor:
    """Batched :func:`states_to_actions`: states ``[..., T, 7]`` -> actions ``[..., T-1, 7]``."""
    import torch

    rot = euler_to_matrix_torch(states[..., 3:6])
    delta_rot = matrix_to_euler_torch(rot[..., 1:, :, :] @ rot[..., :-1, :, :].transpose(-1, -2))
    delta_xyz = states[..., 1:, :3] - states[..., :-1, :3]
    delta_grip = states[..., 1:, 6:7] - states[..., :-1, 6:7]
    return torch.cat([delta_xyz, delta_rot, delta_grip], dim=-1)


# Names the planner already uses (vjepa2_core.planning re-exports them).
euler_xyz_to_matrix = euler_to_matrix_torch
matrix_to_euler_xyz = matrix_to_euler_torch
integrate_state = apply_action_torch

__all__ = [
    "ACTION_DIM",
    "EULER_SEQ",
    "STATE_DIM",
    "STATE_LAYOUT",
    "apply_action",
    "apply_action_torch",
    "euler_to_matrix_torch",
    "make_states",
    "matrix_to_euler_torch",
    "state_from_pose",
    "states_to_actions",
    "states_to_actions_torch",
]
