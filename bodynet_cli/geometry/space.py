"""BodyNet space: how a voxel grid of resolution R lines up with the image (docs/formats.md).

Camera space uses OpenCV axes (x right, y down, z forward), metres. The image crop is the square
``(x0, y0, side S)`` of the original image, resized to the network input size. A camera point
(X, Y, Z) maps to continuous grid coordinates (x, y, z):

    x = (f·X/Z + cx − x0)·R/S        y = (f·Y/Z + cy − y0)·R/S
    z = (Z − Z0)·(f/Z0)·R/S + R/2

Arrays index the grid as ``[z, y, x]``; index i covers [i, i+1) and its centre is i + 0.5.
Every function works on numpy arrays and torch tensors alike (points (..., 3)). This module is the
one place for the camera, crop and view maths: projection and its inverse (``project``,
``unproject``, ``joints3d_to_camera``), crop mappings (``Crop``, ``crops_to_image``), and the
front and side views of a grid (``front_view``, ``side_view``).
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

    def crop_to_image_matrix(self) -> np.ndarray:
        """``crop_to_image`` as a 3×3 homogeneous matrix (float64): crop pixels (x, y, 1) -> original pixels."""
        k = self.side / self.size
        return np.array([[k, 0.0, self.x0], [0.0, k, self.y0], [0.0, 0.0, 1.0]])

    def compose(self, inner) -> np.ndarray:
        """A crop given in this crop's resized pixels -> the same crop in original pixels.

        inner: (4,) x0, y0, side (pixels of this crop resized to ``self.size``), size. Returns float64
        (4,) with x0, y0, side in original pixels and ``size`` kept (e.g. a prediction made on a crop
        image, re-expressed in the frame of the image that crop came from).
        """
        c = np.asarray(inner, dtype=np.float64).copy()
        c[:2] = self.crop_to_image(c[:2])
        c[2] = c[2] * (self.side / self.size)
        return c


def crops_to_image(uv, crops, size: float):
    """Pixels of per-sample crops resized to ``size`` -> original-image pixels, batched.

    uv: (B, J, 2) (e.g. decoded heatmap peaks, ``size`` = the heatmap size); crops: (B, 4) as x0, y0,
    side, size (numpy or torch, like ``uv``). Returns (B, J, 2): uv·side/size + (x0, y0).
    """
    scale = (crops[:, 2] / size)[:, None, None]
    return uv * scale + crops[:, None, :2]


def crop_pixel_centres(shape: tuple[int, int], dst: Crop | None = None,
                       src: Crop | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Centres of the pixels of a (H, W) map over crop ``dst``, as fractions of crop ``src``.

    Returns (u (W,), v (H,)) float64: the column and row centres, 0 and 1 at ``src``'s edges, so a map
    of any size over ``src`` is indexed by floor(u·width). With either crop None both are taken to be
    the same crop.
    """
    h, w = shape
    u = (np.arange(w) + 0.5) / w
    v = (np.arange(h) + 0.5) / h
    if src is not None and dst is not None:
        u = (dst.x0 + u * dst.side - src.x0) / src.side
        v = (dst.y0 + v * dst.side - src.y0) / src.side
    return u, v

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


def unproject(uv, depth, camera):
    """Inverse of ``project``: original-image pixels (..., 2) at camera depth Z (...) -> camera metres (..., 3).

    X = (u − cx)·Z/f, Y = (v − cy)·Z/f. camera: a ``Camera``, or an array (..., 4) of (f, cx, cy, Z0)
    that broadcasts against ``uv[..., 0]`` (one camera per sample).
    """
    if isinstance(camera, Camera):
        f, cx, cy = camera.f, camera.cx, camera.cy
    else:
        f, cx, cy = camera[..., 0], camera[..., 1], camera[..., 2]
    return _stack([(uv[..., 0] - cx) * depth / f, (uv[..., 1] - cy) * depth / f, depth], uv)


def joints3d_to_camera(joints3d, camera):
    """Joints of a sample file (x, y original-image pixels, z metres from the pelvis) -> camera metres.

    joints3d: (B, J, 3); camera: (B, 4) as (f, cx, cy, Z0), Z0 the pelvis depth.
    Z = Z0 + z, then ``unproject``. Returns (B, J, 3).
    """
    z = camera[:, None, 3] + joints3d[..., 2]
    return unproject(joints3d[..., :2], z, camera[:, None])


def front_view(grid):
    """Front view, the silhouette the camera sees: max over depth z. grid: (..., R, R, R) ``[z, y, x]``
    (numpy or torch) -> (..., R, R) ``[y, x]``, in image layout (the paper's FV)."""
    if isinstance(grid, np.ndarray):
        return grid.max(axis=-3)
    return grid.amax(dim=-3)


def side_view(grid):
    """Side view: max over x. grid: (..., R, R, R) ``[z, y, x]`` -> (..., R, R) ``[y, z]``: rows are image
    rows, columns depth from the camera (the paper's SV)."""
    if isinstance(grid, np.ndarray):
        return np.swapaxes(grid.max(axis=-1), -1, -2)
    return grid.amax(dim=-1).transpose(-1, -2)
