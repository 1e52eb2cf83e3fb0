"""BodyNet space: how a voxel grid of resolution R lines up with the image (docs/formats.md).

Camera space uses OpenCV axes (x right, y down, z forward), metres. The image crop is the square
``(x0, y0, side S)`` of the original image, resized to the network input size. A camera point
(X, Y, Z) maps to continuous grid coordinates (x, y, z):

    x = (f·X/Z + cx − x0)·R/S        y = (f·Y/Z + cy − y0)·R/S
    z = (Z − Z0)·(f/Z0)·R/S + R/2

Arrays index the grid as ``[z, y, x]``; index i covers [i, i+1) and its centre is i + 0.5.
Every function works on numpy arrays and torch tensors alike (points (..., 3)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in original-image pixels and the pelvis depth ``z0`` (metres)."""

    f: float
    cx: float
    cy: float
    z0: float

    @classmethod
    def from_array(cls, a) -> Camera:
        f, cx, cy, z0 = (float(v) for v in np.asarray(a, dtype=np.float64).ravel()[:4])
        return cls(f, cx, cy, z0)

    def to_array(self) -> np.ndarray:
        return np.array([self.f, self.cx, self.cy, self.z0], dtype=np.float32)


@dataclass(frozen=True)
class Crop:
    """Square crop ``(x0, y0)`` + ``side`` in original pixels, resized to ``size`` network pixels."""

    x0: float
    y0: float
    side: float
    size: int

    @classmethod
    def from_array(cls, a) -> Crop:
        x0, y0, side, size = (float(v) for v in np.asarray(a, dtype=np.float64).ravel()[:4])
        return cls(x0, y0, side, int(round(size)))

    def to_array(self) -> np.ndarray:
        return np.array([self.x0, self.y0, self.side, self.size], dtype=np.float32)

    def image_to_crop(self, uv, size: float | None = None):
        """Original-image pixels (..., 2) -> pixels of the crop resized to ``size`` (default ``self.size``)."""
        s = (self.size if size is None else size) / self.side
        out = uv * 1.0
        out[..., 0] = (uv[..., 0] - self.x0) * s
        out[..., 1] = (uv[..., 1] - self.y0) * s
        return out

    def crop_to_image(self, uv, size: float | None = None):
        """Inverse of ``image_to_crop``."""
        s = self.side / (self.size if size is None else size)
        out = uv * 1.0
        out[..., 0] = uv[..., 0] * s + self.x0
        out[..., 1] = uv[..., 1] * s + self.y0
        return out


def _stack(parts, like):
    try:
        import torch

        if isinstance(like, torch.Tensor):
            return torch.stack(parts, dim=-1)
    except ImportError:  # pragma: no cover
        pass
    return np.stack(parts, axis=-1)


def camera_to_grid(points, camera: Camera, crop: Crop, res: int):
    """Camera-space points (..., 3) in metres -> continuous grid coordinates (..., 3) as (x, y, z)."""
    X, Y, Z = points[..., 0], points[..., 1], points[..., 2]
    k = res / crop.side
    x = (camera.f * X / Z + camera.cx - crop.x0) * k
    y = (camera.f * Y / Z + camera.cy - crop.y0) * k
    z = (Z - camera.z0) * (camera.f / camera.z0) * k + res / 2
    return _stack([x, y, z], points)


def grid_to_camera(coords, camera: Camera, crop: Crop, res: int):
    """Exact inverse of ``camera_to_grid``: grid (x, y, z) (..., 3) -> camera metres (..., 3)."""
    x, y, z = coords[..., 0], coords[..., 1], coords[..., 2]
    k = crop.side / res
    Z = camera.z0 + (z - res / 2) * camera.z0 * k / camera.f
    X = (x * k + crop.x0 - camera.cx) * Z / camera.f
    Y = (y * k + crop.y0 - camera.cy) * Z / camera.f
    return _stack([X, Y, Z], coords)


def voxel_size_m(camera: Camera, crop: Crop, res: int) -> float:
    """Edge of one voxel in metres near the pelvis depth: Z0·S/(f·R)."""
    return camera.z0 * crop.side / (camera.f * res)


def project(points, camera: Camera):
    """Perspective projection of camera points (..., 3) to original-image pixels (..., 2)."""
    X, Y, Z = points[..., 0], points[..., 1], points[..., 2]
    return _stack([camera.f * X / Z + camera.cx, camera.f * Y / Z + camera.cy], points)
