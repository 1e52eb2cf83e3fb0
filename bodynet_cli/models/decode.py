"""Network outputs back to joints and labels: the inverse of the training targets of ``targets.py``.

Heatmap coordinates are continuous: pixel i covers [i, i+1), its centre is i + 0.5. Shapes: B batch,
J joints, D depth bins, P classes, H, W heatmap size, R voxel resolution, 7 voxel parts.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from bodynet_cli.body.conventions import DEPTH_BIN_M, DEPTH_BINS


def _peak(values: torch.Tensor, eps: float = 1e-8):
    """Sub-sample peak of maps (B, J, *dims): argmax, refined per axis by the vertex of a parabola through
    the log-values of the peak and its two neighbours (exact for a Gaussian; no shift at borders or
    where the log-values are not concave). Returns (index + offset (B, J, n) in dims order, peak (B, J))."""
    dims = values.shape[2:]
    flat = values.flatten(2)
    peak, idx = flat.max(dim=-1)
    logv = flat.clamp_min(eps).log()
    centre = logv.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
    strides = [int(np.prod(dims[k + 1 :])) for k in range(len(dims))]
    out = []
    for n, stride in zip(dims, strides, strict=True):
        i = (idx // stride) % n
        lo = logv.gather(-1, (idx - stride * (i > 0)).unsqueeze(-1)).squeeze(-1)
        hi = logv.gather(-1, (idx + stride * (i < n - 1)).unsqueeze(-1)).squeeze(-1)
        curv = lo - 2 * centre + hi
        ok = (i > 0) & (i < n - 1) & (curv < 0)
        off = torch.where(ok, 0.5 * (lo - hi) / torch.where(ok, curv, -torch.ones_like(curv)), torch.zeros_like(curv))
        out.append(i.to(values.dtype) + off.clamp(-0.5, 0.5))
    return torch.stack(out, dim=-1), peak


def decode_heatmaps(heatmaps: torch.Tensor):
    """heatmaps: (B, J, H, W) -> (joints_hm (B, J, 2) sub-pixel x, y in heatmap pixels, score (B, J) = peak value)."""
    yx, score = _peak(heatmaps)
    return yx.flip(-1) + 0.5, score


def decode_volume(volumes: torch.Tensor, bins: int = DEPTH_BINS):
    """volumes: (B, J·D, H, W) -> (joints_hm (B, J, 2) x, y in heatmap pixels, depth_m (B, J) relative to the
    pelvis); the depth is the sub-bin peak times 0.045 m."""
    b, jd, h, w = volumes.shape
    dyx, _ = _peak(volumes.reshape(b, jd // bins, bins, h, w))
    return dyx[..., 1:].flip(-1) + 0.5, (dyx[..., 0] - (bins - 1) / 2) * DEPTH_BIN_M


def decode_segmentation(logits: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """logits: (B, P, H, W) -> labels (B, size, size) uint8; logits are bilinearly resized first when
    ``size`` is given (e.g. to the crop's input size)."""
    if size is not None and size != logits.shape[-1]:
        logits = F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=False)
    return logits.argmax(dim=1).to(torch.uint8)


def part_voxel_labels(logits: torch.Tensor) -> torch.Tensor:
    """logits: (B, 7, R, R, R) -> labels (B, R, R, R) uint8 (argmax)."""
    return logits.argmax(dim=1).to(torch.uint8)
