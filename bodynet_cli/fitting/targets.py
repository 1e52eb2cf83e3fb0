"""What a body is fitted to: surface points and 16 joints taken from a prediction sample.

With a camera the targets are camera metres (the exact inverse of BodyNet space). Without one the
grid is orthographic with an unknown voxel size: the targets stay in grid units around the grid
centre (joint depths stay metres, as ``joints3d`` stores them) and the fit estimates the scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import PELVIS, SKELETON_EDGES
from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.isosurface import isosurface
from bodynet_cli.geometry.space import Camera, Crop, grid_to_camera, unproject, voxel_size_m
from bodynet_cli.io.sample import Sample


@dataclass
class FitTarget:
    """The targets of one body.

    points: float32 (N, 3) surface points. joints: float32 (16, 3) BodyNet joints.
    frame: "camera": both are camera metres, ``voxel_size`` is exact (metres per grid unit at Z0).
        "grid": points and the joints' x, y are grid units relative to the grid centre, the joints'
        z are metres relative to the pelvis; ``voxel_size`` is only the initial estimate of the free
        scale (metres per grid unit).
    """

    points: np.ndarray
    joints: np.ndarray
    frame: str
    voxel_size: float


def estimate_grid_scale(joints: np.ndarray, reference: np.ndarray) -> float:
    """Metres per grid unit that best matches the bone lengths of ``reference``.

    joints: (16, 3) x, y grid units, z metres (the "grid" frame). reference: (16, 3) metres, e.g.
    the body model's mean rest joints. Least squares over the skeleton's bones of
    s²·(dx² + dy²) + dz² = L² (foreshortened bones still count through their metric depth).
    """
    e = np.asarray(SKELETON_EDGES)
    d = joints[e[:, 0]] - joints[e[:, 1]]
    length2 = np.sum((reference[e[:, 0]] - reference[e[:, 1]]) ** 2, axis=1)
    xy2 = np.sum(d[:, :2] ** 2, axis=1)
    s2 = (length2.sum() - np.sum(d[:, 2] ** 2)) / max(xy2.sum(), 1e-12)
    if not np.isfinite(s2) or s2 <= 0:  # depths alone explain the bones: fall back to ignoring them
        s2 = length2.sum() / max(xy2.sum(), 1e-12)
    return float(np.sqrt(s2))


def target_from_sample(
    sample: Sample, source: str | Path, n_points: int, rng: np.random.Generator, reference_joints: np.ndarray
) -> FitTarget:
    """Surface points (marching cubes of ``voxel_probs`` when saved, else of ``voxels``) and joints.

    sample: a prediction (docs/formats.md) with ``voxels`` or ``voxel_probs``, ``joints3d``, ``crop``
        and optionally ``camera``. source: its path, for messages.
    n_points: surface points kept (a random subset of the isosurface vertices; all if fewer).
    reference_joints: (16, 3) metres, the body model's rest joints, for the scale without a camera.
    Raises ``BodyNetError`` for missing keys or an empty grid.
    """
    for key in ("joints3d", "crop"):
        if getattr(sample, key) is None:
            raise BodyNetError(f"{source}: missing key {key!r}; fit-smpl reads files written by `bodynet predict`")
    if sample.voxel_probs is not None:
        volume = sample.voxel_probs.astype(np.float32)
    elif sample.voxels is not None:
        volume = sample.voxels
    else:
        raise BodyNetError(f"{source}: has neither 'voxels' nor 'voxel_probs'; nothing to fit")
    res = int(volume.shape[0])
    mesh = isosurface(volume, 0.5)
    if len(mesh.vertices) < 16:
        raise BodyNetError(f"{source}: the voxel grid is empty (no surface at 0.5); nothing to fit")
    pts = mesh.vertices
    if len(pts) > n_points:
        pts = pts[np.sort(rng.choice(len(pts), n_points, replace=False))]
    pts = pts.astype(np.float64)
    crop = Crop.from_array(sample.crop)
    j3 = sample.joints3d.astype(np.float64)
    if not np.all(np.isfinite(j3)):
        raise BodyNetError(f"{source}: 'joints3d' holds NaN or infinite values")
    if sample.camera is not None:
        cam = Camera.from_array(sample.camera)
        points = grid_to_camera(pts, cam, crop, res)
        joints = unproject(j3[:, :2], cam.z0 + j3[:, 2], cam)
        return FitTarget(points.astype(np.float32), joints.astype(np.float32), "camera",
                         voxel_size_m(cam, crop, res))
    centre = res / 2
    joints = j3.copy()
    joints[:, :2] = crop.image_to_crop(j3[:, :2], res) - centre  # grid x, y about the grid centre
    joints[:, 2] -= joints[PELVIS, 2]
    scale = estimate_grid_scale(joints, reference_joints)
    return FitTarget((pts - centre).astype(np.float32), joints.astype(np.float32), "grid", scale)
