"""Training proxies: the 2D joints (with scores) and the person mask a real-photo person detector gives a
proxy model at test time, made here from the synthetic ground truth with realistic, strong corruption
(as STRAPS, Sengupta et al. 2020), so a model trained on them does not learn to trust perfect inputs.

Everything is numpy and draws from one ``np.random.Generator`` (the dataset item's), so the proxies of an
item are a pure function of its seed. The inputs are the ground truth AFTER the dataset's geometric
augmentation (flip, zoom, rotation), so proxies and targets stay consistent. Shapes: J joints, I input size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import JOINT_FLIP, NUM_JOINTS
from bodynet_cli.errors import BodyNetError

# Left/right joint pairs a detector confuses (lower leg, whole leg, lower arm, whole arm), MPII order.
LIMB_SWAPS = (((0, 1), (5, 4)), ((0, 1, 2), (5, 4, 3)), ((10, 11), (15, 14)), ((10, 11, 12), (15, 14, 13)))
# Joints whose surroundings carry hair and loose clothes: head, neck, thorax, pelvis, hips, knees.
BULGE_JOINTS = (9, 8, 7, 6, 2, 3, 1, 4)


@dataclass(frozen=True)
class ProxyCorruption:
    """How strongly the ground truth is corrupted into proxies; lengths are in units of the person's size
    (the longer side of the ground-truth joints' bounding box), probabilities per joint or per sample.

    jitter: σ of every joint's Gaussian offset (per axis). outlier_prob / outlier_scale: a joint also gets a
    large offset of σ outlier_scale. drop_prob: a joint is missing (score 0). limb_swap_prob: one limb's
    left/right joints swap (``LIMB_SWAPS``); body_swap_prob: the whole body's do. score_noise: a present
    joint's score is 1 - |N(0, score_noise)| clipped to [0, 1]. Joints outside the crop get score 0.
    mask_radius: the mask is eroded or dilated by a radius uniform in -r..r input pixels. boundary_noise:
    amplitude of smooth noise moving the boundary (0: none, 1: about half the boundary band flips).
    bulge_prob / bulge_size: 1-3 blobs of radius ~bulge_size attached to the boundary near the head, torso or
    legs (hair, loose clothes). occluder_prob / occluder_size: a rectangle or ellipse of side up to
    occluder_size removed from the mask. extra_prob / extra_size: an ellipse of up to extra_size added
    anywhere (another person, background). truncate_prob / truncate_max: the crop's side loses a band of up
    to truncate_max of its width (mask cleared, joints there missing), as a person cut by the photo's edge.
    """

    # Defaults, from `python tools/calibrate_proxies.py DATA --n 200` on synth v2 crops: 84 % of the joints
    # inside the crop lie within 0.1 person sizes (BlazePose on held-out real photos: 81 % within 0.1 × the
    # person's box), 6 % of left/right limb pairs swapped, mask IoU 0.69 (BlazePose on photos: 0.82, so
    # the masks are harsher than the detector's, as STRAPS advises); scores spread over [0, 1] like the
    # landmarks' visibility. BlazePose run on our synthetic crops does far worse than on photos (36 % within
    # 0.1, mask IoU 0.54, 16 % of the people not found: the renders are out of its domain), so its output
    # on synthetic images is not used as training proxies.
    jitter: float = 0.04
    outlier_prob: float = 0.1
    outlier_scale: float = 0.2
    drop_prob: float = 0.15
    limb_swap_prob: float = 0.05
    body_swap_prob: float = 0.02
    score_noise: float = 0.3
    mask_radius: int = 3
    boundary_noise: float = 0.5
    bulge_prob: float = 0.5
    bulge_size: float = 0.08
    occluder_prob: float = 0.3
    occluder_size: float = 0.3
    extra_prob: float = 0.25
    extra_size: float = 0.4
    truncate_prob: float = 0.1
    truncate_max: float = 0.3

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not np.isfinite(v) or v < 0 or (f.name.endswith("_prob") and v > 1):
                raise BodyNetError(f"proxy corruption {f.name}={v}: must be >= 0 (and <= 1 for a probability)")

    @classmethod
    def none(cls) -> ProxyCorruption:
        """No corruption: the clean proxies (ground-truth joints, score 1 inside the crop; the true mask)."""
        return cls(**{f.name: 0 for f in fields(cls)})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ProxyCorruption:
        known = {f.name for f in fields(cls)}
        if set(d) - known:
            raise BodyNetError(f"proxy corruption has unknown keys {sorted(set(d) - known)}")
        return cls(**d)


@dataclass
class ProxySample:
    """One sample's proxies. joints: float32 (J, 2) x, y input pixels; scores: float32 (J,) in [0, 1] (0 =
    missing); mask: uint8 (I, I) in {0, 1} over the crop."""

    joints: np.ndarray
    scores: np.ndarray
    mask: np.ndarray


def person_size(joints: np.ndarray) -> float:
    """The longer side of the bounding box of joints (J, 2) (at least 1 pixel): the unit of the corruption."""
    finite = joints[np.isfinite(joints).all(axis=1)]
    if len(finite) == 0:
        return 1.0
    return float(max(1.0, (finite.max(axis=0) - finite.min(axis=0)).max()))


def _disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return r[:, None] ** 2 + r[None, :] ** 2 <= radius**2


def _ellipse(size: int, centre: np.ndarray, radii: np.ndarray, angle: float) -> np.ndarray:
    """Pixels (I, I) whose centres fall inside an ellipse (x, y centre, radii, angle in radians)."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    dx, dy = xx - centre[0], yy - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * dx + s * dy) / max(radii[0], 0.5), (-s * dx + c * dy) / max(radii[1], 0.5)
    return u * u + v * v <= 1.0


def _rectangle(size: int, centre: np.ndarray, half: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] + 0.5
    return (np.abs(xx - centre[0]) <= half[0]) & (np.abs(yy - centre[1]) <= half[1])


def _boundary(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_erosion

    return mask & ~binary_erosion(mask)


def corrupt_mask(mask: np.ndarray, joints: np.ndarray, size_px: float, c: ProxyCorruption,
                 rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """The person mask (I, I) bool corrupted (before truncation); joints (J, 2) are the clean ones, where the
    hair and clothing blobs attach."""
    from scipy.ndimage import binary_dilation, binary_erosion, gaussian_filter

    n = mask.shape[0]
    m = mask.copy()
    if c.mask_radius > 0:
        r = int(rng.integers(-c.mask_radius, c.mask_radius + 1))
        if r > 0:
            m = binary_dilation(m, _disk(r))
        elif r < 0:
            m = binary_erosion(m, _disk(-r), border_value=1)
    if c.boundary_noise > 0 and m.any():
        band = binary_dilation(m, _disk(3)) & ~binary_erosion(m, _disk(3), border_value=1)
        field = gaussian_filter(rng.standard_normal((n, n)), 3.0)
        field /= max(float(field.std()), 1e-12)
        # Inside +1, outside -1, plus smooth noise: the boundary wanders, without salt-and-pepper pixels.
        m = np.where(band, (2.0 * m - 1.0) + 2.0 * c.boundary_noise * field > 0, m)
    if c.bulge_prob > 0 and rng.random() < c.bulge_prob:
        edge = _boundary(m)
        ey, ex = np.nonzero(edge)
        for _ in range(int(rng.integers(1, 4))):
            anchor = joints[BULGE_JOINTS[int(rng.integers(len(BULGE_JOINTS)))]]
            dist = np.hypot(ex + 0.5 - anchor[0], ey + 0.5 - anchor[1])
            centre = anchor
            if len(dist):
                # A boundary pixel near the joint (the nearest one when the joint is deep inside the mask).
                near = np.flatnonzero(dist < max(0.2 * size_px, float(dist.min()) + 1.0))
                k = int(rng.choice(near))
                centre = np.array([ex[k] + 0.5, ey[k] + 0.5])
            radii = c.bulge_size * size_px * rng.uniform(0.5, 1.5, 2)
            m = m | _ellipse(n, centre, radii, float(rng.uniform(0, np.pi)))
    if c.occluder_prob > 0 and rng.random() < c.occluder_prob and m.any():
        ys, xs = np.nonzero(m)
        k = int(rng.integers(len(xs)))
        centre = np.array([xs[k] + 0.5, ys[k] + 0.5])
        half = c.occluder_size * size_px / 2 * rng.uniform(0.2, 1.0, 2)
        shape = _rectangle(n, centre, half) if rng.random() < 0.5 else _ellipse(n, centre, half, 0.0)
        m = m & ~shape
    if c.extra_prob > 0 and rng.random() < c.extra_prob:
        centre = rng.uniform(0, n, 2)
        rx = c.extra_size * size_px / 2 * rng.uniform(0.3, 1.0)
        m = m | _ellipse(n, centre, np.array([rx, rx * rng.uniform(1.0, 3.0)]), float(rng.uniform(-0.3, 0.3)))
    return m


def make_proxies(joints: np.ndarray, mask: np.ndarray, c: ProxyCorruption, rng: np.random.Generator) -> ProxySample:
    """Proxies from augmented ground truth: joints (J, 2) input pixels (continuous), mask (I, I) bool.

    With ``ProxyCorruption.none()`` the result is the clean proxies: the joints as given, score 1 for joints
    inside [0, I)² and 0 outside, and the mask as given.
    """
    n = mask.shape[0]
    assert joints.shape == (NUM_JOINTS, 2) and mask.shape == (n, n)
    clean = joints.astype(np.float64)
    size_px = person_size(clean)
    pj = clean.copy()
    if c.body_swap_prob > 0 and rng.random() < c.body_swap_prob:
        pj = pj[JOINT_FLIP]
    elif c.limb_swap_prob > 0 and rng.random() < c.limb_swap_prob:
        right, left = LIMB_SWAPS[int(rng.integers(len(LIMB_SWAPS)))]
        pj[list(right) + list(left)] = pj[list(left) + list(right)]
    if c.jitter > 0:
        pj = pj + rng.normal(0.0, c.jitter * size_px, pj.shape)
    if c.outlier_prob > 0:
        far = rng.random(NUM_JOINTS) < c.outlier_prob
        pj = pj + far[:, None] * rng.normal(0.0, c.outlier_scale * size_px, pj.shape)
    scores = np.ones(NUM_JOINTS)
    if c.score_noise > 0:
        scores = np.clip(1.0 - np.abs(rng.normal(0.0, c.score_noise, NUM_JOINTS)), 0.0, 1.0)
    if c.drop_prob > 0:
        scores[rng.random(NUM_JOINTS) < c.drop_prob] = 0.0
    m = corrupt_mask(mask.astype(bool), clean, size_px, c, rng)
    if c.truncate_prob > 0 and rng.random() < c.truncate_prob:
        side, cut = int(rng.integers(4)), rng.uniform(0.0, c.truncate_max) * n
        axis, keep_low = side % 2, side < 2  # 0: right edge cut, 1: bottom, 2: left, 3: top
        edge = n - cut if keep_low else cut
        coords = np.arange(n) + 0.5
        keep = coords < edge if keep_low else coords >= edge
        m = m & (keep[None, :] if axis == 0 else keep[:, None])
        gone = pj[:, axis] >= edge if keep_low else pj[:, axis] < edge
        scores[gone] = 0.0
    outside = ~((pj >= 0) & (pj < n)).all(axis=1)
    scores[outside] = 0.0
    return ProxySample(joints=pj.astype(np.float32), scores=scores.astype(np.float32), mask=m.astype(np.uint8))


def load_corruption(path: Path | None) -> ProxyCorruption:
    """``--proxy-corruption``: a JSON object of ``ProxyCorruption`` fields (the rest keep their defaults)."""
    from dataclasses import replace

    from bodynet_cli.io.json_file import read_json

    if path is None:
        return ProxyCorruption()
    doc = read_json(path, f"--proxy-corruption {path}")
    if not isinstance(doc, dict):
        raise BodyNetError(f"--proxy-corruption {path}: expected a JSON object of ProxyCorruption settings")
    ProxyCorruption.from_dict({**ProxyCorruption().to_dict(), **doc})  # validates names and values
    return replace(ProxyCorruption(), **doc)
