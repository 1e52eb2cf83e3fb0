"""SURREAL-like cameras, where the body stands in the frame, and the BodyNet crop around it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bodynet_cli.geometry.space import Camera, Crop


@dataclass(frozen=True)
class CameraSettings:
    """The notional original frame and the camera's random ranges.

    image_size: (width, height) of the SURREAL-like frame in pixels.
    focal: nominal focal length (pixels); focal_jitter: relative uniform jitter.
    principal_jitter: principal point offset from the frame centre, uniform ± pixels.
    depth: range of the pelvis depth Z0 (metres).
    pelvis_box: fraction of the frame (x, y) around its centre where the pelvis is placed.
    crop_scale: side S = crop_scale × the body's larger box side, times a uniform jitter in crop_jitter.
    centre_jitter: the crop centre moves by up to this fraction of the box's larger side.
    """

    image_size: tuple[int, int] = (320, 240)
    focal: float = 600.0
    focal_jitter: float = 0.1
    principal_jitter: float = 4.0
    depth: tuple[float, float] = (4.0, 10.0)
    pelvis_box: tuple[float, float] = (0.4, 0.3)
    crop_scale: float = 1.2
    crop_jitter: tuple[float, float] = (0.95, 1.15)
    centre_jitter: float = 0.05


def sample_camera(rng: np.random.Generator, s: CameraSettings) -> tuple[Camera, np.ndarray]:
    """Intrinsics and pelvis position: ``(Camera (f, cx, cy, Z0), pelvis (3,) camera metres)``."""
    w, h = s.image_size
    f = s.focal * rng.uniform(1 - s.focal_jitter, 1 + s.focal_jitter)
    cx, cy = w / 2 + rng.uniform(-1, 1, 2) * s.principal_jitter * np.array([1.0, 1.0])
    z0 = rng.uniform(*s.depth)
    u = w / 2 + rng.uniform(-0.5, 0.5) * s.pelvis_box[0] * w
    v = h / 2 + rng.uniform(-0.5, 0.5) * s.pelvis_box[1] * h
    pelvis = np.array([(u - cx) * z0 / f, (v - cy) * z0 / f, z0])
    return Camera(float(f), float(cx), float(cy), float(z0)), pelvis


def sample_crop(rng: np.random.Generator, uv: np.ndarray, size: int, s: CameraSettings,
                min_side: float = 0.0) -> Crop:
    """The square crop around projected body points ``uv`` (V, 2) original pixels, resized to ``size``.

    The side is ``crop_scale`` × the larger side of the points' box, jittered, and at least
    ``min_side``; the centre moves by at most ``centre_jitter`` of the box side, so the whole body
    stays inside the crop.
    """
    lo, hi = uv.min(0), uv.max(0)
    box = float((hi - lo).max())
    side = max(s.crop_scale * box * rng.uniform(*s.crop_jitter), min_side)
    centre = (lo + hi) / 2 + rng.uniform(-1, 1, 2) * s.centre_jitter * box
    return Crop(float(centre[0] - side / 2), float(centre[1] - side / 2), float(side), int(size))
