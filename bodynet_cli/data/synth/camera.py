"""Cameras, where the body stands in the frame, and the BodyNet crop around it, framed like photos.

A framing is drawn per sample (``FRAMINGS``): ``full`` (the whole body, as SURREAL), ``three_quarter``
(the crop ends between the hips and the knees), ``upper_body`` (it ends near the waist: the legs are out
of the frame), ``close_up`` (head and shoulders down to the chest), ``edge`` (a full-body crop moved
sideways so that part of the person is outside it). Truncated framings cut the body along the image
axis closest to its head-to-cut direction, so a lying person is cut too. The ground truth stays that of
the whole body: joints may fall outside the crop and the voxel grid, which covers the crop's frustum,
holds the part inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bodynet_cli.geometry.space import Camera, Crop, unproject


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
    depth_near: pelvis depth range for the truncated framings (people photographed closer).
    p_elevation: share of cameras above or below the person; elevation_deg: their elevation range
        (degrees, > 0 above looking down), uniform over ± it (the others keep the body's small tilts).
    framing: probability of each framing (``FRAMINGS`` order, normalised).
    edge_shift: an ``edge`` crop leaves this range of fractions of the body's width outside.
    """

    image_size: tuple[int, int] = (320, 240)
    focal: float = 600.0
    focal_jitter: float = 0.1
    principal_jitter: float = 4.0
    depth: tuple[float, float] = (3.0, 10.0)
    pelvis_box: tuple[float, float] = (0.4, 0.3)
    crop_scale: float = 1.2
    crop_jitter: tuple[float, float] = (0.95, 1.15)
    centre_jitter: float = 0.05
    depth_near: tuple[float, float] = (2.0, 6.0)
    p_elevation: float = 0.5
    elevation_deg: float = 30.0
    framing: tuple[float, float, float, float, float] = (0.45, 0.15, 0.2, 0.08, 0.12)
    edge_shift: tuple[float, float] = (0.2, 0.5)


FRAMINGS = ("full", "three_quarter", "upper_body", "close_up", "edge")
TRUNCATED = ("three_quarter", "upper_body", "close_up")


def sample_framing(rng: np.random.Generator, s: CameraSettings) -> tuple[str, float]:
    """A framing name (``FRAMINGS``) and a camera elevation in degrees (0 for a level camera)."""
    p = np.asarray(s.framing, np.float64)
    assert len(p) == len(FRAMINGS) and (p >= 0).all() and p.sum() > 0, "framing needs 5 weights >= 0"
    framing = FRAMINGS[int(rng.choice(len(FRAMINGS), p=p / p.sum()))]
    elevation = float(rng.uniform(-1, 1) * s.elevation_deg) if rng.random() < s.p_elevation else 0.0
    return framing, elevation


def sample_camera(rng: np.random.Generator, s: CameraSettings, near: bool = False) -> tuple[Camera, np.ndarray]:
    """Intrinsics and pelvis position: ``(Camera (f, cx, cy, Z0), pelvis (3,) camera metres)``; ``near``
    draws the depth from ``depth_near``."""
    w, h = s.image_size
    f = s.focal * rng.uniform(1 - s.focal_jitter, 1 + s.focal_jitter)
    cx, cy = w / 2 + rng.uniform(-1, 1, 2) * s.principal_jitter * np.array([1.0, 1.0])
    z0 = rng.uniform(*(s.depth_near if near else s.depth))
    u = w / 2 + rng.uniform(-0.5, 0.5) * s.pelvis_box[0] * w
    v = h / 2 + rng.uniform(-0.5, 0.5) * s.pelvis_box[1] * h
    camera = Camera(float(f), float(cx), float(cy), float(z0))
    return camera, unproject(np.array([u, v]), camera.z0, camera)


def sample_crop(rng: np.random.Generator, uv: np.ndarray, size: int, s: CameraSettings) -> Crop:
    """The square crop around projected body points ``uv`` (V, 2) original pixels, resized to ``size``.

    The side is ``crop_scale`` × the larger side of the points' box, jittered; the centre moves by at
    most ``centre_jitter`` of the box side, so the whole body stays inside the crop.
    """
    lo, hi = uv.min(0), uv.max(0)
    box = float((hi - lo).max())
    side = max(s.crop_scale * box * rng.uniform(*s.crop_jitter), 1e-3)
    centre = (lo + hi) / 2 + rng.uniform(-1, 1, 2) * s.centre_jitter * box
    return Crop(float(centre[0] - side / 2), float(centre[1] - side / 2), float(side), int(size))


# Where a truncated crop ends, as (joint a, joint b, blend range): the cut passes through a + t (b - a),
# t uniform in the range; SMPL joints (2D), hips and knees averaged over both sides.
_CUTS = {"three_quarter": ("hips", "knees", (0.3, 0.9)), "upper_body": ("spine1", "hips", (0.0, 1.0)),
         "close_up": ("neck", "spine2", (0.5, 1.2))}


def _joint2d(joints_uv: np.ndarray, name: str) -> np.ndarray:
    idx = {"hips": (1, 2), "knees": (4, 5), "spine1": (3,), "spine2": (6,), "neck": (12,)}[name]
    return joints_uv[list(idx)].mean(0)


def truncated_crop(rng: np.random.Generator, framing: str, uv: np.ndarray, joints_uv: np.ndarray, size: int,
                   s: CameraSettings, core: np.ndarray | None = None) -> tuple[Crop, int, int]:
    """A square crop ending at a body cut (``_CUTS``): uv (V, 2) projected vertices, joints_uv (24, 2)
    projected SMPL joints, original pixels; core: bool (V,) the vertices the crop is framed on (head
    and torso: outstretched or raised arms may leave the frame, as in photos; default all).

    The image axis (0 x, 1 y) closest to the cut-to-head direction runs through the crop: one edge lies
    on the cut, the crop reaches past the farthest core point on the head's side by a margin, and across
    it covers those points' extent × ``crop_scale``. Returns ``(crop, axis, sign)``: sign +1 when the
    head lies towards growing coordinates of that axis (the cut edge is then the crop's low edge).
    """
    if core is not None and core.any():
        uv = uv[core]
    a, b, (t0, t1) = _CUTS[framing]
    pa, pb = _joint2d(joints_uv, a), _joint2d(joints_uv, b)
    cut = pa + rng.uniform(t0, t1) * (pb - pa)
    up = joints_uv[15] - cut  # towards the head
    axis = 0 if abs(up[0]) > abs(up[1]) else 1
    sign = 1 if up[axis] >= 0 else -1
    along = (uv[:, axis] - cut[axis]) * sign
    keep = along > 0
    if not keep.any():
        keep = np.ones(len(uv), bool)
    reach = float(along[keep].max())
    across = uv[keep, 1 - axis]
    lo, hi = float(across.min()), float(across.max())
    side = max(reach * rng.uniform(1.05, 1.25), (hi - lo) * s.crop_scale) * rng.uniform(*s.crop_jitter)
    side = max(side, 1e-3)
    start = cut[axis] + rng.uniform(-0.03, 0.03) * side  # the cut edge, where the crop begins
    corner = np.zeros(2)
    corner[axis] = start if sign > 0 else start - side
    centre_across = (lo + hi) / 2 + rng.uniform(-1, 1) * s.centre_jitter * (hi - lo)
    corner[1 - axis] = centre_across - side / 2
    return Crop(float(corner[0]), float(corner[1]), float(side), int(size)), axis, sign


def grow_crop(crop: Crop, side: float, anchor: tuple[int, int] | None = None) -> Crop:
    """``crop`` enlarged to ``side`` (no change when it is already that large): about its centre, or,
    with ``anchor`` = (axis, sign) of ``truncated_crop``, keeping its cut edge where it is."""
    if side <= crop.side:
        return crop
    x0, y0 = crop.x0 - (side - crop.side) / 2, crop.y0 - (side - crop.side) / 2
    if anchor is not None:
        axis, sign = anchor
        edge = (crop.x0, crop.y0)[axis] if sign > 0 else (crop.x0, crop.y0)[axis] + crop.side
        start = edge if sign > 0 else edge - side
        x0, y0 = (start, y0) if axis == 0 else (x0, start)
    return Crop(float(x0), float(y0), float(side), crop.size)


def shifted_crop(rng: np.random.Generator, crop: Crop, uv: np.ndarray, s: CameraSettings) -> Crop:
    """An ``edge`` crop: ``crop`` moved left or right until its edge cuts an ``edge_shift`` fraction of
    the width of the body's box (points ``uv`` (V, 2)) off."""
    lo, hi = float(uv[:, 0].min()), float(uv[:, 0].max())
    cut = rng.uniform(*s.edge_shift) * (hi - lo)
    x0 = lo + cut if rng.random() < 0.5 else hi - cut - crop.side
    return Crop(float(x0), crop.y0, crop.side, crop.size)
