"""``bodynet voxelize``: meshes or body parameters in, voxel sample files (docs/formats.md) out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bodynet_cli.cli.common import (
    BodyModelOpt,
    DeviceOpt,
    OutDir,
    ResOpt,
    console,
    finish_batch,
    is_tty,
    user_errors,
)


@user_errors
def voxelize(
    inputs: Annotated[
        list[Path], typer.Argument(help="Mesh files (.obj .ply .stl .off), .npz files with body parameters "
                                   "(betas, global_orient, body_pose, optional transl, scale, camera, crop) or "
                                   "with 'vertices' and 'faces', folders of them (searched recursively), or "
                                   "glob patterns.",
                                   show_default=False),
    ],
    out: OutDir,
    res: ResOpt = 128,
    parts: Annotated[
        bool, typer.Option("--parts", help="Also write 'part_voxels' (7 classes, nearest surface part); needs "
                           "inputs with the body model's topology.")
    ] = False,
    conservative: Annotated[
        bool, typer.Option("--conservative", help="Also mark every voxel the surface touches (binvox-like); "
                           "default: a voxel is occupied when its centre is inside.")
    ] = False,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, help="Fit mode (inputs without a camera): empty voxels on each "
                            "side of the mesh's longest side.")
    ] = 1.0,
    body_model: BodyModelOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Voxelize meshes into OUT/<name>.npz occupancy grids (sample files, docs/formats.md).

    A voxel is occupied when its centre is inside the mesh. Inputs with a 'camera' and a 'crop' are
    placed in BodyNet space (docs/formats.md); the others are centred with their longest side scaled
    to the grid ('fit' mode, axes kept, stored as 'fit_transform'). Bad inputs are reported and
    skipped (exit code 3).
    """
    from bodynet_cli.cli.common import resolve_device
    from bodynet_cli.pipelines.voxelize import VoxelizeOptions, voxelize_files

    dev = resolve_device(device)
    opts = VoxelizeOptions(res=res, parts=parts, conservative=conservative, margin=margin, device=dev)
    n_items, report = voxelize_files(inputs, out, body_model, opts, console=console, show_progress=is_tty())
    console.print(f"{report.done} of {n_items} inputs voxelized at {res}³ -> {out}")
    finish_batch(report.failures, n_items, "inputs")
