"""Overlap metrics: voxel IoU (bool or bit-packed grids), part-voxel IoU, segmentation mean IoU.

Every function is batched over B and works on numpy arrays; those that say so also take torch
tensors (and return tensors). Grids are ``[z, y, x]`` but IoU does not care about axis order.

Undefined values: a class (or a whole grid) that is empty in both prediction and ground truth
has no IoU. It is NaN, and it is left out of the mean over classes of that sample; a sample
where every class is absent from both is NaN and the report's aggregates leave it out (and
count only the rest in ``n``). This follows the usual semantic-segmentation convention rather
than the paper's code, which counted absent classes as 0.
"""

from __future__ import annotations

import numpy as np

from bodynet_cli.body.conventions import NUM_SEG, NUM_VOXEL_PARTS
from bodynet_cli.metrics.arrays import is_torch, nanmean_last, safe_div

# popcount of every byte value, for numpy without ``bitwise_count`` (numpy < 2.0)
_POPCOUNT8 = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.int64)


def voxel_iou(pred, gt):
    """Occupancy IoU |P ∩ G| / |P ∪ G| per sample.

    pred, gt: bool (B, R, R, R) (any trailing shape), numpy or torch.
    Returns float64 (B,) (a tensor for tensors); NaN where both grids are empty.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    if pred.dtype != gt.dtype or str(pred.dtype).split(".")[-1] != "bool":
        raise TypeError(f"voxel_iou takes bool grids (threshold first), got {pred.dtype} and {gt.dtype}")
    b = pred.shape[0]
    p, g = pred.reshape(b, -1), gt.reshape(b, -1)
    if is_torch(p):
        inter = (p & g).sum(1)
        union = p.sum(1) + g.sum(1) - inter
    else:
        inter = np.count_nonzero(p & g, axis=1)
        union = np.count_nonzero(p, axis=1) + np.count_nonzero(g, axis=1) - inter
    return safe_div(inter, union)


def popcount_rows(packed: np.ndarray) -> np.ndarray:
    """Number of set bits in each row: packed uint8 (B, N) -> int64 (B,)."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    if hasattr(np, "bitwise_count"):
        n = packed.shape[1]
        if n % 8 == 0:  # eight bytes at a time: one popcount instruction per word
            return np.bitwise_count(packed.view(np.uint64)).sum(1, dtype=np.int64)
        return np.bitwise_count(packed).sum(1, dtype=np.int64)
    return _POPCOUNT8[packed].sum(1)


def voxel_iou_packed(pred_packed: np.ndarray, gt_packed: np.ndarray) -> np.ndarray:
    """Occupancy IoU of bit-packed grids, without unpacking.

    pred_packed, gt_packed: uint8 (B, N), ``numpy.packbits`` of the C-order grids (the ``voxels``
    key of a sample file; the padding bits of the last byte are 0, so they never count).
    Returns float64 (B,); NaN where both grids are empty. Numpy only.
    """
    p, g = np.asarray(pred_packed), np.asarray(gt_packed)
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"packed grids must both be (B, N); got {p.shape} and {g.shape}")
    inter = popcount_rows(p & g)
    union = popcount_rows(p | g)
    return safe_div(inter, union)


def confusion_matrix(pred, gt, num_classes: int):
    """Per-sample confusion counts ``C[b, i, j]`` = #elements with gt class i and predicted class j.

    pred, gt: integer labels (B, ...) of equal shape in [0, P), numpy or torch.
    Returns int64 (B, P, P) with P = ``num_classes``.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    b, k = pred.shape[0], num_classes
    if is_torch(pred):
        import torch

        out = torch.zeros((b, k, k), dtype=torch.int64, device=pred.device)
        for i in range(b):  # one sample at a time keeps the int64 index small at 128³
            idx = gt[i].reshape(-1).long() * k + pred[i].reshape(-1).long()
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= k * k):
                raise ValueError(f"labels must lie in [0, {k})")
            out[i] = torch.bincount(idx, minlength=k * k).reshape(k, k)
        return out
    out = np.zeros((b, k, k), dtype=np.int64)
    for i in range(b):
        pi, gi = np.asarray(pred[i]).ravel(), np.asarray(gt[i]).ravel()
        if pi.size and (pi.min() < 0 or gi.min() < 0 or pi.max() >= k or gi.max() >= k):
            raise ValueError(f"labels must lie in [0, {k})")
        out[i] = np.bincount(gi.astype(np.intp) * k + pi, minlength=k * k).reshape(k, k)
    return out


def class_iou(confusion):
    """IoU of every class from confusion counts (B, P, P) -> float64 (B, P); NaN where a class is
    absent from both prediction and ground truth."""
    if is_torch(confusion):
        import torch

        inter = torch.diagonal(confusion, dim1=1, dim2=2)
    else:
        inter = np.diagonal(confusion, axis1=1, axis2=2)
    union = confusion.sum(1) + confusion.sum(2) - inter
    return safe_div(inter, union)


def part_voxel_iou(pred, gt, num_parts: int = NUM_VOXEL_PARTS):
    """Mean IoU over the body parts (classes 1..P-1; background excluded) of part-voxel grids.

    pred, gt: integer labels (B, R, R, R) in [0, P), numpy or torch. P = 7 (docs/formats.md, voxel parts).
    Returns float64 (B,). A part absent from both grids of a sample is left out of that sample's
    mean; NaN when no part is present in either.
    """
    return nanmean_last(class_iou(confusion_matrix(pred, gt, num_parts))[:, 1:])


def segmentation_miou(pred, gt, num_classes: int = NUM_SEG):
    """Mean IoU over the 14 body parts (classes 1..14; background excluded) of part segmentations.

    pred, gt: integer labels (B, H, W) in [0, 15), numpy or torch. Returns float64 (B,).
    A part absent from both maps of a sample is left out of that sample's mean; NaN when no part
    is present in either.
    """
    return nanmean_last(class_iou(confusion_matrix(pred, gt, num_classes))[:, 1:])
