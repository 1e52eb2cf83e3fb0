"""``bodynet fit-smpl``: fit the body model to predicted voxels and joints, batched."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bodynet_cli.cli.common import (
    BatchSizeOpt,
    BodyModelOpt,
    DeviceOpt,
    OutDir,
    SeedOpt,
    console,
    finish_batch,
    is_tty,
    user_errors,
)


@user_errors
def fit_smpl(
    inputs: Annotated[
        list[Path], typer.Argument(help="Prediction .npz files (docs/formats.md: 'voxels' or "
                                   "'voxel_probs', 'joints3d', 'crop', optional 'camera') or folders of them (searched "
                                   "recursively), or glob patterns.", show_default=False),
    ],
    out: OutDir,
    body_model: BodyModelOpt = None,
    device: DeviceOpt = "auto",
    batch_size: BatchSizeOpt = 16,
    iters: Annotated[int, typer.Option("--iters", min=0, help="Most iterations of the surface stage "
                                       "(chamfer + joints); bodies stop early once their loss stalls.")] = 150,
    joint_iters: Annotated[int, typer.Option("--joint-iters", min=0, help="Most iterations of the first stage "
                                             "(orientation, translation and pose to the 16 joints).")] = 80,
    points: Annotated[int, typer.Option("--points", min=100, help="Surface points sampled from each grid's "
                                        "isosurface for the chamfer distance.")] = 3000,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Also try every body with its joints' left and "
                                       "right swapped (front/back confusions) and keep the better fit.")] = True,
    seed: SeedOpt = 0,
    threads: Annotated[int, typer.Option("--threads", min=1, help="CPU threads of the fit (CPU device only). "
                                         "Its many small operations gain little from more threads and lose "
                                         "much when other work shares the cores (benchmarks/bench_fit.py); "
                                         "run several processes to use many cores.")] = 1,
) -> None:
    """Fit the body model to each prediction: OUT/<name>.npz (fitted body, docs/formats.md) + OUT/<name>.obj.

    Stage 1 fits orientation, translation and pose to the 16 joints (Geman-McClure, pose prior);
    stage 2 adds shape and fits the isosurface of the grid (robust bidirectional chamfer + joints +
    shape and pose priors). With a 'camera' the result is in camera metres; without one the grid is
    taken as orthographic with a free scale and the result is in metres around the grid centre, at
    the estimated scale. Bad or empty inputs are reported and skipped (exit code 3).
    """
    import torch

    from bodynet_cli.cli.common import resolve_device
    from bodynet_cli.pipelines.fit_smpl import FitSmplOptions, fit_smpl_files

    dev = resolve_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(threads)
    opts = FitSmplOptions(batch_size=batch_size, iters=iters, joint_iters=joint_iters, points=points, flip=flip,
                          seed=seed, device=dev)  # fmt: skip
    n_items, report = fit_smpl_files(inputs, out, body_model, opts, console=console, show_progress=is_tty())
    console.print(f"{report.done} of {n_items} inputs fitted -> {out}")
    finish_batch(report.failures, n_items, "inputs")
