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
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.inputs import check_out_dir


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

    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.body.model import BodyModel
    from bodynet_cli.cli.common import resolve_device
    from bodynet_cli.pipelines.batch import collect, progress_bar
    from bodynet_cli.pipelines.fit_smpl import FitSmplOptions, run_fit_smpl

    dev = resolve_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(threads)
    check_out_dir(out)
    items = collect(inputs, (".npz",), out)
    if not items:
        raise BodyNetError(f"no .npz files found in {', '.join(map(str, inputs))}")
    data = load_body_model(body_model)
    model = BodyModel(data).to(dev)
    opts = FitSmplOptions(batch_size=batch_size, iters=iters, joint_iters=joint_iters, points=points, flip=flip,
                          seed=seed, device=dev)  # fmt: skip
    with progress_bar("fit-smpl", console=console, enabled=is_tty(), fields=("{task.description}",)) as progress:
        task = progress.add_task("", total=len(items))
        report = run_fit_smpl(items, out, data, model, opts, on_progress=lambda n: progress.advance(task, n),
                              on_status=lambda text: progress.update(task, description=text))  # fmt: skip
    console.print(f"{report.done} of {len(items)} inputs fitted -> {out}")
    finish_batch(report.failures, len(items), "inputs")
