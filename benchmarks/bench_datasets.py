"""Published-dataset samples: made on the fly (`train --data surreal:PATH`) against read back after
`bodynet convert` (a synth-layout folder), per sample, in the same process.

    python benchmarks/bench_datasets.py [--config small] [--frames 10] [--threads 1]

The data is the tests' SURREAL fixture (two clips of --frames frames, 320x240, the bundled open body model as
the SMPL file), written to a temporary folder. Rows: reading every frame in order and in a shuffled order
(``ReaderDataset``: decode, crop, segmentation, voxelize, part voxels, augmentation), converting them
(``convert_dataset``, with files), and reading the converted files back (``SynthDataset``, the peer).
Prints one table with ms per sample and the ratio to the peer.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="small")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO / "tests"))
    from dataset_fixtures import body_model_file, write_surreal

    from bodynet_cli.data.dataset import AugmentSettings, SynthDataset
    from bodynet_cli.data.datasets.surreal import Surreal
    from bodynet_cli.data.datasets.training import ReaderDataset
    from bodynet_cli.models.config import get_config
    from bodynet_cli.pipelines.convert import convert_dataset

    cfg = get_config(args.config)
    tmp = Path(tempfile.mkdtemp(prefix="bench_datasets_"))
    write_surreal(tmp / "surreal", frames=args.frames)
    print(f"config {cfg.name} ({cfg.input_size}², {cfg.voxel_res}³), torch threads {args.threads}, "
          f"load average before {os.getloadavg()[0]:.2f}")

    def per_sample(fn, n: int) -> float:
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) / n * 1000

    reader = Surreal(tmp / "surreal", "train", body_model=body_model_file())
    n = len(reader)
    ds = ReaderDataset(reader, "train", cfg, augment=AugmentSettings(), part_voxels=True)
    order = np.random.default_rng(0).permutation(n)
    ds[(9, 0)]  # warm up: the body model is loaded on first use
    rows = {
        "on the fly, in order": per_sample(lambda: [ds[(0, i)] for i in range(n)], n),
        "on the fly, shuffled": per_sample(lambda: [ds[(1, int(i))] for i in order], n),
        "convert (files written)": per_sample(lambda: convert_dataset(
            Surreal(tmp / "surreal", "train", body_model=body_model_file()), tmp / "gt", "train", cfg.name), n),
    }  # fmt: skip
    peer = SynthDataset(tmp / "gt", "train", cfg, augment=AugmentSettings(), part_voxels=True)
    assert len(peer) == n
    rows["converted, read back (peer)"] = per_sample(lambda: [peer[(0, int(i))] for i in order], n)
    base = rows["converted, read back (peer)"]
    print(f"{'samples: ' + str(n):<32}{'ms/sample':>12}{'x peer':>10}")
    for name, ms in rows.items():
        print(f"{name:<32}{ms:>12.1f}{ms / base:>10.1f}")


if __name__ == "__main__":
    main()
