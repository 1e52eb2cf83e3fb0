"""BodyNet model benchmark: size, FLOPs and CPU throughput of each configuration.

    python benchmarks/bench_models.py [--threads 2] [--iters 5] [--configs small,paper] [--paper-batch8]
                                      [--channels-last]
    python benchmarks/bench_models.py --stage-steps [--configs small,proxy,proxy128] [--stages all]
                                      [--batch 8] [--iters 3] [--threads 2]

Prints, per configuration: parameters, fp32 weights size, forward FLOPs per image; then forward and
end-to-end training-step throughput (RMSprop step on the full 'end2end' multi-task loss) at batch 1
and 8 (best of ``--iters`` runs, median beside it), each also as a fraction of this machine's fp32
matmul FLOP/s (the better of best-of-20 before and after) measured in the same run. FLOPs are
counted by ``torch.utils.flop_counter`` (convolutions and matmuls; 1 multiply-add = 2 FLOPs). The
paper configuration's batch-8 training step takes minutes and many GB, so it runs only with
``--paper-batch8``. CPU only: no GPU numbers. On a machine busy with other work, compare with
``--threads 1``: spin-waiting OpenMP threads slow down many-fold when the cores are oversubscribed.

``--stage-steps`` times, instead, one optimiser step of every training stage (the training loop's own
``forward_losses`` on a random, well-formed batch: target encoding and proxy rendering included, data loading
not) for each configuration, and reports samples/s and the ratio to the first configuration measured in the
same process (e.g. the proxy model at 64³ and 128³ against ``small``), plus parameters and forward FLOPs.
Proxy configurations get random proxies (joints, scores, mask).
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

from bodynet_cli.models.bodynet import BodyNet, Proxies
from bodynet_cli.models.config import get_config
from bodynet_cli.models.losses import LossTargets, compute_losses, stage_loss_weights
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


def make_proxies(cfg, batch: int, gen: torch.Generator) -> Proxies | None:
    """Random proxies for a config that reads them (None otherwise)."""
    if not cfg.uses_proxies:
        return None
    i = cfg.input_size
    return Proxies(torch.rand(batch, cfg.num_joints, 2, generator=gen) * i, torch.rand(batch, cfg.num_joints,
                   generator=gen), (torch.rand(batch, 1, i, i, generator=gen) > 0.5).float())  # fmt: skip


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
    weights = stage_loss_weights("end2end", cfg)
    rows = []
    for batch in (1, 8):
        rgb = torch.rand(batch, 3, cfg.input_size, cfg.input_size, generator=gen).contiguous(memory_format=fmt)
        targets = make_targets(cfg, batch, gen)
        proxies = make_proxies(cfg, batch, gen)

        def forward(rgb=rgb, proxies=proxies):
            model.eval()
            with torch.no_grad():
                model(rgb, proxies)

        def train_step(rgb=rgb, targets=targets, proxies=proxies):
            model.train()
            opt.zero_grad(set_to_none=True)
            compute_losses(model(rgb, proxies), targets, "end2end", weights).total.backward()
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


def random_batch(cfg, batch: int, gen: torch.Generator):
    """A well-formed training ``Batch`` of random content (proxies for a proxy config)."""
    from bodynet_cli.data.dataset import Batch

    i, h, r, j = cfg.input_size, cfg.heatmap_size, cfg.voxel_res, cfg.num_joints
    prox = make_proxies(cfg, batch, gen)
    return Batch(
        rgb=torch.randint(0, 256, (batch, 3, i, i), generator=gen, dtype=torch.uint8),
        joints_hm=torch.rand(batch, j, 2, generator=gen) * h, depth_m=torch.randn(batch, j, generator=gen) * 0.2,
        segmentation=torch.randint(0, cfg.num_seg, (batch, i, i), generator=gen, dtype=torch.uint8),
        voxels=torch.rand(batch, r, r, r, generator=gen) > 0.8, joints2d=torch.zeros(batch, j, 2),
        joints3d=torch.zeros(batch, j, 3), crop=torch.zeros(batch, 4), camera=torch.zeros(batch, 4),
        index=torch.arange(batch), part_voxels=torch.randint(0, 7, (batch, r, r, r), generator=gen, dtype=torch.uint8),
        proxy_joints=None if prox is None else prox.joints, proxy_scores=None if prox is None else prox.scores,
        proxy_mask=None if prox is None else prox.mask[:, 0].to(torch.uint8),
    )  # fmt: skip


def bench_proxy_data(size: int, voxel_res: int, reps: int = 50) -> None:
    """Data-worker cost of the training proxies (default ``ProxyCorruption``) of one sample against the
    geometric augmentation of the same sample (its peer in the worker), both numpy on one thread."""
    import numpy as np

    from bodynet_cli.data.dataset import Augment, apply_augment
    from bodynet_cli.data.proxies import ProxyCorruption, make_proxies

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] + 0.5
    seg = (((xx - size / 2) / (0.2 * size)) ** 2 + ((yy - size / 2) / (0.4 * size)) ** 2 <= 1).astype(np.uint8)
    joints = rng.uniform(0.3 * size, 0.7 * size, (16, 2))
    image = rng.integers(0, 256, (3, size, size), dtype=np.uint8)
    vox = rng.random((voxel_res,) * 3) > 0.8
    aug = Augment(flip=True, scale=1.1, rotation_deg=20.0)
    fill = np.zeros(3, dtype=np.float32)
    t_aug = timed(lambda: apply_augment(aug, image, joints / 4, np.zeros(16, np.float32), seg, vox, None, size // 4,
                                        fill), reps)[0]  # fmt: skip
    gens = iter(np.random.default_rng([0, i]) for i in range(10 * reps))
    t_prox = timed(lambda: make_proxies(joints, seg > 0, ProxyCorruption(), next(gens)), reps)[0]
    print(f"data worker, one sample at {size}², {voxel_res}³: augmentation {t_aug * 1e3:.1f} ms, proxies (default "
          f"corruption) {t_prox * 1e3:.1f} ms, ratio {t_prox / t_aug:.2f}")


def bench_stage_steps(names: list[str], stages: str, batch: int, iters: int) -> None:
    """Per stage and configuration: one training step's best/median time and samples/s; ratio to names[0]."""
    from pathlib import Path

    from bodynet_cli.models.stages import parse_stages
    from bodynet_cli.pipelines.train.loop import TrainOptions, _stage_config, forward_losses, make_optimizer

    print(f"{'config':9s} {'params M':>8s} {'fwd GFLOP/img':>13s}")
    for name in names:
        cfg = get_config(name)
        model = BodyNet(cfg).eval()
        gen = torch.Generator().manual_seed(0)
        rgb = torch.rand(1, 3, cfg.input_size, cfg.input_size, generator=gen)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(rgb, make_proxies(cfg, 1, gen))
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:9s} {params / 1e6:8.2f} {counter.get_total_flops() / 1e9:13.2f}", flush=True)
    for name in names:
        cfg = get_config(name)
        if cfg.uses_proxies:
            bench_proxy_data(cfg.input_size, cfg.voxel_res)
    print(f"\ntraining step, batch {batch}, best of {iters} (median beside it)")
    print(f"{'stage':12s} {'config':9s} {'best ms':>9s} {'median ms':>9s} {'samples/s':>9s} {'vs ' + names[0]:>10s}")
    for spec in parse_stages(stages):
        base = None
        for name in names:
            cfg = _stage_config(get_config(name), spec)
            torch.manual_seed(0)
            model = BodyNet(cfg)
            model.set_stage(spec.name)
            model.train()
            opts = TrainOptions(data_dir=Path("."), out_dir=Path("."), config=cfg, stages=(spec,))
            opt = make_optimizer("rmsprop", [p for p in model.parameters() if p.requires_grad], 1e-3)
            data = random_batch(cfg, batch, torch.Generator().manual_seed(1))
            weights = stage_loss_weights(spec.name, cfg)

            def step(model=model, opt=opt, data=data, spec=spec, cfg=cfg, opts=opts, weights=weights):
                _, losses = forward_losses(model, data, spec, cfg, opts, weights)
                opt.zero_grad(set_to_none=True)
                losses.total.backward()
                opt.step()

            print(f"timing {spec.name} {name} ...", file=sys.stderr, flush=True)
            best, med = timed(step, iters)
            rate = batch / best
            base = rate if base is None else base
            print(f"{spec.name:12s} {name:9s} {best * 1e3:9.0f} {med * 1e3:9.0f} {rate:9.2f} {rate / base:10.2f}",
                  flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--iters", type=int, default=5, help="timed repetitions (best and median); paper config uses half")
    ap.add_argument("--configs", default="small,paper", help="comma-separated config names")
    ap.add_argument("--paper-batch8", action="store_true", help="also time the paper config's batch-8 train step")
    ap.add_argument("--channels-last", action="store_true", help="channels-last memory format for model and input")
    ap.add_argument("--stage-steps", action="store_true", help="time every stage's training step per config instead")
    ap.add_argument("--stages", default="2d,3d,voxels,voxels_proj,end2end", help="stages for --stage-steps")
    ap.add_argument("--batch", type=int, default=8, help="batch size for --stage-steps")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    if args.stage_steps:
        names = args.configs.split(",") if args.configs != "small,paper" else ["small", "proxy", "proxy128"]
        print(f"torch {torch.__version__}, {args.threads} threads, load average {load0:.2f}. CPU only.")
        bench_stage_steps(names, args.stages, args.batch, args.iters)
        print(f"load average after {os.getloadavg()[0]:.2f}")
        return
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
