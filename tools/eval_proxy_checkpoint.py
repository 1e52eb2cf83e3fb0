"""Score a proxy-input checkpoint (config ``proxy``/``proxy128``) on a split of a `bodynet synth` dataset.

    python tools/eval_proxy_checkpoint.py CKPT DATA OUT [--split test|all] [--fit N] [--seed 32343]
                                          [--batch-size 8] [--corruption JSON] [--threads 2]

`tools/eval_checkpoint.sh` cannot score such a model: `bodynet predict` has no proxies for synth crops. This
tool makes them from the ground truth the way training does (``data.proxies.make_proxies``), with a fixed
"test-time" draw: the default corruption settings (or ``--corruption``, a JSON object of ``ProxyCorruption``
fields), seeded by ``--seed`` instead of a training stage's seed. It runs ``Predictor.predict`` with those
proxies on the split's crop images (``--split all``: every sample, for a set made with a seed never used in
training). Each prediction is written in the ground truth's frame, as if `bodynet predict` had been given
the label's crop and camera (the paper's known-camera setting): OUT/pred/<name>.npz in the sample schema
(docs/formats.md) with the label's ``crop`` and ``camera``. The labels are linked as OUT/gt/<name>.npz.
``--fit N`` runs ``bodynet fit-smpl`` on N predictions spread evenly over the split (OUT/fits), so
``bodynet eval`` also scores the fitted bodies' surface error in camera metres (the ground-truth mesh
rebuilt from the label's body parameters). Then ``bodynet eval OUT/pred --gt OUT/gt --out OUT/report
[--fits OUT/fits]`` (voxel IoU, segmentation mIoU, PCKh of the proxy joints, 3D joint error, surface
error). It also writes OUT/report/proxy_eval.json with the side-view silhouette IoU (max over x of both
grids; mean and per sample) and the settings. Exit code: that of `bodynet eval` (3 when any pair had an error).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TEST_SEED = 0x7E57  # not a training stage's seed: train.loop.stage_seed draws from crc32 of the stage name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--split", default="test", help="train, val, test or all")
    ap.add_argument("--fit", type=int, default=0, metavar="N", help="fit the body model to N predictions")
    ap.add_argument("--seed", type=int, default=TEST_SEED)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--corruption", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from bodynet_cli.data.dataset import SynthDataset, collate
    from bodynet_cli.data.proxies import ProxyCorruption
    from bodynet_cli.errors import BodyNetError
    from bodynet_cli.geometry.space import Crop, side_view
    from bodynet_cli.io.sample import Sample, load_sample, save_sample
    from bodynet_cli.models.checkpoint import load_checkpoint
    from bodynet_cli.pipelines.predict.infer import CropProxies, Predictor

    torch.set_num_threads(args.threads)
    ck = load_checkpoint(args.checkpoint)
    cfg = ck.config
    if not cfg.uses_proxies:
        raise BodyNetError(f"{args.checkpoint}: config {cfg.name!r} reads no proxies; score it with "
                           "tools/eval_checkpoint.sh")  # fmt: skip
    corruption = ProxyCorruption()
    if args.corruption is not None:
        corruption = ProxyCorruption.from_dict({**corruption.to_dict(), **json.loads(args.corruption.read_text())})
    ds = SynthDataset(args.data, args.split, cfg, seed=args.seed, proxies=corruption)
    if len(ds) == 0:
        raise BodyNetError(f"{args.data}: split {args.split!r} is empty")
    for sub in ("pred", "gt", "report", "fits", "fit_inputs"):
        shutil.rmtree(args.out / sub, ignore_errors=True)  # predictions of another checkpoint must not be scored
    predictor = Predictor(ck.model, torch.device("cpu"), precision="fp32")
    size = cfg.input_size
    meta = {"tool": "tools/eval_proxy_checkpoint.py", "checkpoint": str(args.checkpoint),
            "checkpoint_sha256": ck.sha256, "config": cfg.name, "config_hash": cfg.hash(), "proxy_seed": args.seed,
            "proxy_corruption": corruption.to_dict(), "voxel_threshold": 0.5}  # fmt: skip
    side_ious: dict[str, float] = {}
    for start in range(0, len(ds), args.batch_size):
        idx = list(range(start, min(len(ds), start + args.batch_size)))
        batch = collate([ds[i] for i in idx])
        pixels = batch.rgb.permute(0, 2, 3, 1).numpy()
        # The images are the labels' crops resized to the input size: with each label's crop and camera the
        # prediction lands in the label's frame, as `bodynet predict --boxes` with a known camera would put it.
        labels = [load_sample(args.data / "labels" / f"{ds.names[i]}.npz", ("crop", "camera")) for i in idx]
        crops = [Crop.from_array(g.crop) for g in labels]
        joints = np.stack([c.crop_to_image(j.astype(np.float64), size=size)
                           for c, j in zip(crops, batch.proxy_joints.numpy(), strict=True)])  # fmt: skip
        proxies = CropProxies(joints, batch.proxy_scores.numpy(), batch.proxy_mask.numpy())
        for i, g, pred in zip(idx, labels, predictor.predict(pixels, crops, proxies), strict=True):
            name = ds.names[i]
            occupied = pred.voxel_probs > 0.5
            save_sample(args.out / "pred" / f"{name}.npz", Sample(
                voxels=occupied, part_voxels=pred.part_voxels, joints2d=pred.joints2d,
                joints2d_score=pred.joints2d_score, joints3d=pred.joints3d, segmentation=pred.segmentation,
                crop=pred.crop.to_array(), camera=g.camera, meta=meta))  # fmt: skip
            gt = (args.out / "gt" / f"{name}.npz")
            gt.parent.mkdir(parents=True, exist_ok=True)
            os.symlink((args.data / "labels" / f"{name}.npz").resolve(), gt)
            truth = batch.voxels[i - start].numpy()
            ps, gs = side_view(torch.from_numpy(occupied)).numpy(), side_view(torch.from_numpy(truth)).numpy()
            union = (ps | gs).sum()
            side_ious[name] = float((ps & gs).sum() / union) if union else float("nan")
    print(f"{len(ds)} {args.split} samples predicted with proxies (seed {args.seed})", flush=True)
    evaluate = [sys.executable, "-m", "bodynet_cli", "eval", str(args.out / "pred"), "--gt", str(args.out / "gt"),
                "--out", str(args.out / "report")]  # fmt: skip
    fitted = []
    if args.fit > 0:
        # Every k-th prediction, so the fitted subset spreads over the whole split.
        fitted = [ds.names[int(k)] for k in np.unique(np.linspace(0, len(ds) - 1, min(args.fit, len(ds))).round())]
        for name in fitted:
            link = args.out / "fit_inputs" / f"{name}.npz"
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink((args.out / "pred" / f"{name}.npz").resolve(), link)
        subprocess.run([sys.executable, "-m", "bodynet_cli", "fit-smpl", str(args.out / "fit_inputs"), "--out",
                        str(args.out / "fits"), "--threads", str(args.threads)], check=False)  # fmt: skip
        evaluate += ["--fits", str(args.out / "fits")]
    done = subprocess.run(evaluate)
    report = {"samples": len(ds), "split": args.split, "side_view_iou": float(np.nanmean(list(side_ious.values()))),
              "fitted": len(fitted), **meta, "side_view_ious": side_ious}  # fmt: skip
    (args.out / "report").mkdir(parents=True, exist_ok=True)
    (args.out / "report" / "proxy_eval.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"side-view IoU {report['side_view_iou']:.4f}; wrote {args.out / 'report' / 'proxy_eval.json'}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
