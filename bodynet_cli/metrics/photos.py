"""Real-photo metrics: is the person found, PCK@0.1, silhouette IoU on the photo, depth error and ordinal depth.

One annotated person against one predicted person at a time (photos differ in size, so nothing is batched).
Numpy only. Conventions (docs/formats.md): pixel i covers [i, i+1) and its centre is i + 0.5; a person's
``box`` is (x0, y0, x1, y1) in original pixels; a ``crop`` is (x0, y0, side S, size) (``Crop``); joints are
the 16 BodyNet joints (``JOINT_NAMES``). The scores are those of the held-out real-photo evaluation:

- found: the crop square covers >= 50 % of the box's area and its area is <= 4 x that of the square around the
  box (side = the box's longer side), i.e. S <= 2 x max(w, h);
- PCK@0.1 over the 12 limb joints (ankles, knees, hips, wrists, elbows, shoulders), threshold 0.1 x the box's
  longer side;
- silhouette IoU: the voxels' front view mapped onto the photo through the crop, against the person's mask,
  counted over the pixels inside the crop square or the box (and the photo);
- depth error: mean |pelvis-relative depth error| (mm) over the joints;
- ordinal depth: the share of joint pairs more than 10 cm apart in true depth whose predicted order is right.

A score with nothing to count (no annotated joint, no pair far enough apart, an empty region) is NaN.
"""

from __future__ import annotations

import numpy as np

from bodynet_cli.body.conventions import JOINT_NAMES, PELVIS
from bodynet_cli.geometry.space import Crop, front_view

LIMB_JOINT_NAMES = ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle",
                    "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist")  # fmt: skip
LIMB_JOINTS = tuple(JOINT_NAMES.index(n) for n in LIMB_JOINT_NAMES)  # the 12 joints every photo metric scores
FOUND_MIN_COVERAGE = 0.5  # share of the box the crop must cover
FOUND_MAX_AREA_RATIO = 4.0  # crop area / area of the square around the box
PCK_THRESHOLD = 0.1  # x the box's longer side
ORDINAL_MIN_GAP_M = 0.1  # joint pairs closer than this in true depth are not ranked


def _as_crop(crop) -> Crop:
    return crop if isinstance(crop, Crop) else Crop.from_array(crop)


def box_coverage(crop, box) -> float:
    """Share of the box's area inside the crop square: crop (4,) or ``Crop``, box (4,) x0, y0, x1, y1 px.
    Returns a float in [0, 1]; NaN for a box of zero area."""
    c = _as_crop(crop)
    x0, y0, x1, y1 = (float(v) for v in box)
    area = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    iw = max(0.0, min(x1, c.x0 + c.side) - max(x0, c.x0))
    ih = max(0.0, min(y1, c.y0 + c.side) - max(y0, c.y0))
    return iw * ih / area if area > 0 else float("nan")


def person_found(crop, box) -> bool:
    """Whether the crop finds the person in ``box``: it covers >= 50 % of the box and its area is <= 4 x the
    square around the box. crop (4,) or ``Crop``; box (4,) x0, y0, x1, y1 px."""
    c = _as_crop(crop)
    long_side = max(float(box[2]) - float(box[0]), float(box[3]) - float(box[1]))
    cover = box_coverage(c, box)
    return bool(cover >= FOUND_MIN_COVERAGE and c.side**2 <= FOUND_MAX_AREA_RATIO * long_side**2)


def pck(pred, gt, visible, box, thresh: float = PCK_THRESHOLD, joints=LIMB_JOINTS) -> float:
    """PCK: the share of the annotated ``joints`` whose prediction is within ``thresh`` x the box's longer side.

    pred, gt: (16, 2) px; visible: (16,) bool or 0/1 (1 = the ground truth has the joint); box: (4,) x0, y0,
    x1, y1 px. A joint at exactly the threshold counts as correct. NaN when none of ``joints`` is annotated.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {pred.shape} vs {gt.shape}")
    idx = np.asarray(joints, dtype=np.intp)
    vis = np.asarray(visible).astype(bool)[idx]
    if not vis.any():
        return float("nan")
    long_side = max(float(box[2]) - float(box[0]), float(box[3]) - float(box[1]))
    dist = np.linalg.norm(pred[idx] - gt[idx], axis=-1)
    return float(np.count_nonzero((dist <= thresh * long_side) & vis) / np.count_nonzero(vis))


def _pixel_index(centres: np.ndarray, start: float, side: float, res: int) -> np.ndarray:
    """Index of the grid cell (of ``res`` over [start, start + side)) holding each pixel centre; -1 outside."""
    i = np.floor((centres - start) * (res / side)).astype(np.int64)
    return np.where((i >= 0) & (i < res), i, -1)


def front_view_on_photo(voxels, crop, shape: tuple[int, int]) -> np.ndarray:
    """The voxels' front view (any over z) mapped onto the photo through the crop.

    voxels: bool (R, R, R) ``[z, y, x]``, its x and y spanning the crop square; crop (4,) or ``Crop``;
    shape: the photo's (H, W). Photo pixel (v, u) takes the grid column holding its centre (u + 0.5,
    v + 0.5); pixels outside the crop are False. Returns bool (H, W).
    """
    c = _as_crop(crop)
    fv = front_view(np.asarray(voxels).astype(bool))  # (R, R) [y, x]
    h, w = shape
    ix = _pixel_index(np.arange(w) + 0.5, c.x0, c.side, fv.shape[1])
    iy = _pixel_index(np.arange(h) + 0.5, c.y0, c.side, fv.shape[0])
    out = fv[np.maximum(iy, 0)[:, None], np.maximum(ix, 0)[None, :]]
    return out & (iy >= 0)[:, None] & (ix >= 0)[None, :]


def photo_region(crop, box, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of an (H, W) photo whose centre lies inside the crop square or the box: bool (H, W)."""
    c = _as_crop(crop)
    u, v = np.arange(shape[1]) + 0.5, np.arange(shape[0]) + 0.5
    in_crop = ((v >= c.y0) & (v < c.y0 + c.side))[:, None] & ((u >= c.x0) & (u < c.x0 + c.side))[None, :]
    in_box = ((v >= box[1]) & (v < box[3]))[:, None] & ((u >= box[0]) & (u < box[2]))[None, :]
    return in_crop | in_box


def silhouette_iou(front_view_on_photo, mask, crop, box) -> float:
    """IoU of the predicted silhouette on the photo against the person's mask, inside (crop ∪ box).

    front_view_on_photo, mask: bool (H, W) over the photo (``front_view_on_photo()``, the annotated mask);
    crop (4,) or ``Crop``; box (4,) x0, y0, x1, y1 px. NaN when both are empty inside the region.
    """
    pred, gt = np.asarray(front_view_on_photo).astype(bool), np.asarray(mask).astype(bool)
    if pred.shape != gt.shape:
        raise ValueError(f"silhouette and mask shapes differ: {pred.shape} vs {gt.shape}")
    region = photo_region(crop, box, gt.shape)
    inter = np.count_nonzero(pred & gt & region)
    union = np.count_nonzero((pred | gt) & region)
    return inter / union if union else float("nan")


def depth_error_mm(pred_depth, gt_depth, visible, joints=LIMB_JOINTS) -> float:
    """Mean |pelvis-relative depth error| in mm over the annotated ``joints``.

    pred_depth, gt_depth: (16,) metres along the camera axis, each from any origin (a prediction's
    ``joints3d[:, 2]`` is already pelvis-relative; a ground truth may be camera Z); each is taken relative
    to its own pelvis (joint 6). visible: (16,) 1 where the ground truth has the joint's depth; the pelvis
    must be among them. NaN when the pelvis or every one of ``joints`` is missing.
    """
    p, g = np.asarray(pred_depth, np.float64), np.asarray(gt_depth, np.float64)
    vis = np.asarray(visible).astype(bool)
    idx = np.asarray(joints, dtype=np.intp)
    idx = idx[vis[idx]]
    if not vis[PELVIS] or idx.size == 0:
        return float("nan")
    err = (p[idx] - p[PELVIS]) - (g[idx] - g[PELVIS])
    return float(1000.0 * np.abs(err).mean())


def ordinal_depth(pred_depth, gt_depth, visible, min_gap_m: float = ORDINAL_MIN_GAP_M, joints=LIMB_JOINTS) -> float:
    """Share of the pairs of annotated ``joints`` more than ``min_gap_m`` apart in true depth whose predicted
    depth order is the true one (a predicted tie is wrong).

    pred_depth, gt_depth: (16,) metres along the camera axis (any origin each); visible: (16,) 1 where the
    ground truth has the joint's depth. NaN when no pair is far enough apart.
    """
    p, g = np.asarray(pred_depth, np.float64), np.asarray(gt_depth, np.float64)
    idx = np.asarray(joints, dtype=np.intp)
    idx = idx[np.asarray(visible).astype(bool)[idx]]
    i, j = np.triu_indices(idx.size, k=1)
    a, b = idx[i], idx[j]
    gap = g[a] - g[b]
    ranked = np.abs(gap) > min_gap_m
    if not ranked.any():
        return float("nan")
    right = (p[a] - p[b]) * gap > 0
    return float(np.count_nonzero(right & ranked) / np.count_nonzero(ranked))
