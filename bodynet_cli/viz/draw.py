"""Small pictures of predictions: skeletons, segmentation overlays, voxel projections, shaded surfaces.

Images are uint8 (H, W, 3) numpy arrays; grids are ``[z, y, x]`` (docs/formats.md), viewed by a
camera looking along +z (nearer = smaller z), x to the right, y down.
"""

from __future__ import annotations

import numpy as np

from bodynet_cli.body.conventions import JOINT_NAMES, SKELETON_EDGES

# One colour per segmentation class (0 = background, unused in overlays).
SEG_COLORS = np.array(
    [
        [0, 0, 0], [255, 220, 60], [90, 200, 90], [230, 60, 60], [240, 130, 60], [250, 190, 120],
        [60, 100, 230], [60, 170, 240], [120, 220, 250], [190, 40, 90], [220, 90, 150],
        [240, 160, 200], [60, 40, 160], [120, 80, 210], [180, 150, 240],
    ],
    dtype=np.uint8,
)  # fmt: skip
_SIDE_COLORS = {"r": (230, 60, 60), "l": (60, 120, 240), "c": (60, 200, 90)}


def _joint_side(j: int) -> str:
    return JOINT_NAMES[j][0] if JOINT_NAMES[j][:2] in ("r_", "l_") else "c"


def draw_skeleton(rgb: np.ndarray, joints2d: np.ndarray, width: int = 2) -> np.ndarray:
    """Draw the 16-joint skeleton on a copy of ``rgb`` (H, W, 3).

    joints2d: (J, 2) x, y in ``rgb``'s pixels (continuous: pixel i's centre is i + 0.5).
    The person's right side is red, left blue, the spine green.
    """
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    pts = np.asarray(joints2d, dtype=np.float64) - 0.5  # PIL draws at integer pixel centres
    for a, b in SKELETON_EDGES:
        side = _joint_side(b) if _joint_side(b) != "c" else _joint_side(a)
        draw.line([tuple(pts[a]), tuple(pts[b])], fill=_SIDE_COLORS[side], width=width)
    r = width + 1
    for j, (x, y) in enumerate(pts):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_SIDE_COLORS[_joint_side(j)], outline=(255, 255, 255))
    return np.asarray(img)


def overlay_segmentation(rgb: np.ndarray, segmentation: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend class colours over ``rgb`` (H, W, 3); ``segmentation`` (h, w) is resized (nearest) to H, W."""
    h, w = rgb.shape[:2]
    seg = np.asarray(segmentation)
    ys = (np.arange(h) + 0.5) * seg.shape[0] / h
    xs = (np.arange(w) + 0.5) * seg.shape[1] / w
    seg = seg[ys.astype(int)[:, None], xs.astype(int)[None, :]]
    colors = SEG_COLORS[np.clip(seg, 0, len(SEG_COLORS) - 1)].astype(np.float32)
    a = np.where(seg[..., None] > 0, alpha, 0.0)
    return (rgb.astype(np.float32) * (1 - a) + colors * a + 0.5).astype(np.uint8)


def first_crossing_depth(volume: np.ndarray, level: float = 0.5) -> np.ndarray:
    """Depth (continuous z) where a ray along +z through each (y, x) voxel centre first reaches ``level``.

    volume: float (R, R, R) ``[z, y, x]``, larger inside. Returns float (R, R) as (y, x), NaN where the
    ray never reaches ``level``. Between voxel centres the values are interpolated linearly, so this is
    where the ray meets the marching-cubes isosurface of ``volume``.
    """
    vol = np.asarray(volume, dtype=np.float64)
    inside = vol > level
    hit = inside.any(axis=0)
    k = np.argmax(inside, axis=0)  # first inside sample along z
    # Outside the grid counts as 0 (as ``geometry.isosurface`` pads it), so a body touching z = 0
    # is closed at the front too.
    prev = np.where(k > 0, np.take_along_axis(vol, np.maximum(k - 1, 0)[None], axis=0)[0], 0.0)
    cur = np.take_along_axis(vol, k[None], axis=0)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (level - prev) / (cur - prev)
    depth = k - 0.5 + t  # between the centres k - 0.5 and k + 0.5
    return np.where(hit, depth, np.nan)


def shade_depth(depth: np.ndarray, light=(-0.5, -0.6, -1.0)) -> np.ndarray:
    """Lambert shading of a depth map (h, w) (NaN = background) -> float (h, w) in [0, 1], 0 outside.

    The surface is z = depth(x, y) seen from z = -inf; ``light`` points from the surface to the light.
    """
    d = np.asarray(depth, dtype=np.float64)
    hit = np.isfinite(d)
    filled = np.where(hit, d, np.nanmax(d) if hit.any() else 0.0)
    gy, gx = np.gradient(filled)
    gx, gy = np.clip(gx, -4, 4), np.clip(gy, -4, 4)  # occlusion edges: steep, not infinite
    n = np.stack([gx, gy, -np.ones_like(gx)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    light_dir = np.asarray(light, dtype=np.float64) / np.linalg.norm(light)
    shade = 0.15 + 0.85 * np.clip(n @ light_dir, 0, 1)
    return np.where(hit, shade, 0.0)


def rotate_volume_y(volume: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate a ``[z, y, x]`` volume about the vertical axis through its centre (trilinear, 0 outside)."""
    from scipy.ndimage import affine_transform

    vol = np.asarray(volume, dtype=np.float32)
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    # Output (z, y, x) samples input at R·(out - centre) + centre; rotation in the z-x plane.
    m = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])
    centre = (np.asarray(vol.shape, dtype=np.float64) - 1) / 2
    return affine_transform(vol, m, offset=centre - m @ centre, order=1, mode="constant", cval=0.0)


def shaded_view(volume: np.ndarray, yaw_degrees: float = 35.0, level: float = 0.5) -> np.ndarray:
    """A shaded picture (R, R) in [0, 1] of the isosurface of ``volume`` [z, y, x], turned by ``yaw_degrees``."""
    vol = rotate_volume_y(volume, yaw_degrees) if yaw_degrees else np.asarray(volume, dtype=np.float32)
    return shade_depth(first_crossing_depth(vol, level))
