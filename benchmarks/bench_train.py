"""Training throughput of every stage: the real loop (data loading + step) against compute alone.

    python benchmarks/bench_train.py [DATA_DIR] [--config small] [--batch-size 8] [--steps 10] [--workers 2]
                                     [--threads 2] [--stages all]

DATA_DIR is a `bodynet synth` folder of the same config (default: a fresh 160-sample one in a temporary folder,
made with `bodynet synth`). For each stage it runs `train_stage` for 2×steps steps (the reported rate is the
loop's own measurement over the last `steps` steps, data loading included, validation and checkpoints not),
then, as the peer in the same process, `steps` training steps on one batch kept in memory (compute alone), and
the data pipeline alone (DataLoader with augmentation, no model). Prints one table; ratios compare with the peer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path)
    ap.add_argument("--config", default="small")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stages", default="2d,3d,voxels,voxels_proj,end2end,part_voxels")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from bodynet_cli.data.dataset import AugmentSettings, SynthDataset, collate
    from bodynet_cli.distributed import DistContext
    from bodynet_cli.models.bodynet import BodyNet
    from bodynet_cli.models.config import get_config
    from bodynet_cli.models.stages import parse_stages
    from bodynet_cli.pipelines.train.loop import (
        TrainOptions,
        _stage_config,
        forward_losses,
        make_optimizer,
        train_stage,
    )
    from bodynet_cli.pipelines.train.sampler import StepBatchSampler

    cfg = get_config(args.config)
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    data = args.data
    if data is None:
        data = tmp / "data"
        subprocess.run([sys.executable, "-m", "bodynet_cli", "synth", "--n", "160", "--out", str(data), "--config",
                        args.config, "--workers", str(max(1, args.threads))], check=True)  # fmt: skip
    load = os.getloadavg()[0]
    print(f"config {cfg.name}, batch {args.batch_size}, torch threads {args.threads}, workers {args.workers}, "
          f"load average before {load:.2f}, torch {torch.__version__}")

    # data pipeline alone
    ds = SynthDataset(data, "train", cfg, augment=AugmentSettings())
    n = args.steps * 4
    sampler = StepBatchSampler(len(ds), args.batch_size, 0, 0, n)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=args.workers)
    it = iter(loader)
    next(it)
    t = time.perf_counter()
    for _ in it:
        pass
    data_rate = (n - 1) * args.batch_size / (time.perf_counter() - t)

    print(f"\ndata pipeline alone (decode + augment + collate, {args.workers} workers): {data_rate:.1f} samples/s\n")
    print(f"{'stage':<12} {'loop samples/s':>15} {'compute-only samples/s':>23} {'loop / compute':>15} "
          f"{'s per 1000 steps':>17}", flush=True)
    for spec in parse_stages(args.stages):
        opts = TrainOptions(data_dir=data, out_dir=tmp / f"run_{spec.name}", config=cfg, stages=(spec,),
                            steps=2 * args.steps, batch_size=args.batch_size, workers=args.workers,
                            val_samples=args.batch_size, ckpt_every=10**9, log_every=args.steps, progress=False)
        loop_rate = train_stage(spec, opts, DistContext(), log=lambda m: None).samples_per_s

        scfg = _stage_config(cfg, spec)
        model = BodyNet(scfg)
        model.set_stage(spec.name)
        model.train()
        opt = make_optimizer("rmsprop", [p for p in model.parameters() if p.requires_grad], 1e-3)
        sds = SynthDataset(data, "train", scfg, augment=AugmentSettings(), part_voxels=spec.part_voxels)
        batch = collate([sds[(0, i)] for i in range(args.batch_size)])
        ptimes = []
        for i in range(args.steps + 2):
            t = time.perf_counter()
            _, losses = forward_losses(model, batch, spec, scfg, opts)
            opt.zero_grad()
            losses.total.backward()
            opt.step()
            if i >= 2:
                ptimes.append(time.perf_counter() - t)
        peer = args.batch_size * len(ptimes) / sum(ptimes)
        print(f"{spec.name:<12} {loop_rate:>15.2f} {peer:>23.2f} {loop_rate / peer:>15.2f} "
              f"{1000 * args.batch_size / loop_rate:>17.0f}", flush=True)
    print(f"\nload average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
