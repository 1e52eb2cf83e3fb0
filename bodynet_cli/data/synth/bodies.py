"""Random bodies in the camera frame: shapes, poses, orientations (SURREAL-like statistics)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation


@dataclass
class BodyParams:
    """One body's parameters (numpy float64).

    betas: (NB,) shape; global_orient: (3,) axis-angle, camera frame; body_pose: (69,) axis-angle.
    extreme_shape: the betas were drawn from the wide distribution (the paper's s10/s20-like subset).
    pose_family, mirrored, rejected: the pose library's draw (``bodynet_cli.body.pose_library``).
    """

    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    extreme_shape: bool
    pose_family: str = ""
    mirrored: bool = False
    rejected: int = 0


def sample_betas(rng: np.random.Generator, num_betas: int, p_extreme: float = 0.1, clip: float = 2.5,
                 extreme_range: tuple[float, float] = (2.5, 3.5)) -> tuple[np.ndarray, bool]:
    """Betas ~ N(0, 1) clipped to ±``clip``; with probability ``p_extreme`` the first two (the strongest
    shape directions: stature and girth in a PCA shape space) are pushed to ±``extreme_range``.

    Returns ``(betas (NB,), extreme)``.
    """
    betas = np.clip(rng.normal(size=num_betas), -clip, clip)
    extreme = bool(rng.random() < p_extreme)
    if extreme:
        k = min(2, num_betas)
        betas[:k] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(*extreme_range, size=k)
    return betas, extreme


def sample_orientation(rng: np.random.Generator, tilt_deg: float = 8.0,
                       model_orient: np.ndarray | None = None) -> np.ndarray:
    """Global orientation (3,) axis-angle, camera frame: any turn about the vertical, small tilts.

    ``model_orient`` (3,): the pose's own orientation in the model frame (a lying pose lays the body
    down), applied first. The model is Y-up facing +Z; (π, 0, 0) stands it upright facing an OpenCV
    camera. On top of that:
    a uniform turn about the camera's vertical (y) axis, then tilts about the camera's x axis (like a
    camera looking slightly down or up) and z axis (roll), normal with deviations ``tilt_deg`` / 2 and
    ``tilt_deg`` / 4, clipped at 2σ (so at most ``tilt_deg`` and half of it).
    """
    upright = Rotation.from_rotvec([np.pi, 0.0, 0.0])
    yaw = Rotation.from_rotvec([0.0, rng.uniform(0, 2 * np.pi), 0.0])
    pitch, roll = np.clip(rng.normal(0, 1, 2), -2, 2) * np.deg2rad([tilt_deg / 2, tilt_deg / 4])
    tilt = Rotation.from_rotvec([pitch, 0.0, 0.0]) * Rotation.from_rotvec([0.0, 0.0, roll])
    own = Rotation.from_rotvec(np.zeros(3) if model_orient is None else model_orient)
    return (tilt * yaw * upright * own).as_rotvec()


def sample_body(rng: np.random.Generator, num_betas: int, pose_spread: float = 1.0, p_extreme: float = 0.1,
                tilt_deg: float = 8.0, pose_weights: dict[str, float] | None = None,
                rest_joints: np.ndarray | None = None) -> BodyParams:
    """A random body: ``sample_betas``, a pose from the pose library (``pose_library.sample_pose``: family
    weights ``pose_weights``, plausibility checked on the skeleton ``rest_joints`` (24, 3) when given),
    ``sample_orientation``."""
    from bodynet_cli.body.pose_library import sample_pose

    betas, extreme = sample_betas(rng, num_betas, p_extreme)
    draw = sample_pose(rng, pose_spread, pose_weights, rest_joints)
    orient = sample_orientation(rng, tilt_deg, draw.pose[:3])
    return BodyParams(betas=betas, global_orient=orient, body_pose=draw.pose[3:].copy(), extreme_shape=extreme,
                      pose_family=draw.family, mirrored=draw.mirrored, rejected=draw.rejected)
