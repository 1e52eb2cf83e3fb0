"""BodyNet model benchmark: size, FLOPs and CPU throughput of each configuration.

    python benchmarks/bench_models.py [--threads 2] [--iters 5] [--configs small,paper] [--paper-batch8]
                                      [--channels-last]

Prints, per configuration: parameters, fp32 weights size, forward FLOPs per image; then forward and
end-to-end training-step throughput (RMSprop step on the full 'end2end' multi-task loss) at batch 1
and 8, each also as a fraction of this machine's fp32 matmul FLOP/s measured in the same run. FLOPs
are counted by ``torch.utils.flop_counter`` (convolutions and matmuls; 1 multiply-add = 2 FLOPs).
The paper configuration's batch-8 training step needs ~20 GB and minutes, so it runs only with
``--paper-batch8``. CPU only: there is no GPU number here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.config import get_config
from bodynet_cli.models.losses import LossTargets, compute_losses
from bodynet_cli.models.targets import heatmaps_from_joints, volume_from_joints


def matmul_flops(n: int = 2048, reps: int = 10) -> float:
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


def timed(fn, iters: int) -> float:
    """Median seconds of ``fn()`` after one warm-up call."""
    fn()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def bench_config(name: str, batches: list[int], iters: int, peak: float, paper_batch8: bool,
                 channels_last: bool) -> list[str]:  # fmt: skip
    torch.manual_seed(0)
    cfg = get_config(name)
    model = BodyNet(cfg)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    params = sum(p.numel() for p in model.parameters())
    state_bytes = sum(v.numel() * v.element_size() for v in model.state_dict().values())
    gen = torch.Generator().manual_seed(0)
    rows = [f"{name}: input {cfg.input_size}, heatmaps {cfg.heatmap_size}, voxels {cfg.voxel_res}³, "
            f"F={cfg.features}, stem {cfg.stem_channels}, {params / 1e6:.2f} M parameters, "
            f"{state_bytes / 2**20:.1f} MiB fp32"]  # fmt: skip
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.99, eps=1e-8)
    model.set_stage("end2end")
    for batch in batches:
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
                rows.append(f"  {what:10s} b{batch}: skipped (needs --paper-batch8: ~20 GB, minutes)")
                continue
            with FlopCounterMode(display=False) as counter:
                fn()
            flops = counter.get_total_flops()
            sec = timed(fn, iters if cfg.input_size <= 128 else max(1, iters // 2))
            rows.append(f"  {what:10s} b{batch}: {flops / batch / 1e9:8.2f} GFLOP/img  {sec * 1e3:9.1f} ms  "
                        f"{batch / sec:7.2f} img/s  {flops / sec / 1e9:7.1f} GFLOP/s  "
                        f"= {flops / sec / peak:5.1%} of matmul")  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--iters", type=int, default=5, help="timed repetitions (median); paper config uses half")
    ap.add_argument("--configs", default="small,paper", help="comma-separated config names")
    ap.add_argument("--paper-batch8", action="store_true", help="also time the paper config's batch-8 train step")
    ap.add_argument("--channels-last", action="store_true", help="channels-last memory format for model and input")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_flops()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {args.threads} threads, channels_last={args.channels_last}, "
          f"load average {load:.2f}; "
          f"fp32 matmul 2048²: {peak / 1e9:.1f} GFLOP/s (CPU only, no GPU measured)")  # fmt: skip
    for name in args.configs.split(","):
        for row in bench_config(name, [1, 8], args.iters, peak, args.paper_batch8, args.channels_last):
            print(row, flush=True)
    print(f"matmul re-measured at the end: {matmul_flops() / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
