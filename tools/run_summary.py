"""A training run's schedule in numbers, for the model card: per stage the optimiser steps, samples
seen, learning rate, training time and the last validation metrics, read from ``RUN_DIR/log.jsonl``.

    python tools/run_summary.py [RUN_DIR] [--until end2end:2000]     # default runs/small

Training time is the sum of the logged intervals between consecutive lines of a stage; intervals
longer than ``--gap`` seconds (the run was stopped and resumed later) count as one logging interval
at the stage's median pace. Validation time is included. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", default="runs/small")
    ap.add_argument("--gap", type=float, default=600.0, help="seconds; a longer interval is a pause")
    ap.add_argument("--until", help="STAGE:STEP; leave out that stage's lines after STEP (a checkpoint taken "
                    "while the run went on)")
    args = ap.parse_args()
    run = Path(args.run)
    batch = json.loads((run / "run.json").read_text())["batch_size"]
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    if args.until:
        cut_stage, cut_step = args.until.split(":")
        rows = [r for r in rows if not (r["stage"] == cut_stage and r["step"] > int(cut_step))]
    stages: dict[str, list[dict]] = {}
    for r in rows:
        stages.setdefault(r["stage"], []).append(r)
    print("| stage | steps | samples seen | lr | training time | last validation |")
    print("|---|---|---|---|---|---|")
    total = 0.0
    for name, rs in stages.items():
        t = np.array([r["time"] for r in rs])
        dt = np.diff(t)
        pace = float(np.median(dt)) if len(dt) else 0.0
        seconds = float(np.where(dt > args.gap, pace, dt).sum())
        total += seconds
        steps = max(r["step"] for r in rs)
        lr = next((r["lr"] for r in rs if "lr" in r), None)
        val = [r for r in rs if r["kind"] == "val"]
        m = val[-1]["metrics"] if val else {}
        shown = {"pckh": "PCKh {:.3f}", "segmentation_miou": "seg mIoU {:.3f}", "joint3d_error_mm": "3D {:.0f} mm",
                 "voxel_iou": "voxel IoU {:.3f}"}  # fmt: skip
        last = ", ".join(fmt.format(m[k]) for k, fmt in shown.items() if k in m)
        print(f"| {name} | {steps} | {steps * batch} | {lr:g} | {seconds / 60:.0f} min | {last} |")
    print(f"\ntotal training time {total / 3600:.2f} h (batch {batch})")


if __name__ == "__main__":
    main()
