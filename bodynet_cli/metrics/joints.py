"""Joint metrics: 2D PCKh and the pelvis-aligned 3D joint error (MPJPE), batched.

Joints are the 16 BodyNet joints in MPII order (``bodynet_cli.body.conventions``). Every function
takes numpy arrays or torch tensors and returns the same kind.

Head size for PCKh: MPII's "head segment" is 0.6 x the diagonal of an annotated head box, about
the distance from the upper neck to the top of the head; a ground truth with a ``head_box`` (MPII)
uses it (``head_box_size``). Other files have no head box and joint 9
(``head``, SMPL's head joint) sits near the middle of the head, not at its top, so the head size
here is ||head - neck|| (joints 9 and 8) of the ground truth, as BodyNet's SURREAL evaluation
takes it. It is shorter than MPII's segment (roughly half), so PCKh@0.5 here is stricter than
MPII's PCKh@0.5.
"""

from __future__ import annotations

import numpy as np

from bodynet_cli.body.conventions import HEAD, NECK, PELVIS
from bodynet_cli.metrics.arrays import is_torch, norm_last, safe_div


def head_size(gt2d):
    """Ground-truth head size ||head - neck|| in pixels: gt2d (B, J, 2) -> (B,)."""
    return norm_last(gt2d[:, HEAD] - gt2d[:, NECK])


def head_box_size(head_box):
    """MPII's head segment: 0.6 x the diagonal of the head box. head_box: (B, 4) x0, y0, x1, y1 -> (B,)."""
    return 0.6 * norm_last(head_box[:, 2:] - head_box[:, :2])


def pckh_correct(pred2d, gt2d, thresh: float = 0.5, head=None):
    """Whether each joint is within ``thresh`` x head size of the ground truth.

    pred2d, gt2d: (B, J, 2) pixels; head: (B,) head sizes (default ``head_size(gt2d)``). Returns bool
    (B, J) (``distance <= thresh * head``); all False for a sample whose head size is 0.
    """
    if pred2d.shape != gt2d.shape:
        raise ValueError(f"pred2d and gt2d shapes differ: {tuple(pred2d.shape)} vs {tuple(gt2d.shape)}")
    dist = norm_last(pred2d - gt2d)
    h = (head_size(gt2d) if head is None else head)[:, None]
    return (dist <= thresh * h) & (h > 0)


def pckh(pred2d, gt2d, thresh: float = 0.5, visible=None):
    """PCKh: the fraction of (visible) joints within ``thresh`` x the ground-truth head size.

    pred2d, gt2d: (B, J, 2) pixels; visible: optional bool (B, J), joints to count.
    Returns float64 (B,); NaN where the head size is 0 or no joint is visible.
    """
    correct = pckh_correct(pred2d, gt2d, thresh)
    if visible is None:
        visible = correct.new_ones(correct.shape) if is_torch(correct) else np.ones_like(correct)
    hit = (correct & visible).sum(-1)
    n = visible.sum(-1)
    h_ok = head_size(gt2d) > 0
    return safe_div(hit, n * h_ok)


def joint3d_distances_mm(pred, gt):
    """Per-joint error after aligning the pelvises (joint 6): pred, gt (B, J, 3) metres -> (B, J) mm."""
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    return 1000.0 * norm_last((pred - pred[:, PELVIS : PELVIS + 1]) - (gt - gt[:, PELVIS : PELVIS + 1]))


def joint3d_error_mm(pred, gt):
    """Mean per-joint position error (mm), pelvis-aligned: pred, gt (B, J, 3) metres -> (B,).

    The mean is over all J joints, the pelvis included (its error is 0 after alignment), as in
    BodyNet's evaluation code. Differentiable in torch.
    """
    return joint3d_distances_mm(pred, gt).mean(-1)
