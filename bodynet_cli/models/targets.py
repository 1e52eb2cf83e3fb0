"""Training targets from ground truth (``decode.py`` turns network outputs back into joints and labels).

Heatmap coordinates are continuous: pixel i covers [i, i+1), its centre is i + 0.5. Shapes: B batch,
J joints, D depth bins, P classes, H, W heatmap size, R voxel resolution, 7 voxel parts.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from bodynet_cli.body.conventions import DEPTH_BIN_M, DEPTH_BINS, NUM_VOXEL_PARTS, SEG_TO_VOXEL_PART


def joints_visible(joints_hm: torch.Tensor, size: int) -> torch.Tensor:
    """joints_hm: (B, J, 2) heatmap pixels -> (B, J) bool, True when finite and inside [0, size)²."""
    inside = (joints_hm >= 0) & (joints_hm < size)
    return inside.all(dim=-1)


def heatmaps_from_joints(joints_hm: torch.Tensor, size: int, sigma: float = 1.0):
    """2D Gaussian heatmaps, peak 1 at the joint, sampled at pixel centres.

    joints_hm: (B, J, 2) x, y in heatmap pixels. Returns (heatmaps (B, J, size, size), visible (B, J));
    joints outside the map (or NaN) get an all-zero heatmap.
    """
    visible = joints_visible(joints_hm, size)
    c = torch.arange(size, dtype=joints_hm.dtype, device=joints_hm.device) + 0.5
    j = torch.where(visible.unsqueeze(-1), joints_hm, torch.zeros_like(joints_hm))
    gx = torch.exp(-((c - j[..., :1]) ** 2) / (2 * sigma**2))  # (B, J, W)
    gy = torch.exp(-((c - j[..., 1:]) ** 2) / (2 * sigma**2))  # (B, J, H)
    hm = gy.unsqueeze(-1) * gx.unsqueeze(-2)
    return hm * visible[..., None, None].to(hm.dtype), visible


def depth_bin(depth_rel_m: torch.Tensor, bins: int = DEPTH_BINS) -> torch.Tensor:
    """Metric depth relative to the pelvis (B, J) -> bin index (B, J) int64: clamp(round(dz/0.045), ±9) + 9."""
    half = (bins - 1) // 2
    return torch.round(depth_rel_m / DEPTH_BIN_M).clamp(-half, half).long() + half


def volume_from_joints(joints_hm: torch.Tensor, depth_rel_m: torch.Tensor, size: int, bins: int = DEPTH_BINS,
                       sigma: float = 1.0) -> torch.Tensor:  # fmt: skip
    """3D Gaussian pose volumes: x, y at heatmap pixel centres, depth over the bin indices.

    joints_hm: (B, J, 2) heatmap pixels; depth_rel_m: (B, J) metres relative to the pelvis.
    Returns (B, J·D, size, size), channel j·D + d; joints outside the map get zeros.
    """
    hm, _ = heatmaps_from_joints(joints_hm, size, sigma)
    d = torch.arange(bins, dtype=hm.dtype, device=hm.device)
    gd = torch.exp(-((d - depth_bin(depth_rel_m, bins).unsqueeze(-1).to(hm.dtype)) ** 2) / (2 * sigma**2))
    vol = gd[..., None, None] * hm.unsqueeze(2)  # (B, J, D, H, W)
    return vol.flatten(1, 2)


def part_one_hot(labels: torch.Tensor) -> torch.Tensor:
    """labels: (B, *dims) int in 0..6 -> (B, 7, *dims) float one-hot."""
    return F.one_hot(labels.long(), NUM_VOXEL_PARTS).movedim(-1, 1).float()


def resize_labels(labels: torch.Tensor, size: int, num_classes: int) -> torch.Tensor:
    """labels: (B, H, W) int -> (B, size, size) int64, each output pixel the class covering most of its area."""
    one_hot = F.one_hot(labels.long(), num_classes).movedim(-1, 1).float()
    mode = "area" if size <= labels.shape[-1] else "nearest"
    return F.interpolate(one_hot, size=(size, size), mode=mode).argmax(dim=1)


def fv_targets_from_segmentation(segmentation: torch.Tensor, res: int, num_classes: int = 15):
    """Front-view re-projection targets from the 15-class ground-truth segmentation (B, H, W).

    Returns (fv (B, R, R) float silhouette ``[y, x]``, part_fv (B, 7, R, R) one-hot of the voxel parts).
    """
    lab = resize_labels(segmentation, res, num_classes)
    parts = torch.as_tensor(SEG_TO_VOXEL_PART, device=lab.device)[lab]
    return (lab != 0).float(), part_one_hot(parts)
