"""Rotated regions of interest: from detector keypoints to an upright square around the body, and back.

Continuous pixel coordinates everywhere (pixel i covers [i, i+1), its centre is i + 0.5), in the
original image and in the landmark network's I×I input alike. A region is a square of ``size`` original
pixels centred on ``centre`` and turned by ``angle`` (radians, clockwise on screen since y points down):
its local axes in the image are u = (cos a, sin a) and v = (−sin a, cos a), and network pixel (s, t)
in [0, I]² shows image point ``centre + size/I · (s − I/2) u + size/I · (t − I/2) v``.

MediaPipe's rule (``pose_detection_to_roi``): centre = keypoint 0 (mid-hips); the rotation brings the
vector keypoint 0 → keypoint 1 to point straight up (90° target angle); the side is 2·|k1 − k0| (the
alignment-points box), then scaled by 1.25 and squared on its long side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

ROI_SCALE = 1.25


@dataclass(frozen=True)
class Roi:
    """A rotated square in original-image pixels: centre (x, y), side ``size``, ``angle`` radians."""

    cx: float
    cy: float
    size: float
    angle: float

    def to_image_matrix(self, input_size: int) -> np.ndarray:
        """(2, 3) affine: network pixels (s, t, 1) -> original-image pixels (x, y)."""
        k = self.size / input_size
        c, s = math.cos(self.angle) * k, math.sin(self.angle) * k
        h = input_size / 2
        return np.array([[c, -s, self.cx - c * h + s * h], [s, c, self.cy - s * h - c * h]])

    def to_roi_matrix(self, input_size: int) -> np.ndarray:
        """(2, 3) affine: original-image pixels (x, y, 1) -> network pixels (s, t); inverse of ``to_image_matrix``."""
        m = self.to_image_matrix(input_size)
        inv = np.linalg.inv(m[:, :2])
        return np.concatenate([inv, -inv @ m[:, 2:]], axis=1)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(2, 3) affine applied to points (..., 2)."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def roi_from_keypoints(k0: np.ndarray, k1: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """The body's region from detector keypoints 0 (mid-hips) and 1 (size/rotation), original pixels (2,)."""
    dx, dy = float(k1[0] - k0[0]), float(k1[1] - k0[1])
    # Target angle 90°: with y down, "up" is atan2(-dy, dx) = 90°; the rest is the region's rotation.
    angle = math.pi / 2 - math.atan2(-dy, dx)
    angle = (angle + math.pi) % (2 * math.pi) - math.pi
    size = 2.0 * math.hypot(dx, dy) * scale
    return Roi(cx=float(k0[0]), cy=float(k0[1]), size=size, angle=angle)


def body_distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """How far apart two body estimates are, each (k0, k1): mid-hips and the size/rotation point (2,).

    The larger of the two points' distances over the mean body length |k1 − k0|: about 0.1 for two
    estimates of one person, near 1 for people side by side (whose square regions may overlap a lot).
    """
    length = (np.linalg.norm(a[1] - a[0]) + np.linalg.norm(b[1] - b[0])) / 2
    d = max(np.linalg.norm(a[0] - b[0]), np.linalg.norm(a[1] - b[1]))
    return float(d / length) if length > 0 else float("inf")


def sample_grid(matrices: np.ndarray, out_size: int, height: int, width: int) -> torch.Tensor:
    """grid_sample grid (N, O, O, 2) sampling output pixel centres through (N, 2, 3) affines out -> image.

    For ``align_corners=False``: image point x maps to 2x/W − 1, so pixel centres i + 0.5 land on the
    grid's pixel centres.
    """
    c = np.arange(out_size) + 0.5
    m = np.asarray(matrices, dtype=np.float64)[:, :, :, None, None]  # (N, 2, 3, 1, 1)
    # (N, 2, O, O): image x, y of output row t, column s, as broadcast products (an einsum over an
    # (O, O, 2) point array gave the same numbers 3-4× slower)
    img = m[:, :, 0] * c[None, :] + m[:, :, 1] * c[:, None] + m[:, :, 2]
    norm = img / np.array([width, height], dtype=np.float64)[:, None, None] * 2.0 - 1.0
    return torch.from_numpy(np.ascontiguousarray(norm.transpose(0, 2, 3, 1), dtype=np.float32))


def warp(image: torch.Tensor, matrices: np.ndarray, out_size: int, padding: str = "border",
         max_shrink: float = 4.0) -> torch.Tensor:
    """Resample image (C, H, W) float through (N, 2, 3) affines (output pixels -> image pixels): (N, C, O, O).

    Bilinear sampling (MediaPipe's is OpenCV's bilinear ``warpAffine`` with no prefilter). Where one
    output pixel spans more than ``max_shrink`` image pixels, the image is first halved by 2×2
    averaging as often as needed (a pyramid level per region), which bounds the aliasing of plain
    sampling on large photos. ``padding``: "border" replicates the edge (MediaPipe's landmark input),
    "zeros" fills black (its detector input).
    """
    out = []
    pyramid = {0: image.contiguous()[None]}  # a photo's permuted HWC view samples 3× slower
    for m in np.asarray(matrices):
        scale = math.sqrt(abs(np.linalg.det(m[:, :2])))  # image pixels per output pixel
        level = max(0, math.ceil(math.log2(scale / max_shrink))) if scale > max_shrink else 0
        for lv in range(1, level + 1):
            if lv not in pyramid:
                pyramid[lv] = halve(pyramid[lv - 1])
        src = pyramid[level]
        grid = sample_grid((m / 2**level)[None], out_size, src.shape[-2], src.shape[-1]).to(image.device)
        out.append(F.grid_sample(src, grid, mode="bilinear", padding_mode=padding, align_corners=False))
    return torch.cat(out) if out else image.new_zeros((0, image.shape[0], out_size, out_size))


def halve(x: torch.Tensor) -> torch.Tensor:
    """2×2 averages of x (..., H, W) -> (..., ceil(H/2), ceil(W/2)): ``F.avg_pool2d(x, 2, ceil_mode=True)``
    (an odd last row or column averages the pixels it has), as strided adds, rows then columns: 0.35 ms
    instead of 2.9 ms on a 1024×512 RGB photo, one thread (benchmarks/bench_frontend_ops.py).
    """
    if x.shape[-2] % 2 or x.shape[-1] % 2:  # a replicated edge averages to the pixels the window has
        x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2), mode="replicate")
    rows = x[..., ::2, :] + x[..., 1::2, :]
    return (rows[..., ::2] + rows[..., 1::2]) * 0.25
