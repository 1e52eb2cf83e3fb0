"""``bodynet synth`` throughput: samples per second, end to end (render, ground truth, PNG + NPZ).

    python benchmarks/bench_synth.py [--n-small 80] [--n-paper 40] [--body-model PATH]

For both configurations, writes a fresh dataset with 1 worker and with 2 workers (processes, one
torch thread each) into a temporary folder. "steady" counts samples finished after the first 25 %
(worker start-up excluded); "total" is the whole call. The ratio compares 2 workers with 1 in this
same process run; goals from issue 5: >= 20/s small, >= 8/s paper on 2 CPU cores.
A per-stage profile of one in-process sample follows (--profile).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

GOALS = {"small": 20.0, "paper": 8.0}


def run(config: str, n: int, workers: int, body_model: str | None) -> tuple[float, float]:
    from bodynet_cli.data.synth.writer import write_dataset

    stamps: list[tuple[float, int]] = []
    done = 0

    def progress(k: int) -> None:
        nonlocal done
        done += k
        stamps.append((time.perf_counter(), done))

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        rep = write_dataset(out, n, config, seed=0, workers=workers, body_model=body_model, on_progress=progress)
        total = time.perf_counter() - t0
    assert rep.written == n and not rep.failures, rep.failures
    first = next((t, d) for t, d in stamps if d >= n // 4)
    steady = (n - first[1]) / max(stamps[-1][0] - first[0], 1e-9)
    return n / total, steady


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-small", type=int, default=80)
    ap.add_argument("--n-paper", type=int, default=40)
    ap.add_argument("--body-model", default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"cpu cores visible: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'config':>7} {'workers':>7} {'n':>4} {'total/s':>8} {'steady/s':>9} {'vs 1 worker':>12} {'goal/s':>7}")
    for config, n in (("small", args.n_small), ("paper", args.n_paper)):
        base = None
        for workers in (1, 2):
            total, steady = run(config, n, workers, args.body_model)
            base = base or steady
            print(f"{config:>7} {workers:>7} {n:>4} {total:8.1f} {steady:9.1f} {steady / base:12.2f} "
                  f"{GOALS[config]:7.0f}")


if __name__ == "__main__":
    main()
