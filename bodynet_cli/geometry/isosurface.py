"""The isosurface of a voxel grid as a triangle mesh in continuous grid coordinates (marching cubes).

Grids are indexed ``[z, y, x]``; the returned vertices are ``(x, y, z)`` in the project's
continuous grid coordinates, where voxel index i has its centre at i + 0.5 (docs/formats.md), so
``grid_to_camera`` maps them straight to camera metres.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Isosurface(NamedTuple):
    """vertices: float32 (V, 3) as (x, y, z) grid coordinates; faces: int64 (F, 3), outward-facing
    (counter-clockwise seen from outside, right-handed (x, y, z))."""

    vertices: np.ndarray
    faces: np.ndarray


def isosurface(volume: np.ndarray, level: float = 0.5, step_size: int = 1) -> Isosurface:
    """Marching cubes (scikit-image) of ``volume`` at ``level``, closed at the grid's border.

    volume: (R, R, R) float or bool, ``[z, y, x]``, larger values inside (occupancy, probability).
    level: the iso-value (0.5 for occupancy or sigmoid output).
    step_size: marching-cubes step in voxels; 2 gives a coarser, ~4× smaller mesh.
    Returns ``Isosurface``; both arrays are empty when nothing crosses ``level``.
    A binary grid's surface passes half-way between occupied and empty voxel centres, i.e. on the
    voxel faces.
    """
    from skimage.measure import marching_cubes

    vol = np.asarray(volume, dtype=np.float32)
    if vol.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {vol.shape}")
    empty = Isosurface(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64))
    if vol.size == 0 or not vol.max() > level:
        return empty
    # Pad below the level so bodies touching the border still give a closed surface; 0 keeps the
    # crossing half-way for occupancy and probability grids.
    low = min(float(vol.min()), 0.0)
    pad = low if low < level else level - 1.0
    padded = np.pad(vol, 1, mode="constant", constant_values=pad)
    verts_zyx, faces, _, _ = marching_cubes(padded, level=level, step_size=step_size, allow_degenerate=False)
    # Index space of the padded array -> continuous coordinates: -1 for the pad, +0.5 for centres.
    verts = (verts_zyx[:, ::-1] - 0.5).astype(np.float32)
    # scikit-image winds faces inward in (z, y, x) index space; swapping z and x (a reflection)
    # turns them outward in (x, y, z), so they are kept as they are.
    faces = np.ascontiguousarray(faces).astype(np.int64)
    return Isosurface(np.ascontiguousarray(verts), faces)
