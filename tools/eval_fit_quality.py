"""Quality of `bodynet fit-smpl` on ground-truth grids from `bodynet synth` (the README's numbers).

    python tools/eval_fit_quality.py --n 32            # synth 32 samples at 128³ (config paper), fit, score
    python tools/eval_fit_quality.py --data DIR        # an existing synth folder (DIR/labels/*.npz)
    python tools/eval_fit_quality.py --n 32 --no-camera

Only what a prediction file holds is given to the fit (voxels, joints3d, crop and, unless
--no-camera, camera); the ground-truth body is used for scoring only. Both come from the same body
model, so vertices correspond: surface error = mean per-vertex distance (mm); joint error = mean over
the 16 BodyNet joints after aligning the pelvis (mm). Without a camera the fit is in metres around
the grid centre at its own scale estimate, so its vertices are compared after aligning the pelvis,
and the estimated voxel size is compared with the true one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _camera_joints(joints3d: np.ndarray, camera: np.ndarray) -> np.ndarray:
    from bodynet_cli.geometry.space import joints3d_to_camera

    return joints3d_to_camera(joints3d[None].astype(np.float64), camera[None].astype(np.float64))[0]


def _stats(x: list[float]) -> str:
    a = np.asarray(x)
    return f"{a.mean():.1f} | {np.median(a):.1f} | {np.percentile(a, 90):.1f} | {a.max():.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32, help="samples to synthesise (ignored with --data)")
    ap.add_argument("--data", type=Path, help="an existing `bodynet synth` output folder")
    ap.add_argument("--seed", type=int, default=7, help="synth seed")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of the fit (fit-smpl --threads)")
    ap.add_argument("--no-camera", action="store_true", help="hide the camera: orthographic grid, free scale")
    ap.add_argument("--work", type=Path, help="keep the inputs and fits here (default: a temporary folder)")
    args = ap.parse_args()

    from bodynet_cli.body.conventions import PELVIS, SMPL_TO_BODYNET
    from bodynet_cli.geometry.space import Camera, Crop, voxel_size_m
    from bodynet_cli.io.fitted_body import read_fitted_body
    from bodynet_cli.io.sample import Sample, load_sample, save_sample

    work = args.work or Path(tempfile.mkdtemp(prefix="bodynet_fit_quality_"))
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    data = args.data
    if data is None:
        data = work / "synth"
        cmd = [sys.executable, "-m", "bodynet_cli", "synth", "--n", str(args.n), "--out", str(data), "--config",
               "paper", "--seed", str(args.seed)]
        subprocess.run(cmd, check=True, env=env)
    gt_files = sorted((data / "labels").glob("*.npz"))
    if args.data is not None:
        gt_files = gt_files[: args.n]
    inputs = work / "inputs"
    for f in gt_files:  # prediction-like inputs: nothing of the ground-truth body
        g = load_sample(f)
        save_sample(inputs / f.name, Sample(voxels=g.voxels, joints3d=g.joints3d, crop=g.crop,
                                            camera=None if args.no_camera else g.camera))
    fits = work / "fits"
    cmd = [sys.executable, "-m", "bodynet_cli", "fit-smpl", str(inputs), "--out", str(fits), "--batch-size",
           str(args.batch_size), "--device", "cpu", "--threads", str(args.threads)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"fit-smpl failed with exit code {p.returncode}")

    surface, joints, scale_err, flips = [], [], [], 0
    for f in gt_files:
        g, fit = load_sample(f), read_fitted_body(fits / f.name)
        gj = _camera_joints(g.joints3d, g.camera)
        fj = fit.joints[SMPL_TO_BODYNET].astype(np.float64)
        if args.no_camera:
            v_err = (fit.vertices - fj[PELVIS]) - (g.vertices - gj[PELVIS])
            true_voxel = voxel_size_m(Camera.from_array(g.camera), Crop.from_array(g.crop), g.voxels.shape[0])
            scale_err.append(100 * abs(fit.meta["voxel_size_m"] / true_voxel - 1))
        else:
            v_err = fit.vertices - g.vertices
        surface.append(1000 * np.linalg.norm(v_err, axis=1).mean())
        joints.append(1000 * np.linalg.norm((fj - fj[PELVIS]) - (gj - gj[PELVIS]), axis=1).mean())
        flips += bool(fit.meta["flipped"])

    n = len(gt_files)
    print(f"\nfit-smpl on {n} `bodynet synth` ground-truth grids ({gt_files[0].parent}), "
          f"{'no camera (free scale)' if args.no_camera else 'with camera'}, batch {args.batch_size}, "
          f"{args.threads} threads\n")
    print("| metric | mean | median | p90 | max |")
    print("|---|---|---|---|---|")
    label = "surface error, pelvis-aligned (mm)" if args.no_camera else "surface error, per vertex (mm)"
    print(f"| {label} | {_stats(surface)} |")
    print(f"| joint error, 16 joints, pelvis-aligned (mm) | {_stats(joints)} |")
    if scale_err:
        print(f"| voxel size error (%) | {_stats(scale_err)} |")
    print(f"\nfront/back swaps chosen: {flips} of {n}; wall time of the command {wall:.1f} s "
          f"({wall / n:.2f} s per body, model loading and file I/O included)")
    print(f"inputs and fits: {work}")


if __name__ == "__main__":
    main()
