"""Label-file writing: ``bodynet_cli.io.npz.write_npz`` against ``numpy.savez_compressed``.

    python benchmarks/bench_npz.py [--config small] [--repeats 20]

Makes one ``bodynet synth`` sample (bundled body model) and encodes its label arrays to bytes both ways
in this process, both written atomically to the same file: milliseconds per file and bytes. The
difference is the zlib level (1 against numpy's 6).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="small")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()

    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.data.synth.generate import SynthGenerator, SynthSettings
    from bodynet_cli.io.npz import atomic_write_bytes, read_npz, write_npz
    from bodynet_cli.io.sample import save_sample
    from bodynet_cli.models.config import get_config

    gen = SynthGenerator(load_body_model(), SynthSettings.for_config(get_config(args.config)))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.npz"
        save_sample(path, gen.generate(0).sample)
        arrays = read_npz(path)

        def ours() -> bytes:
            write_npz(path, **arrays)
            return path.read_bytes()

        def numpy_default() -> bytes:
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            atomic_write_bytes(path, buf.getvalue())
            return path.read_bytes()

        print(f"config {args.config}: {len(arrays)} arrays, {sum(a.nbytes for a in arrays.values())} bytes raw")
        print(f"{'writer':>22} {'ms/file':>8} {'bytes':>8} {'vs numpy':>9}")
        rows = []
        for name, fn in (("numpy.savez_compressed", numpy_default), ("write_npz", ours)):
            fn()
            t = time.perf_counter()
            for _ in range(args.repeats):
                data = fn()
            rows.append((name, (time.perf_counter() - t) / args.repeats, len(data)))
        base = rows[0][1]
        for name, sec, size in rows:
            print(f"{name:>22} {1000 * sec:8.2f} {size:8d} {sec / base:9.2f}")


if __name__ == "__main__":
    main()
