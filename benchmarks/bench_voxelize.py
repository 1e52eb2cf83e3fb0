"""Voxelize the bundled open body model: ours vs ``trimesh.voxelized(pitch).fill()`` in the same run.

    python benchmarks/bench_voxelize.py [--res 128] [--repeats 5] [--threads 1] [--device cpu]

Both voxelize the same rest-pose mesh on the same grid (trimesh's voxel centres), so the times and the
occupancies compare directly. Volume errors are against the mesh's analytic (divergence-theorem)
volume. Prints a table; times are the median over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import trimesh
from torch_setup import add_torch_options, torch_device

from bodynet_cli.body.load import load_body_model
from bodynet_cli.geometry.voxelize import check_watertight, label_part_voxels, voxelize_camera, voxelize_grid


def _median_time(fn, repeats: int, sync=lambda: None) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=128, help="voxels along the body's longest side")
    ap.add_argument("--repeats", type=int, default=5)
    add_torch_options(ap)
    args = ap.parse_args()
    dev, sync = torch_device(args)

    model = load_body_model()
    v, f = model.v_template, model.faces
    mesh = trimesh.Trimesh(v, f, process=False)
    assert check_watertight(f, v).watertight
    volume = mesh.volume
    pitch = float((v.max(0) - v.min(0)).max()) / (args.res - 2)

    t_tm, vox = _median_time(lambda: mesh.voxelized(pitch).fill(), max(1, min(args.repeats, 3)))
    # Our grid on trimesh's voxel centres: index i of trimesh is our index i + 1 (one voxel of margin).
    origin = vox.transform[:3, 3]
    res = int(max(vox.shape)) + 2
    v_grid = torch.tensor((v - origin) / pitch + 1.5, dtype=torch.float32, device=dev)
    faces = torch.as_tensor(f, device=dev)
    ref = np.zeros((res, res, res), bool)
    m = vox.matrix
    ref[1:1 + m.shape[2], 1:1 + m.shape[1], 1:1 + m.shape[0]] = m.transpose(2, 1, 0)  # (x, y, z) -> [z, y, x]

    rows = []
    t_ours, occ = _median_time(lambda: voxelize_grid(v_grid, faces, res, closed=True), args.repeats, sync)
    t_check, _ = _median_time(lambda: check_watertight(f, v), args.repeats)
    t_cons, cons = _median_time(lambda: voxelize_grid(v_grid, faces, res, conservative=True, closed=True),
                                args.repeats, sync)
    t_parts, _ = _median_time(lambda: label_part_voxels(occ, v_grid, faces, model.vertex_part7), args.repeats)
    B = 8
    batch = v_grid[None].expand(B, -1, -1).contiguous()
    t_batch, _ = _median_time(lambda: voxelize_grid(batch, faces, res, closed=True), args.repeats, sync)

    def row(name, t, grid):
        grid = np.asarray(grid.cpu() if isinstance(grid, torch.Tensor) else grid, bool)
        err = grid.sum() * pitch**3 / volume - 1
        iou = (grid & ref).sum() / (grid | ref).sum()
        rows.append((name, t * 1e3, t_tm / t, f"{100 * err:+.2f} %", f"{iou:.3f}"))

    row("trimesh voxelized(pitch).fill()", t_tm, ref)
    row("ours, exact (centre inside)", t_ours, occ)
    row("ours, conservative (binvox-like)", t_cons, cons)
    rows.append((f"ours, exact, batch of {B} (per mesh)", t_batch / B * 1e3, t_tm / (t_batch / B), "", ""))
    rows.append(("check_watertight", t_check * 1e3, t_tm / t_check, "", ""))
    rows.append(("label_part_voxels (7 parts)", t_parts * 1e3, t_tm / t_parts, "", ""))

    # BodyNet space: the same body 6 m in front of a camera, 128³ grid around it (perspective depth).
    cam_v = torch.tensor(v * [1, -1, -1] + [0, 0.95, 6.0], dtype=torch.float32, device=dev)
    from bodynet_cli.geometry.space import Camera, Crop

    camera, crop = Camera(600.0, 160.0, 120.0, 6.0), Crop(60.0, 20.0, 200.0, 256)
    t_cam, _ = _median_time(lambda: voxelize_camera(cam_v, faces, camera, crop, args.res, closed=True),
                            args.repeats, sync)
    rows.append((f"ours, BodyNet space (camera) {args.res}³", t_cam * 1e3, t_tm / t_cam, "", ""))

    print(f"body model {model.name}: {len(v)} vertices, {len(f)} faces, volume {volume * 1e3:.2f} L; "
          f"grid {res}³ (pitch {pitch * 1e3:.2f} mm), {args.threads} thread(s), device {dev}, "
          f"torch {torch.__version__}, trimesh {trimesh.__version__}")
    print(f"| {'method':<40} | {'time ms':>9} | {'speed-up vs trimesh':>19} | {'volume error':>12} | "
          f"{'IoU vs trimesh':>14} |")
    print(f"|{'-' * 42}|{'-' * 11}|{'-' * 21}|{'-' * 14}|{'-' * 16}|")
    for name, ms, ratio, err, iou in rows:
        print(f"| {name:<40} | {ms:>9.1f} | {ratio:>18.1f}x | {err:>12} | {iou:>14} |")


if __name__ == "__main__":
    main()
