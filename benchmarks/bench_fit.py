"""Speed of the batched body fit (`bodynet fit-smpl`): seconds per body, CPU, batches of 16.

    python benchmarks/bench_fit.py             # 16 synth bodies at 128³ (config paper)
    python benchmarks/bench_fit.py --n 8 --quick

Every row fits the same ground-truth targets in this process; ratios are against the first row
(batch 16, 1 thread, what `fit-smpl` uses on CPU). Wall time depends on what else the machine runs (the load average is
printed); CPU time (all threads) is steadier. A second table times the nearest-neighbour search
alone: KD-tree (the CPU default) against dense ``torch.cdist``.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16, help="bodies (one batch of this size in the main rows)")
    ap.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run, not the real numbers)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from bodynet_cli.body.conventions import SMPL_TO_BODYNET
    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.body.model import BodyModel
    from bodynet_cli.data.synth.generate import SynthGenerator, SynthSettings
    from bodynet_cli.fitting.chamfer import nearest_neighbours
    from bodynet_cli.fitting.optimize import FitOptions, fit_bodies
    from bodynet_cli.fitting.targets import target_from_sample
    from bodynet_cli.models.config import get_config

    data = load_body_model()
    model = BodyModel(data)
    gen = SynthGenerator(data, SynthSettings.for_config(get_config("paper"), seed=3))
    with torch.no_grad():
        ref = model.rest_joints(torch.zeros(1, model.num_betas))[0, SMPL_TO_BODYNET].numpy()
    targets = [target_from_sample(gen.generate(i).sample, f"synth {i}", 3000, np.random.default_rng(i), ref)
               for i in range(args.n)]
    opts = FitOptions(joint_iters=10, surface_iters=10) if args.quick else FitOptions()

    def run(threads: int, batch: int, options: FitOptions, n: int) -> tuple[float, float]:
        torch.set_num_threads(threads)
        w0, c0 = time.perf_counter(), time.process_time()
        for s in range(0, n, batch):
            fit_bodies(model, targets[s:min(s + batch, n)], options)
        return (time.perf_counter() - w0) / n, (time.process_time() - c0) / n

    no_flip = FitOptions(**{**opts.__dict__, "flip_hypothesis": False})
    rows = [  # (name, threads, batch size, options, bodies timed)
        (f"batch {args.n}, 1 thread (`fit-smpl` default on CPU)", 1, args.n, opts, args.n),
        (f"batch {args.n}, 2 threads", 2, args.n, opts, args.n),
        (f"batch {args.n}, 1 thread, no front/back hypotheses", 1, args.n, no_flip, args.n),
        ("batch 1 (one body at a time), 1 thread, first 4 bodies", 1, 1, opts, min(4, args.n)),
    ]
    fit_bodies(model, targets[:2], FitOptions(joint_iters=2, surface_iters=2))  # warm-up: caches, lazy imports
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores\n")
    print("| configuration | wall s/body | CPU s/body | wall ratio |")
    print("|---|---|---|---|")
    base = None
    for name, threads, batch, o, n in rows:
        wall, cpu = run(threads, batch, o, n)
        base = base or wall
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / base:.2f} |", flush=True)

    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(args.n, 3000, 3, generator=g), torch.randn(args.n, 2000, 3, generator=g)
    print(f"\nnearest neighbours, {args.n} bodies × 3000 query × 2000 reference points, 2 threads\n")
    print("| method | ms per call | ratio |")
    print("|---|---|---|")
    base = None
    for method in ("kdtree", "cdist"):
        nearest_neighbours(x, y, method)
        t0 = time.perf_counter()
        for _ in range(3):
            nearest_neighbours(x, y, method)
        ms = (time.perf_counter() - t0) / 3 * 1000
        base = base or ms
        print(f"| {method} | {ms:.1f} | {ms / base:.1f} |", flush=True)
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
