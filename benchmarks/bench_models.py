"""BodyNet model benchmark: size, FLOPs and CPU throughput of each configuration.

    python benchmarks/bench_models.py [--threads 2] [--iters 5] [--configs small,paper] [--paper-batch8]
                                      [--channels-last]

Prints, per configuration: parameters, fp32 weights size, forward FLOPs per image; then forward and
end-to-end training-step throughput (RMSprop step on the full 'end2end' multi-task loss) at batch 1
and 8 (best of ``--iters`` runs, median beside it), each also as a fraction of this machine's fp32
matmul FLOP/s (the better of best-of-20 before and after) measured in the same run. FLOPs are
counted by ``torch.utils.flop_counter`` (convolutions and matmuls; 1 multiply-add = 2 FLOPs). The
paper configuration's batch-8 training step takes minutes and many GB, so it runs only with
``--paper-batch8``. CPU only: no GPU numbers. On a machine busy with other work, compare with
``--threads 1``: spin-waiting OpenMP threads slow down many-fold when the cores are oversubscribed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.config import get_config
from bodynet_cli.models.losses import LossTargets, compute_losses
from bodynet_cli.models.targets import heatmaps_from_joints, volume_from_joints


def matmul_flops(n: int = 2048, reps: int = 20) -> float:
    """Best-of fp32 matmul FLOP/s (n×n @ n×n): the machine's practical peak for dense kernels."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def make_targets(cfg, batch: int, gen: torch.Generator) -> LossTargets:
    """Random but well-formed targets of every term, built with the real encoders."""
    h, r = cfg.heatmap_size, cfg.voxel_res
    joints = torch.rand(batch, cfg.num_joints, 2, generator=gen) * h
    depth = torch.randn(batch, cfg.num_joints, generator=gen) * 0.2
    voxels = (torch.rand(batch, r, r, r, generator=gen) > 0.8).float()
    return LossTargets(
        heatmaps=heatmaps_from_joints(joints, h, cfg.heatmap_sigma)[0],
        segmentation=torch.randint(0, cfg.num_seg, (batch, h, h), generator=gen),
        volumes=volume_from_joints(joints, depth, h, cfg.depth_bins, cfg.volume_sigma),
        voxels=voxels,
    )


def timed(fn, iters: int) -> tuple[float, float]:
    """(best, median) seconds of ``fn()`` after one warm-up call. On a shared machine the best run is
    the one least disturbed by other processes; the median shows how disturbed the run was."""
    fn()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts), statistics.median(ts)


@dataclass
class Row:
    config: str
    what: str
    batch: int
    flops: float  # per call, all images
    best_s: float
    median_s: float


def bench_config(name: str, iters: int, paper_batch8: bool, channels_last: bool) -> tuple[str, list[Row]]:
    """Header line and the timed rows (forward, train step at batch 1 and 8) of one configuration."""
    torch.manual_seed(0)
    cfg = get_config(name)
    model = BodyNet(cfg)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    params = sum(p.numel() for p in model.parameters())
    state_bytes = sum(v.numel() * v.element_size() for v in model.state_dict().values())
    gen = torch.Generator().manual_seed(0)
    header = (f"{name}: input {cfg.input_size}, heatmaps {cfg.heatmap_size}, voxels {cfg.voxel_res}³, "
              f"F={cfg.features}, stem {cfg.stem_channels}, {params / 1e6:.2f} M parameters, "
              f"{state_bytes / 2**20:.1f} MiB fp32")  # fmt: skip
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.99, eps=1e-8)
    model.set_stage("end2end")
    rows = []
    for batch in (1, 8):
        rgb = torch.rand(batch, 3, cfg.input_size, cfg.input_size, generator=gen).contiguous(memory_format=fmt)
        targets = make_targets(cfg, batch, gen)

        def forward(rgb=rgb):
            model.eval()
            with torch.no_grad():
                model(rgb)

        def train_step(rgb=rgb, targets=targets):
            model.train()
            opt.zero_grad(set_to_none=True)
            compute_losses(model(rgb), targets, "end2end").total.backward()
            opt.step()

        for what, fn in (("forward", forward), ("train step", train_step)):
            if name == "paper" and batch > 1 and what == "train step" and not paper_batch8:
                continue
            print(f"timing {name} {what} b{batch} ...", file=sys.stderr, flush=True)
            with FlopCounterMode(display=False) as counter:
                fn()
            sec, med = timed(fn, iters if cfg.input_size <= 128 else max(1, iters // 2))
            rows.append(Row(name, what, batch, counter.get_total_flops(), sec, med))
    return header, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--iters", type=int, default=5, help="timed repetitions (best and median); paper config uses half")
    ap.add_argument("--configs", default="small,paper", help="comma-separated config names")
    ap.add_argument("--paper-batch8", action="store_true", help="also time the paper config's batch-8 train step")
    ap.add_argument("--channels-last", action="store_true", help="channels-last memory format for model and input")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    peaks = [matmul_flops()]
    names = args.configs.split(",")
    results = [bench_config(name, args.iters, args.paper_batch8, args.channels_last) for name in names]
    peaks.append(matmul_flops())
    peak = max(peaks)
    print(f"torch {torch.__version__}, {args.threads} threads, channels_last={args.channels_last}, load average "
          f"{load0:.2f} -> {os.getloadavg()[0]:.2f}; fp32 matmul 2048² (best of 20, before/after): "
          f"{peaks[0] / 1e9:.1f}/{peaks[1] / 1e9:.1f} GFLOP/s. CPU only: no GPU measured.")  # fmt: skip
    print(f"{'config':7s} {'step':10s} {'batch':>5s} {'GFLOP/img':>9s} {'best ms':>9s} {'median ms':>9s} "
          f"{'img/s':>7s} {'GFLOP/s':>8s} {'of matmul':>9s}")  # fmt: skip
    for header, rows in results:
        print(header)
        for r in rows:
            print(f"{r.config:7s} {r.what:10s} {r.batch:5d} {r.flops / r.batch / 1e9:9.2f} {r.best_s * 1e3:9.1f} "
                  f"{r.median_s * 1e3:9.1f} {r.batch / r.best_s:7.2f} {r.flops / r.best_s / 1e9:8.1f} "
                  f"{r.flops / r.best_s / peak:9.1%}")  # fmt: skip
        if rows[0].config == "paper" and not args.paper_batch8:
            print("paper   train step     8  skipped (run with --paper-batch8)")


if __name__ == "__main__":
    main()
