"""Body-model forward passes: ours vs the ``smplx`` package's SMPL layer, and the joints-only path.

    python benchmarks/bench_body.py [--batch 1 32] [--repeats 20] [--threads 1] [--device cpu]

Two models: an SMPL-sized random model with pose blend shapes (6890 vertices, 207 pose directions,
run by both ours and smplx on the same arrays), and the bundled open model (no pose blend shapes),
where ``joints_only=True`` is compared with the full mesh. Times are medians over the repeats, float32,
forward only and with a backward pass through the vertices (or joints). Prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch_setup import add_torch_options, torch_device

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bodynet_cli.body.load import body_model_from_dict, load_body_model  # noqa: E402
from bodynet_cli.body.model import BodyModel  # noqa: E402


def _median_ms(fn, repeats: int, sync) -> float:
    fn()
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def _bench_batch(B: int, dev, repeats: int, sync, peer, ours_smpl, open_model) -> list[tuple]:
    g = torch.Generator().manual_seed(B)
    betas = torch.randn(B, 10, generator=g).to(dev)
    orient = torch.randn(B, 3, generator=g).to(dev)
    pose = (0.3 * torch.randn(B, 69, generator=g)).to(dev)

    def run(fn, backward: bool):
        def call():
            p = pose.clone().requires_grad_(backward)
            out = fn(p)
            if backward:
                out.sum().backward()

        return call

    cases = {
        "SMPL-sized, smplx SMPL layer": lambda p: peer(betas=betas, global_orient=orient, body_pose=p).vertices,
        "SMPL-sized, ours": lambda p: ours_smpl(betas, orient, p, check=False).vertices,
        "open model, ours (mesh)": lambda p: open_model(betas, orient, p, check=False).vertices,
        "open model, ours (joints_only)": lambda p: open_model(betas, orient, p, joints_only=True, check=False).joints,
    }
    rows = []
    for backward in (False, True):
        times = {k: _median_ms(run(fn, backward), repeats, sync) for k, fn in cases.items()}
        base, mesh = times["SMPL-sized, smplx SMPL layer"], times["open model, ours (mesh)"]
        for k, t in times.items():
            ratio = f"{base / t:5.2f}x vs smplx" if k.startswith("SMPL") else f"{mesh / t:5.2f}x vs mesh"
            rows.append((B, "fwd+bwd" if backward else "fwd", k, t, ratio))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--repeats", type=int, default=20)
    add_torch_options(ap)
    args = ap.parse_args()
    dev, sync = torch_device(args)

    import smplx
    from smplx.utils import Struct
    from test_body_helpers import random_smpl_dict

    d = random_smpl_dict(np.random.default_rng(0), n_verts=6890)
    ours_smpl = BodyModel(body_model_from_dict(d, Path("random.npz"), "random", "0" * 64)).to(dev)
    peer = smplx.SMPL(model_path="", data_struct=Struct(**d), num_betas=10).to(dev)
    open_model = BodyModel(load_body_model()).to(dev)

    rows = []
    for B in args.batch:
        rows += _bench_batch(B, dev, args.repeats, sync, peer, ours_smpl, open_model)
    print(f"device {dev}, {torch.get_num_threads()} CPU thread(s), float32, median of {args.repeats}")
    print(f"{'B':>4}  {'pass':<8} {'case':<32} {'ms':>9}  speed-up")
    for B, kind, k, t, ratio in rows:
        print(f"{B:>4}  {kind:<8} {k:<32} {t:9.3f}  {ratio}")


if __name__ == "__main__":
    main()
