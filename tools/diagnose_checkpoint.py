"""Where a checkpoint's errors come from: silhouette (front view), side view, depth, left/right.

    python tools/diagnose_checkpoint.py CHECKPOINT [--data data/synth_small] [--split val] [--n 256]

Runs the network on a synth split (no augmentation) and prints, as means over the samples: the 3D voxel
IoU at the 0.5 threshold; the IoU of the grid's front view (max over depth) and side view (max over x)
against the ground truth's; the IoU of the predicted segmentation's silhouette against the true one (the
limit the voxel net's own silhouette could reach from its inputs); the predicted occupancy as a fraction
of the true one; the 3D IoU at other thresholds (calibration); and the 3D-pose net's joint depth error
against that of always answering the pelvis depth (the depth information the voxel net receives); and
the segmentation mIoU (at heatmap size) with and without each left/right class merged with its mirror
(how much of the segmentation error is left/right confusion).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.nn import functional as F

from bodynet_cli.body.conventions import SEG_FLIP
from bodynet_cli.data.dataset import SynthDataset, collate
from bodynet_cli.models.checkpoint import load_checkpoint
from bodynet_cli.models.targets import decode_volume


def _iou(a: np.ndarray, b: np.ndarray, axes) -> np.ndarray:
    return (a & b).sum(axes) / np.maximum((a | b).sum(axes), 1)


def _miou(conf: np.ndarray) -> float:
    """Mean IoU over the body classes (not background, class 0) of a confusion matrix [true, predicted]."""
    tp = np.diag(conf)
    return float((tp / np.maximum(conf.sum(0) + conf.sum(1) - tp, 1))[1:].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="data/synth_small")
    ap.add_argument("--split", default="val")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    ck = load_checkpoint(args.checkpoint)
    model = ck.model.eval()
    ds = SynthDataset(args.data, args.split, ck.config)
    n = min(args.n, len(ds))
    thresholds = np.array([0.2, 0.3, 0.4, 0.5])
    rows: dict[str, list] = {k: [] for k in ("iou3d", "fv", "sv", "seg_silhouette", "occupancy_ratio",
                                              "depth_error_mm", "depth_error_mm_if_zero")}
    at_threshold = []
    classes = ck.config.num_seg
    conf = np.zeros((classes, classes), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, n, args.batch):
            b = collate([ds[i] for i in range(start, min(start + args.batch, n))])
            out = model(b.rgb.float() / 255.0)
            prob = torch.sigmoid(out.voxel_logits[:, -1]).numpy()
            gt = b.voxels.numpy()
            pred = prob > 0.5
            rows["iou3d"] += list(_iou(pred, gt, (1, 2, 3)))
            rows["fv"] += list(_iou(pred.any(1), gt.any(1), (1, 2)))
            rows["sv"] += list(_iou(pred.any(3), gt.any(3), (1, 2)))
            rows["occupancy_ratio"] += list(pred.sum((1, 2, 3)) / np.maximum(gt.sum((1, 2, 3)), 1))
            at_threshold += [[_iou(p > t, g, (0, 1, 2)) for t in thresholds] for p, g in zip(prob, gt, strict=True)]
            # The segmentation's silhouette, on the voxel grid's (x, y) raster.
            res = gt.shape[-1]
            seg = out.segm_logits[:, -1].argmax(1, keepdim=True).float()
            seg = F.interpolate(seg, size=(res, res), mode="nearest")[:, 0].numpy() > 0
            true = F.adaptive_avg_pool2d((b.segmentation > 0).float()[:, None], res)[:, 0].numpy() > 0.5
            rows["seg_silhouette"] += list(_iou(seg, true, (1, 2)))
            h = ck.config.heatmap_size
            labels = F.interpolate(b.segmentation[:, None].float(), size=(h, h), mode="nearest")[:, 0].long()
            np.add.at(conf, (labels.numpy().ravel(), out.segm_logits[:, -1].argmax(1).numpy().ravel()), 1)
            _, depth = decode_volume(out.volumes[:, -1], ck.config.depth_bins)
            rows["depth_error_mm"] += list(1000 * (depth - b.depth_m).abs().mean(1).numpy())
            rows["depth_error_mm_if_zero"] += list(1000 * b.depth_m.abs().mean(1).numpy())
    print(f"{args.checkpoint}: {n} {args.split} samples, {ck.config.voxel_res}³ voxels")
    for k, v in rows.items():
        print(f"  {k:18s} {np.mean(v):.3f}")
    merged_index = np.minimum(np.arange(classes), SEG_FLIP)  # each class -> the smaller of it and its mirror
    merged = np.zeros_like(conf)
    np.add.at(merged, (merged_index[:, None], merged_index[None, :]), conf)
    keep = np.unique(merged_index)
    print(f"  segmentation_miou  {_miou(conf):.3f} (left/right merged: {_miou(merged[np.ix_(keep, keep)]):.3f})")
    best = np.mean(at_threshold, axis=0)
    print("  iou3d at threshold " + ", ".join(f"{t:.1f}: {v:.3f}" for t, v in zip(thresholds, best, strict=True)))


if __name__ == "__main__":
    main()
