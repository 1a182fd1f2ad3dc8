"""Damped-least-squares inverse kinematics for the Panda TCP, and pose/state conversions.

Quaternions in this package's public API are (x, y, z, w) as in ROS messages and scipy; MuJoCo's own
(w, x, y, z) order stays inside this module and :mod:`vjepa2_sim.sim`.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vjepa2_sim.scene import ARM_JOINTS, FINGER_MAX


def xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    """(x, y, z, w) -> MuJoCo's (w, x, y, z)."""
    return np.array([q[3], q[0], q[1], q[2]], dtype=float)


def wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    """MuJoCo's (w, x, y, z) -> (x, y, z, w)."""
    return np.array([q[1], q[2], q[3], q[0]], dtype=float)


def closure_from_finger_positions(q_fingers: np.ndarray) -> float:
    """Gripper closure in [0, 1] (0 = open, 1 = closed) from the two finger joint positions [m]."""
    return float(np.clip(1.0 - (q_fingers[0] + q_fingers[1]) / (2 * FINGER_MAX), 0.0, 1.0))


def width_to_closure(width: float) -> float:
    """Opening width [m] -> closure in [0, 1]."""
    return 1.0 - width / (2 * FINGER_MAX)


def rotation_error(target_wxyz: np.ndarray, current_wxyz: np.ndarray) -> np.ndarray:
    """World-frame rotation vector that turns ``current`` into ``target`` [rad]."""
    neg, diff, vel = np.empty(4), np.empty(4), np.empty(3)
    mujoco.mju_negQuat(neg, current_wxyz)
    mujoco.mju_mulQuat(diff, target_wxyz, neg)
    if diff[0] < 0:  # shortest way round
        diff = -diff
    mujoco.mju_quat2Vel(vel, diff, 1.0)
    return vel


@dataclass(frozen=True)
class IkResult:
    """Joint solution of :meth:`DlsIk.solve` and how far its TCP pose is from the target."""

    q: np.ndarray  # [rad] 7 arm joints
    position_error: float  # [m]
    rotation_error: float  # [rad]

    def converged(self, pos_tol: float = 1e-3, rot_tol: float = 1e-2) -> bool:
        """True when both errors are within the tolerances."""
        return self.position_error <= pos_tol and self.rotation_error <= rot_tol


class DlsIk:
    """Position + orientation IK of a site by damped least squares, within the joint limits.

    A weak pull towards ``q_rest`` in the Jacobian's null space keeps the redundant 7th degree of
    freedom near a comfortable posture. The damping grows with the remaining error
    (``lambda^2 = damping^2 + (error_damping * |e|)^2``): precise near the target, and repeated solves
    towards an unreachable target settle on the closest pose instead of alternating between two
    solutions. The solver works on its own scratch ``MjData``.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        site: str,
        q_rest: np.ndarray,
        *,
        damping: float = 1e-2,
        error_damping: float = 1.0,
        limit_margin: float = 0.02,
        nullspace_gain: float = 0.05,
        max_step: float = 0.2,
    ) -> None:
        self._m = model
        self._d = mujoco.MjData(model)
        self._site = model.site(site).id
        self._qadr = np.array([model.joint(j).qposadr[0] for j in ARM_JOINTS])
        self._vadr = np.array([model.joint(j).dofadr[0] for j in ARM_JOINTS])
        ranges = np.array([model.joint(j).range for j in ARM_JOINTS])
        self.q_min = ranges[:, 0] + limit_margin
        self.q_max = ranges[:, 1] - limit_margin
        self.q_rest = np.asarray(q_rest, float).copy()
        self._damping2 = damping**2
        self._error_damping2 = error_damping**2
        self._null_gain = nullspace_gain
        self._max_step = max_step
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._quat = np.empty(4)

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TCP position and (w, x, y, z) quaternion for arm joints ``q``."""
        self._d.qpos[self._qadr] = q
        mujoco.mj_kinematics(self._m, self._d)
        mujoco.mju_mat2Quat(self._quat, self._d.site_xmat[self._site])
        return self._d.site_xpos[self._site].copy(), self._quat.copy()

    def _error(self, q: np.ndarray, target_pos: np.ndarray, target_wxyz: np.ndarray) -> np.ndarray:
        pos, quat = self.forward(q)
        return np.concatenate([target_pos - pos, rotation_error(target_wxyz, quat)])

    def solve(
        self,
        target_pos: np.ndarray,
        target_wxyz: np.ndarray,
        q_init: np.ndarray,
        *,
        iters: int = 100,
        pos_tol: float = 1e-5,
        rot_tol: float = 1e-4,
    ) -> IkResult:
        """Iterate from ``q_init`` towards the target TCP pose; returns the best joints found.

        A step is taken only if it reduces the error (halving it up to 5 times), so the iteration settles
        on the closest reachable pose when the target is out of reach.
        """
        q = np.clip(np.asarray(q_init, float), self.q_min, self.q_max)
        err = self._error(q, target_pos, target_wxyz)
        eye6 = np.eye(6)
        for _ in range(iters):
            if np.linalg.norm(err[:3]) <= pos_tol and np.linalg.norm(err[3:]) <= rot_tol:
                break
            mujoco.mj_comPos(self._m, self._d)  # the scratch data holds the kinematics of q
            mujoco.mj_jacSite(self._m, self._d, self._jacp, self._jacr, self._site)
            jac = np.vstack([self._jacp[:, self._vadr], self._jacr[:, self._vadr]])
            damping2 = self._damping2 + self._error_damping2 * float(err @ err)
            jac_pinv = jac.T @ np.linalg.solve(jac @ jac.T + damping2 * eye6, eye6)
            dq = jac_pinv @ err + (np.eye(7) - jac_pinv @ jac) @ (self._null_gain * (self.q_rest - q))
            step = np.linalg.norm(dq)
            if step > self._max_step:
                dq *= self._max_step / step
            for _ in range(5):
                candidate = np.clip(q + dq, self.q_min, self.q_max)
                candidate_err = self._error(candidate, target_pos, target_wxyz)
                if candidate_err @ candidate_err < err @ err:
                    q, err = candidate, candidate_err
                    break
                dq *= 0.5
            else:
                break  # no step reduces the error: closest reachable pose
        return IkResult(
            q=q, position_error=float(np.linalg.norm(err[:3])), rotation_error=float(np.linalg.norm(err[3:]))
        )
