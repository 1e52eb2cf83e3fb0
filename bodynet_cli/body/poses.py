"""Pose space of SMPL-format bodies: joint limits, a library of base poses, sampling, a pose prior.

Poses are SMPL axis-angle vectors, (72,) = global orientation (3) + 23 joints × 3 (``body_pose``),
each joint's rotation relative to its parent in the model's T-pose frame: X to the person's left,
Y up, Z forward. For small angles the components are rotations about those axes, e.g. the knee
flexes with +x, the left elbow with −y, the left shoulder raises the arm with +z.
Joint limits are boxes on these components; right-side limits mirror the left ones.
"""

from __future__ import annotations

import numpy as np
import torch

NUM_BODY_JOINTS = 23
# SMPL joint index of the left/right twin of each joint (itself on the midline).
SMPL_JOINT_FLIP = np.array(
    [0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22], dtype=np.int64
)

# (lower, upper) radians per axis-angle component for the midline and left joints, model frame.
_LIMITS_LEFT = {
    "l_hip": ((-2.3, 0.6), (-0.7, 0.7), (-0.4, 1.0)),  # x<0 flexes the thigh forward, z>0 abducts
    "spine1": ((-0.4, 0.7), (-0.4, 0.4), (-0.4, 0.4)),  # x>0 bends forward
    "l_knee": ((0.0, 2.6), (-0.2, 0.2), (-0.1, 0.1)),  # x>0 flexes (the shin swings back)
    "spine2": ((-0.3, 0.5), (-0.4, 0.4), (-0.3, 0.3)),
    "l_ankle": ((-0.6, 0.9), (-0.4, 0.4), (-0.3, 0.3)),  # x<0 lifts the toes
    "spine3": ((-0.3, 0.5), (-0.4, 0.4), (-0.3, 0.3)),
    "l_foot": ((-0.6, 0.3), (-0.1, 0.1), (-0.1, 0.1)),
    "neck": ((-0.5, 0.7), (-0.7, 0.7), (-0.4, 0.4)),
    "l_collar": ((-0.3, 0.3), (-0.4, 0.4), (-0.3, 0.5)),
    "head": ((-0.5, 0.5), (-0.6, 0.6), (-0.4, 0.4)),
    "l_shoulder": ((-1.3, 1.3), (-1.8, 0.8), (-1.6, 1.6)),  # y<0 swings the arm forward, z>0 raises it
    "l_elbow": ((-0.5, 0.5), (-2.6, 0.0), (-0.3, 0.3)),  # y<0 flexes
    "l_wrist": ((-0.8, 0.8), (-0.5, 0.5), (-1.1, 0.9)),  # z<0 bends the palm down
    "l_hand": ((-0.3, 0.3), (-0.3, 0.3), (-0.5, 0.3)),
}


def _limit_table() -> np.ndarray:
    """(24, 3, 2) lower/upper bounds for all SMPL joints (row 0, the global orientation, unbounded)."""
    from bodynet_cli.body.conventions import SMPL_JOINT_NAMES

    table = np.zeros((24, 3, 2))
    table[0] = [[-np.inf, np.inf]] * 3
    for name, box in _LIMITS_LEFT.items():
        j = SMPL_JOINT_NAMES.index(name)
        table[j] = box
        m = SMPL_JOINT_FLIP[j]
        if m != j:  # mirror: x stays, y and z change sign (and lower/upper swap)
            table[m, 0] = box[0]
            table[m, 1:] = -np.asarray(box[1:])[:, ::-1]
    return table


POSE_LIMITS = _limit_table()  # (24, 3, 2) radians


def mirror_pose(pose: np.ndarray) -> np.ndarray:
    """The left-right mirror image of poses (..., 72): swap twin joints, negate y and z components."""
    p = np.asarray(pose).reshape(*np.shape(pose)[:-1], 24, 3)[..., SMPL_JOINT_FLIP, :].copy()
    p[..., 1:] *= -1
    return p.reshape(*np.shape(pose))


def _pose(**joints: tuple[float, float, float]) -> np.ndarray:
    from bodynet_cli.body.conventions import SMPL_JOINT_NAMES

    p = np.zeros((24, 3), dtype=np.float32)
    for name, v in joints.items():
        p[SMPL_JOINT_NAMES.index(name)] = v
    return p.reshape(72)


def _arms_down(l_z: float = -1.25, elbow: float = -0.15) -> dict:
    return {"l_shoulder": (0, 0, l_z), "r_shoulder": (0, 0, -l_z), "l_elbow": (0, elbow, 0), "r_elbow": (0, -elbow, 0)}


# Base poses (72,), global orientation zero; visually checked on the open model.
BASE_POSES: dict[str, np.ndarray] = {
    "t_pose": _pose(),
    "a_pose": _pose(**_arms_down(-0.75, -0.1)),
    "standing": _pose(**_arms_down(-1.3, -0.2), l_hip=(0, 0, 0.05), r_hip=(0, 0, -0.05)),
    "walking": _pose(
        l_hip=(-0.45, 0, 0.03), r_hip=(0.3, 0, -0.03), l_knee=(0.15, 0, 0), r_knee=(0.45, 0, 0),
        r_ankle=(-0.15, 0, 0), l_shoulder=(0, 0.3, -1.3), r_shoulder=(0, 0.35, 1.3),
        l_elbow=(0, -0.25, 0), r_elbow=(0, 0.45, 0),
    ),
    "running": _pose(
        spine1=(0.15, 0, 0), l_hip=(-1.1, 0, 0.05), r_hip=(0.45, 0, -0.05), l_knee=(1.0, 0, 0),
        r_knee=(1.5, 0, 0), l_ankle=(0.2, 0, 0), r_ankle=(0.5, 0, 0), l_shoulder=(0, 0.6, -1.2),
        r_shoulder=(0, 0.8, 1.2), l_elbow=(0, -1.5, 0), r_elbow=(0, 1.4, 0),
    ),
    "sitting": _pose(
        l_hip=(-1.5, 0, 0.1), r_hip=(-1.5, 0, -0.1), l_knee=(1.5, 0, 0), r_knee=(1.5, 0, 0),
        l_shoulder=(0, -0.35, -1.25), r_shoulder=(0, 0.35, 1.25), l_elbow=(0, -1.0, 0), r_elbow=(0, 1.0, 0),
    ),
    "crouching": _pose(
        spine1=(0.4, 0, 0), spine2=(0.2, 0, 0), neck=(-0.4, 0, 0), l_hip=(-2.0, 0, 0.3), r_hip=(-2.0, 0, -0.3),
        l_knee=(2.3, 0, 0), r_knee=(2.3, 0, 0), l_ankle=(-0.35, 0, 0), r_ankle=(-0.35, 0, 0),
        l_shoulder=(0, -0.9, -1.0), r_shoulder=(0, 0.9, 1.0), l_elbow=(0, -0.8, 0), r_elbow=(0, 0.8, 0),
    ),
    "arms_raised": _pose(
        l_collar=(0, 0, 0.3), r_collar=(0, 0, -0.3), l_shoulder=(0, 0, 1.1), r_shoulder=(0, 0, -1.1),
        l_elbow=(0, -0.2, 0), r_elbow=(0, 0.2, 0),
    ),
    "reaching": _pose(
        spine2=(0.1, 0.15, 0), spine3=(0.1, 0.15, 0), l_shoulder=(0, 0.1, -1.3), r_shoulder=(0, 1.4, 0.1),
        l_elbow=(0, -0.3, 0), r_elbow=(0, 0.15, 0), l_hip=(0.1, 0, 0), l_knee=(0.2, 0, 0),
    ),
    "waving": _pose(
        head=(0, 0.15, 0), l_shoulder=(0, 0, -1.3), l_elbow=(0, -0.2, 0),
        r_shoulder=(-1.2, 0.2, -0.1), r_elbow=(0, 1.9, 0), r_wrist=(0, 0, 0.2),
    ),
    "kneeling": _pose(
        l_hip=(0.05, 0, 0.1), r_hip=(0.05, 0, -0.1), l_knee=(1.65, 0, 0), r_knee=(1.65, 0, 0),
        l_ankle=(0.7, 0, 0), r_ankle=(0.7, 0, 0), **_arms_down(-1.3, -0.3),
    ),
    "bending": _pose(
        spine1=(0.7, 0, 0), spine2=(0.5, 0, 0), spine3=(0.4, 0, 0), neck=(-0.4, 0, 0), l_hip=(-0.15, 0, 0),
        r_hip=(-0.15, 0, 0), l_knee=(0.1, 0, 0), r_knee=(0.1, 0, 0), l_shoulder=(0, -0.5, -1.3),
        r_shoulder=(0, 0.5, 1.3),
    ),
    "lunge": _pose(
        spine1=(0.1, 0, 0), l_hip=(-1.3, 0, 0.1), l_knee=(1.5, 0, 0), r_hip=(0.5, 0, -0.05), r_knee=(0.4, 0, 0),
        r_ankle=(-0.3, 0, 0), l_ankle=(-0.2, 0, 0), **_arms_down(-1.1, -0.4),
    ),
    "hands_on_hips": _pose(
        l_shoulder=(0.4, -0.1, -1.1), r_shoulder=(0.4, 0.1, 1.1), l_elbow=(0, -1.7, 0), r_elbow=(0, 1.7, 0),
        l_wrist=(0, 0, -0.3), r_wrist=(0, 0, 0.3),
    ),
}  # fmt: skip

# Per-joint perturbation scale (radians per unit spread) of ``sample_poses``: more at big joints.
_JOINT_SIGMA = np.array(
    [0.0, 0.2, 0.2, 0.12, 0.25, 0.25, 0.08, 0.12, 0.12, 0.08, 0.05, 0.05, 0.12, 0.08, 0.08, 0.12, 0.35, 0.35,
     0.35, 0.35, 0.2, 0.2, 0.1, 0.1]
)  # fmt: skip


def base_pose_array(mirrored: bool = True) -> np.ndarray:
    """All base poses as (K, 72) float32, followed by their mirror images when ``mirrored``."""
    poses = np.stack(list(BASE_POSES.values()))
    if mirrored:
        poses = np.concatenate([poses, mirror_pose(poses)])
    return poses.astype(np.float32)


def clamp_to_limits(pose: np.ndarray) -> np.ndarray:
    """Poses (..., 72) with every body joint's components clipped into ``POSE_LIMITS``."""
    p = np.asarray(pose).reshape(*np.shape(pose)[:-1], 24, 3)
    return np.clip(p, POSE_LIMITS[..., 0], POSE_LIMITS[..., 1]).reshape(np.shape(pose))


def sample_poses(rng: np.random.Generator, n: int, spread: float = 1.0) -> np.ndarray:
    """Random plausible poses: a base pose (or its mirror) plus a joint-limited Gaussian perturbation.

    Returns (n, 72) float32 axis-angle with the global orientation (first 3) zero: callers set it.
    ``spread`` scales the perturbation (0 gives the base poses themselves).
    """
    bases = base_pose_array(mirrored=True)
    pose = bases[rng.integers(0, len(bases), n)].astype(np.float64).reshape(n, 24, 3)
    pose += rng.normal(size=(n, 24, 3)) * _JOINT_SIGMA[None, :, None] * spread
    pose[:, 0] = 0.0
    return clamp_to_limits(pose.reshape(n, 72)).astype(np.float32)


def joint_limit_penalty(body_pose: torch.Tensor) -> torch.Tensor:
    """Squared hinge on the joint limits: 0 inside, growing quadratically outside (rad²).

    body_pose: (B, 69). Returns (B,).
    """
    lim = torch.as_tensor(POSE_LIMITS[1:], dtype=body_pose.dtype, device=body_pose.device)  # (23, 3, 2)
    p = body_pose.reshape(-1, NUM_BODY_JOINTS, 3)
    below = torch.relu(lim[..., 0] - p)
    above = torch.relu(p - lim[..., 1])
    return (below * below + above * above).sum((1, 2))


def pose_prior(body_pose: torch.Tensor, limit_weight: float = 100.0, library_weight: float = 1.0) -> torch.Tensor:
    """Differentiable pose penalty for fitting: joint limits + distance to the base-pose library.

    body_pose: (B, 69). Returns (B,) = ``limit_weight`` · ``joint_limit_penalty`` + ``library_weight`` ·
    the negative log-likelihood (up to a constant, ≥ 0) of a mixture of isotropic Gaussians centred on
    the base poses and their mirrors, with the per-joint widths of ``sample_poses``. It is 0 at a
    base pose far from the others, small inside the sampled pose distribution, and large for poses
    outside the joint limits.
    """
    bases = torch.as_tensor(base_pose_array()[:, 3:], dtype=body_pose.dtype, device=body_pose.device)
    sigma = torch.as_tensor(np.repeat(_JOINT_SIGMA[1:], 3), dtype=body_pose.dtype, device=body_pose.device)
    # Squared distance to each base pose in units of the sampling widths (floored for the stiff joints).
    d2 = (((body_pose[:, None, :] - bases[None]) / sigma.clamp_min(0.05)) ** 2).sum(-1)  # (B, K)
    nll = -torch.logsumexp(-0.5 * d2, dim=1)
    return limit_weight * joint_limit_penalty(body_pose) + library_weight * nll.clamp_min(0)
