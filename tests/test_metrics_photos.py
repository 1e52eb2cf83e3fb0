"""bodynet_cli.metrics.photos against slow loop references (seeded, uneven sizes) and tiny hand-checked cases.

Pixel i covers [i, i+1); boxes are x0, y0, x1, y1; crops are x0, y0, side, size; grids are [z, y, x]."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bodynet_cli.body.conventions import JOINT_NAMES, PELVIS
from bodynet_cli.metrics.photos import (
    LIMB_JOINTS,
    box_coverage,
    depth_error_mm,
    front_view_on_photo,
    ordinal_depth,
    pck,
    person_found,
    photo_region,
    silhouette_iou,
)

# ---- slow references ----


def _coverage_loop(crop, box):
    """Integer crop and box: count the unit cells of the box that lie in the crop square."""
    x0, y0, side = (int(v) for v in crop[:3])
    inside = total = 0
    for y in range(int(box[1]), int(box[3])):
        for x in range(int(box[0]), int(box[2])):
            total += 1
            inside += x0 <= x < x0 + side and y0 <= y < y0 + side
    return inside / total


def _pck_loop(pred, gt, visible, box, thresh=0.1):
    long_side = max(box[2] - box[0], box[3] - box[1])
    hit = n = 0
    for j in range(16):
        if JOINT_NAMES[j] in ("pelvis", "thorax", "neck", "head") or not visible[j]:
            continue
        n += 1
        hit += math.hypot(pred[j][0] - gt[j][0], pred[j][1] - gt[j][1]) <= thresh * long_side
    return hit / n if n else math.nan


def _front_view_loop(voxels, crop, h, w):
    r = voxels.shape[0]
    out = np.zeros((h, w), bool)
    for v in range(h):
        for u in range(w):
            gx = math.floor((u + 0.5 - crop[0]) * r / crop[2])
            gy = math.floor((v + 0.5 - crop[1]) * r / crop[2])
            if 0 <= gx < r and 0 <= gy < r:
                out[v, u] = any(voxels[z, gy, gx] for z in range(r))
    return out


def _silhouette_loop(pred, mask, crop, box):
    inter = union = 0
    for v in range(mask.shape[0]):
        for u in range(mask.shape[1]):
            cu, cv = u + 0.5, v + 0.5
            in_crop = crop[0] <= cu < crop[0] + crop[2] and crop[1] <= cv < crop[1] + crop[2]
            in_box = box[0] <= cu < box[2] and box[1] <= cv < box[3]
            if in_crop or in_box:
                inter += pred[v, u] and mask[v, u]
                union += pred[v, u] or mask[v, u]
    return inter / union if union else math.nan


def _depth_loop(pred, gt, visible):
    errs = [abs((pred[j] - pred[PELVIS]) - (gt[j] - gt[PELVIS])) for j in LIMB_JOINTS if visible[j]]
    return 1000 * sum(errs) / len(errs) if errs and visible[PELVIS] else math.nan


def _ordinal_loop(pred, gt, visible, gap=0.1):
    right = n = 0
    joints = [j for j in LIMB_JOINTS if visible[j]]
    for a in range(len(joints)):
        for b in range(a + 1, len(joints)):
            i, j = joints[a], joints[b]
            if abs(gt[i] - gt[j]) > gap:
                n += 1
                right += (pred[i] < pred[j]) == (gt[i] < gt[j]) and pred[i] != pred[j]
    return right / n if n else math.nan


# ---- against the references ----


def test_limb_joints_are_the_twelve_limbs():
    assert sorted(LIMB_JOINTS) == [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]


def test_coverage_and_found_match_the_loop(rng):
    for _ in range(200):
        box = np.sort(rng.integers(0, 40, 2)), np.sort(rng.integers(0, 40, 2))
        box = np.array([box[0][0], box[1][0], box[0][1] + 1, box[1][1] + 1], float)
        crop = np.array([*rng.integers(-10, 40, 2), rng.integers(1, 60), 64], float)
        ref = _coverage_loop(crop, box)
        assert box_coverage(crop, box) == pytest.approx(ref, abs=1e-12)
        long_side = max(box[2] - box[0], box[3] - box[1])
        assert person_found(crop, box) == (ref >= 0.5 and crop[2] ** 2 <= 4 * long_side**2)


def test_pck_matches_the_loop(rng):
    for _ in range(100):
        gt = rng.uniform(0, 300, (16, 2))
        pred = gt + rng.normal(0, rng.uniform(1, 40), (16, 2))
        visible = rng.random(16) < 0.8
        box = np.array([*gt.min(0), *gt.max(0)])
        assert pck(pred, gt, visible, box) == pytest.approx(_pck_loop(pred, gt, visible, box), nan_ok=True)


def test_front_view_and_silhouette_match_the_loops(rng):
    for r, (h, w) in ((4, (13, 17)), (5, (20, 9)), (8, (11, 30))):
        voxels = rng.random((r, r, r)) < 0.08
        crop = np.array([rng.uniform(-5, w - 3), rng.uniform(-5, h - 3), rng.uniform(3, 15), 64])
        fv = front_view_on_photo(voxels, crop, (h, w))
        np.testing.assert_array_equal(fv, _front_view_loop(voxels, crop, h, w))
        mask = rng.random((h, w)) < 0.3
        box = np.array([rng.uniform(0, w / 2), rng.uniform(0, h / 2), rng.uniform(w / 2, w), rng.uniform(h / 2, h)])
        assert silhouette_iou(fv, mask, crop, box) == pytest.approx(_silhouette_loop(fv, mask, crop, box))


def test_depth_and_ordinal_match_the_loops(rng):
    for _ in range(100):
        gt = 4.0 + rng.normal(0, 0.25, 16)
        pred = rng.normal(0, 0.25, 16)
        visible = rng.random(16) < 0.85
        assert depth_error_mm(pred, gt, visible) == pytest.approx(_depth_loop(pred, gt, visible), nan_ok=True)
        assert ordinal_depth(pred, gt, visible) == pytest.approx(_ordinal_loop(pred, gt, visible), nan_ok=True)


# ---- hand-checked ----


def test_found_by_hand():
    box = (0, 0, 10, 10)  # square around it: 10 x 10, so the crop side may be at most 20
    assert person_found((0, 0, 20, 64), box) and not person_found((0, 0, 20.5, 64), box)
    assert person_found((5, 0, 10, 64), box)  # covers exactly half the box
    assert not person_found((5.5, 0, 10, 64), box)  # 45 %
    assert box_coverage((-3, 2, 8, 64), (0, 0, 10, 10)) == pytest.approx(5 * 8 / 100)


def test_pck_by_hand():
    gt = np.zeros((16, 2))
    pred = gt.copy()
    box = (0, 0, 40, 100)  # longer side 100: threshold 10 px
    pred[0] = (6, 8)  # 10 px: correct
    pred[1] = (10.01, 0)  # wrong
    pred[PELVIS] = (500, 500)  # not a limb joint: ignored
    assert pck(pred, gt, np.ones(16), box) == pytest.approx(11 / 12)
    visible = np.zeros(16)
    visible[[0, 1]] = 1
    assert pck(pred, gt, visible, box) == 0.5
    assert math.isnan(pck(pred, gt, np.zeros(16), box))


def test_silhouette_by_hand():
    voxels = np.zeros((2, 2, 2), bool)
    voxels[1, 0, 1] = True  # z = 1, y = 0, x = 1: the crop's top-right quarter
    fv = front_view_on_photo(voxels, (2, 2, 4, 64), (8, 8))  # the crop covers photo pixels 2..5
    want = np.zeros((8, 8), bool)
    want[2:4, 4:6] = True
    np.testing.assert_array_equal(fv, want)
    mask = np.zeros((8, 8), bool)
    mask[2:4, 5:7] = True  # overlaps 2 pixels; pixels (2..3, 6) lie outside the crop ...
    assert silhouette_iou(fv, mask, (2, 2, 4, 64), (2, 2, 6, 6)) == pytest.approx(2 / 4)  # ... and the box
    assert silhouette_iou(fv, mask, (2, 2, 4, 64), (2, 2, 7, 6)) == pytest.approx(2 / 6)  # ... not this box
    assert photo_region((2, 2, 4, 64), (0, 0, 1, 1), (8, 8)).sum() == 16 + 1


def test_depth_by_hand():
    gt = np.full(16, 5.0)
    pred = np.zeros(16)
    gt[0], pred[0] = 5.3, 0.1  # 0.3 m behind the pelvis, predicted 0.1: 200 mm
    gt[1], pred[1] = 4.9, -0.1  # right: 0 mm
    visible = np.zeros(16)
    visible[[0, 1, PELVIS]] = 1
    assert depth_error_mm(pred, gt, visible) == pytest.approx(100.0)
    assert depth_error_mm(pred + 7.0, gt, visible) == pytest.approx(100.0)  # any origin
    visible[PELVIS] = 0
    assert math.isnan(depth_error_mm(pred, gt, visible))


def test_ordinal_by_hand():
    gt = np.zeros(16)
    pred = np.zeros(16)
    gt[[0, 1, 2]] = 0.0, 0.5, 0.55  # pairs (0,1) and (0,2) are ranked; (1,2) is 5 cm apart: not ranked
    pred[[0, 1, 2]] = 0.2, 0.3, 0.1  # (0,1) right, (0,2) wrong
    visible = np.zeros(16)
    visible[[0, 1, 2]] = 1
    assert ordinal_depth(pred, gt, visible) == 0.5
    pred[1] = 0.2  # a tie is wrong
    assert ordinal_depth(pred, gt, visible) == 0.0
    visible[[0]] = 0
    assert math.isnan(ordinal_depth(pred, gt, visible))
