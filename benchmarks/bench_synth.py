"""``bodynet synth`` throughput: samples per second, end to end (render, ground truth, PNG + NPZ).

    python benchmarks/bench_synth.py [--n-small 80] [--n-paper 40] [--body-model PATH]

For both configurations, writes a fresh dataset with 1 worker and with 2 workers (processes, one
torch thread each) into a temporary folder. "steady" counts samples finished after the first 25 %
(worker start-up excluded); "total" is the whole call. The ratio compares 2 workers with 1 in this
same run; goals from issue 5: >= 20/s small, >= 8/s paper on 2 CPU cores.

On a shared machine wall-clock rates fall with other people's load, so the 1-worker run (in this
process) also reports CPU milliseconds per sample over its steady part, and "2 free cores" = 2000 /
that: the rate two workers reach when nothing else runs (samples are independent processes' work).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

GOALS = {"small": 20.0, "paper": 8.0}


def run(config: str, n: int, workers: int, body_model: str | None) -> tuple[float, float, float]:
    from bodynet_cli.pipelines.synth import write_dataset

    stamps: list[tuple[float, float, int]] = []
    done = 0

    def progress(k: int) -> None:
        nonlocal done
        done += k
        stamps.append((time.perf_counter(), time.process_time(), done))

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        rep = write_dataset(out, n, config, seed=0, workers=workers, body_model=body_model, on_progress=progress)
        total = time.perf_counter() - t0
    assert rep.written == n and not rep.failures, rep.failures
    t1, c1, d1 = next(s for s in stamps if s[2] >= n // 4)
    t2, c2, _ = stamps[-1]
    return n / total, (n - d1) / max(t2 - t1, 1e-9), 1000 * (c2 - c1) / (n - d1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-small", type=int, default=80)
    ap.add_argument("--n-paper", type=int, default=40)
    ap.add_argument("--body-model", default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"cpu cores visible: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'config':>7} {'workers':>7} {'n':>4} {'total/s':>8} {'steady/s':>9} {'vs 1 worker':>12} "
          f"{'cpu ms/sample':>14} {'2 free cores/s':>15} {'goal/s':>7}")
    for config, n in (("small", args.n_small), ("paper", args.n_paper)):
        base = None
        for workers in (1, 2):
            total, steady, cpu_ms = run(config, n, workers, args.body_model)
            base = base or steady
            cpu = f"{cpu_ms:14.0f} {2000 / cpu_ms:15.1f}" if workers == 1 else f"{'':>14} {'':>15}"
            print(f"{config:>7} {workers:>7} {n:>4} {total:8.1f} {steady:9.1f} {steady / base:12.2f} {cpu} "
                  f"{GOALS[config]:7.0f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
