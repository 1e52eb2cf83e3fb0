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
from bodynet_cli.metrics.iou import class_iou, confusion_matrix, voxel_iou
from bodynet_cli.models.checkpoint import load_checkpoint
from bodynet_cli.models.decode import decode_volume


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
    thresholds = (0.2, 0.3, 0.4, 0.5)
    rows: dict[str, list] = {k: [] for k in ("iou3d", "fv", "sv", "seg_silhouette", "occupancy_ratio",
                                              "depth_error_mm", "depth_error_mm_if_zero")}
    at_threshold: dict[float, list] = {t: [] for t in thresholds}
    classes, h = ck.config.num_seg, ck.config.heatmap_size
    conf = np.zeros((1, classes, classes), dtype=np.int64)  # pooled over the samples
    with torch.no_grad():
        for start in range(0, n, args.batch):
            b = collate([ds[i] for i in range(start, min(start + args.batch, n))])
            out = model(b.rgb.float() / 255.0, b.proxies())  # a proxy config: default corruption, seed 0
            prob = torch.sigmoid(out.voxel_logits[:, -1]).numpy()
            gt = b.voxels.numpy()
            pred = prob > 0.5
            rows["iou3d"] += list(voxel_iou(pred, gt))
            rows["fv"] += list(voxel_iou(pred.any(1), gt.any(1)))
            rows["sv"] += list(voxel_iou(pred.any(3), gt.any(3)))
            rows["occupancy_ratio"] += list(pred.sum((1, 2, 3)) / np.maximum(gt.sum((1, 2, 3)), 1))
            for t in thresholds:
                at_threshold[t] += list(voxel_iou(prob > t, gt))
            # The segmentation's silhouette, on the voxel grid's (x, y) raster.
            res = gt.shape[-1]
            seg = out.segm_logits[:, -1].argmax(1)
            seg_vox = F.interpolate(seg[:, None].float(), size=(res, res), mode="nearest")[:, 0].numpy() > 0
            true = F.adaptive_avg_pool2d((b.segmentation > 0).float()[:, None], res)[:, 0].numpy() > 0.5
            rows["seg_silhouette"] += list(voxel_iou(seg_vox, true))
            labels = F.interpolate(b.segmentation[:, None].float(), size=(h, h), mode="nearest")[:, 0].long()
            conf += confusion_matrix(seg.numpy(), labels.numpy(), classes).sum(0, keepdims=True)
            _, depth = decode_volume(out.volumes[:, -1], ck.config.depth_bins)
            rows["depth_error_mm"] += list(1000 * (depth - b.depth_m).abs().mean(1).numpy())
            rows["depth_error_mm_if_zero"] += list(1000 * b.depth_m.abs().mean(1).numpy())
    print(f"{args.checkpoint}: {n} {args.split} samples, {ck.config.voxel_res}³ voxels")
    for k, v in rows.items():
        print(f"  {k:18s} {np.nanmean(v):.3f}")
    merged_index = np.minimum(np.arange(classes), SEG_FLIP)  # each class -> the smaller of it and its mirror
    merged = np.zeros_like(conf)
    np.add.at(merged, (0, merged_index[:, None], merged_index[None, :]), conf[0])
    keep = np.unique(merged_index)
    miou = np.nanmean(class_iou(conf)[0, 1:])
    miou_merged = np.nanmean(class_iou(merged[:, keep][:, :, keep])[0, 1:])
    print(f"  segmentation_miou  {miou:.3f} (left/right merged: {miou_merged:.3f})")
    print("  iou3d at threshold " + ", ".join(f"{t:.1f}: {np.nanmean(v):.3f}" for t, v in at_threshold.items()))


if __name__ == "__main__":
    main()
