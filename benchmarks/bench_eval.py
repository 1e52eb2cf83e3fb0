"""Voxel IoU throughput at 128³, file loading included: eval's packed-bit path against a naive one.

    python benchmarks/bench_eval.py [--n 200] [--res 128] [--workers 2]

Writes N prediction / ground-truth pairs of body-like grids (a union of ellipsoids, compressed NPZ
files in the schema of docs/formats.md) to a temporary folder, then times, in the same process:

- packed: read ``voxels`` + ``voxel_shape`` of both files (``read_npz(keys=...)``), popcount IoU on
  the packed bytes (``voxel_iou_packed``), in a thread pool, as ``bodynet eval`` does;
- naive: the same reads, then ``numpy.unpackbits`` and a boolean ``(p & g).sum() / (p | g).sum()``;
- the IoU arithmetic alone (files already in memory), both ways;
- the whole ``evaluate`` pipeline (every metric the files allow) for scale.

Files are read from the page cache (they were just written). Each row is the best of 3 runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bodynet_cli.io.npz import read_npz
from bodynet_cli.io.sample import Sample, save_sample
from bodynet_cli.metrics.iou import voxel_iou_packed
from bodynet_cli.pipelines.evaluate import evaluate

KEYS = ("voxels", "voxel_shape")


def body_grid(rng: np.random.Generator, res: int, jitter: float = 0.0) -> np.ndarray:
    """A rough body: torso, head and four limbs as ellipsoids, bool (R, R, R) ``[z, y, x]``."""
    c = (np.arange(res) + 0.5) / res
    z, y, x = c[:, None, None], c[None, :, None], c[None, None, :]
    parts = [  # centre (x, y, z), radii (x, y, z), as fractions of the grid
        ((0.5, 0.40, 0.5), (0.12, 0.16, 0.08)), ((0.5, 0.18, 0.5), (0.06, 0.07, 0.06)),
        ((0.33, 0.42, 0.5), (0.04, 0.17, 0.04)), ((0.67, 0.42, 0.5), (0.04, 0.17, 0.04)),
        ((0.44, 0.73, 0.5), (0.05, 0.20, 0.05)), ((0.56, 0.73, 0.5), (0.05, 0.20, 0.05)),
    ]  # fmt: skip
    occ = np.zeros((res, res, res), bool)
    for (cx, cy, cz), (rx, ry, rz) in parts:
        cx, cy, cz = np.array([cx, cy, cz]) + rng.normal(size=3) * jitter
        occ |= ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1
    return occ


def make_files(root: Path, n: int, res: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        gt = body_grid(rng, res, 0.01)
        pred = body_grid(rng, res, 0.02)
        extra = dict(joints2d=rng.random((16, 2), np.float32) * 300, joints3d=rng.random((16, 3), np.float32),
                     segmentation=rng.integers(0, 15, (64, 64)).astype(np.uint8),
                     crop=np.array([0, 0, 300, 256], np.float32))
        name = f"s{i:05d}.npz"
        save_sample(root / "gt" / name, Sample(voxels=gt, camera=np.array([600, 150, 150, 6], np.float32), **extra))
        save_sample(root / "pred" / name, Sample(voxels=pred, **extra))
        names.append(name)
    return names


def packed_pair(root: Path, name: str) -> float:
    p, g = read_npz(root / "pred" / name, KEYS), read_npz(root / "gt" / name, KEYS)
    return float(voxel_iou_packed(p["voxels"][None], g["voxels"][None])[0])


def naive_pair(root: Path, name: str) -> float:
    p, g = read_npz(root / "pred" / name, KEYS), read_npz(root / "gt" / name, KEYS)
    n = int(np.prod(p["voxel_shape"]))
    pb = np.unpackbits(p["voxels"], count=n).astype(bool)
    gb = np.unpackbits(g["voxels"], count=n).astype(bool)
    return float((pb & gb).sum() / (pb | gb).sum())


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="pairs")
    ap.add_argument("--res", type=int, default=128, help="grid resolution R")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="threads")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        names = make_files(root, args.n, args.res)
        size = sum(f.stat().st_size for f in (root / "pred").iterdir()) / args.n / 1024
        print(f"{args.n} pairs at {args.res}³ written in {time.perf_counter() - t0:.1f} s "
              f"(mean prediction file {size:.0f} KiB); {args.workers} worker threads, {os.cpu_count()} CPUs\n")

        def pool_run(fn, workers):
            with ThreadPoolExecutor(workers) as pool:
                return np.array(list(pool.map(lambda nm: fn(root, nm), names)))

        rows = []
        for label, fn, workers in (("packed (eval), files + IoU", packed_pair, args.workers),
                                   ("naive bool, files + IoU", naive_pair, args.workers),
                                   ("packed (eval), files + IoU, 1 thread", packed_pair, 1),
                                   ("naive bool, files + IoU, 1 thread", naive_pair, 1)):
            t, vals = best_of(lambda fn=fn, w=workers: pool_run(fn, w))
            rows.append((label, t, vals))
        np.testing.assert_allclose(rows[0][2], rows[1][2], rtol=1e-12)  # the same answers

        pk = [(read_npz(root / "pred" / n, KEYS)["voxels"], read_npz(root / "gt" / n, KEYS)["voxels"]) for n in names]
        pp, gp = np.stack([a for a, _ in pk]), np.stack([b for _, b in pk])
        count = args.res**3
        pb = np.stack([np.unpackbits(a, count=count).astype(bool) for a, _ in pk])
        gb = np.stack([np.unpackbits(b, count=count).astype(bool) for _, b in pk])
        t, _ = best_of(lambda: voxel_iou_packed(pp, gp))
        rows.append(("packed IoU only (in memory), 1 thread", t, None))
        t, _ = best_of(lambda: (pb & gb).reshape(len(names), -1).sum(1) / (pb | gb).reshape(len(names), -1).sum(1))
        rows.append(("naive bool IoU only (in memory), 1 thread", t, None))
        t, _ = best_of(lambda: evaluate(root / "pred", root / "gt", workers=args.workers), repeats=1)
        rows.append(("whole `evaluate` (voxels, segm., PCKh, 3D joints)", t, None))

        ref = rows[1][1]
        print(f"{'what':58s} {'samples/s':>10s} {'vs naive':>9s}")
        for label, t, _ in rows:
            print(f"{label:58s} {args.n / t:10.0f} {ref / t:8.2f}x")
        print("\n'vs naive' = speed relative to the naive bool row with file loading and the same threads.")


if __name__ == "__main__":
    main()
