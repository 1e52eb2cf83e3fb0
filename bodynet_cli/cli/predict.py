"""``bodynet predict``: photos in, voxel grids, joints, segmentations (and meshes, pictures) out."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from bodynet_cli.cli.common import (
    BatchSizeOpt,
    DeviceOpt,
    OutDir,
    console,
    escape,
    finish_batch,
    is_tty,
    user_errors,
)
from bodynet_cli.errors import BodyNetError
from bodynet_cli.pipelines.predict.crops import DEFAULT_MARGIN


class CropMode(str, Enum):
    auto = "auto"
    full = "full"


class People(str, Enum):
    largest = "largest"
    all = "all"


class MeshFormat(str, Enum):
    obj = "obj"
    ply = "ply"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


@user_errors
def predict(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Image files, folders (searched recursively; sub-folders are mirrored in --out) "
                       "or glob patterns. PNG, JPEG, BMP, TIFF, WebP, GIF (one frame each); videos (MP4, AVI, MOV, "
                       "MKV, WebM, MPEG: every frame, or every --every'th, to OUT/<video>/<frame>.npz).",
                       show_default=False),
    ],
    out: OutDir,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", "-c", help="Checkpoint folder (model.safetensors + config.json). "
                     "Default: the bundled checkpoint.", file_okay=False),
    ] = None,
    crop: Annotated[
        CropMode,
        typer.Option("--crop", help="auto: the person front end (BlazePose) finds the people and each is cropped "
                     "around; full: the image is already a crop of one person (letterboxed to a square)."),
    ] = CropMode.auto,
    people: Annotated[
        People,
        typer.Option("--people", help="largest: one output per image, <name>.npz, for the largest person found; "
                     "all: one output per person found, <name>_p<k>.npz, k = 0, 1, ... largest first "
                     "(--crop auto)."),
    ] = People.largest,
    tiles: Annotated[
        bool | None,
        typer.Option("--tiles/--no-tiles", help="Also run the person detector on overlapping windows of each photo: "
                     "finds people the whole-photo pass misses (smaller or side-by-side people), at about 3× the "
                     "front end's time. Default: on with --people all, off with --people largest (the "
                     "whole-photo pass finds the largest person).", show_default=False),
    ] = None,
    boxes: Annotated[
        Path | None,
        typer.Option("--boxes", help="Person boxes instead of --crop auto: a JSON object mapping each image "
                     "to its x0, y0, x1, y1 (original pixels), or a CSV with the header image,x0,y0,x1,y1. "
                     "Images are matched by relative path, file name or stem.", dir_okay=False),
    ] = None,
    margin: Annotated[
        float, typer.Option("--margin", min=1.0, help="Crop side / person-box side (--crop auto and --boxes).")
    ] = DEFAULT_MARGIN,
    device: DeviceOpt = "auto",
    batch_size: BatchSizeOpt = 8,
    precision: Annotated[
        Precision, typer.Option("--precision", help="auto: bf16 on GPU, fp32 on CPU.")
    ] = Precision.auto,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Threads decoding images and threads writing outputs (each).")
    ] = 2,
    save_probs: Annotated[
        bool, typer.Option("--save-probs", help="Also store the voxel probabilities (float16) in each NPZ.")
    ] = False,
    mesh: Annotated[
        MeshFormat | None,
        typer.Option("--mesh", help="Also write the occupancy isosurface (marching cubes) as obj or ply, in "
                     "voxel-grid coordinates (x, y, z).", show_default=False),
    ] = None,
    viz: Annotated[
        bool, typer.Option("--viz", help="Also write <name>.viz.png: skeleton, segmentation, voxel views.")
    ] = False,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Skip images whose outputs all exist (resume a run).")
    ] = False,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="Occupancy probability level of a voxel.")
    ] = 0.5,
    max_side: Annotated[
        int, typer.Option("--max-side", min=64, help="Larger images are downscaled to this longer side first.")
    ] = 2048,
    every: Annotated[
        int, typer.Option("--every", min=1, help="Videos: predict every Nth frame (frames 0, N, 2N, ...).")
    ] = 1,
) -> None:
    """Predict a 3D body (voxels, 2D/3D joints, part segmentation) for every image; one NPZ per image.

    Writes OUT/<name>.npz (docs/formats.md), OUT/joints.json (all images) and OUT/failures.csv.
    Exit code 3 when any image failed (they are listed), 0 otherwise. Under
    `torchrun --nproc-per-node N -m bodynet_cli predict ...` the images are shared among the processes.
    """
    from bodynet_cli.cli.common import resolve_device
    from bodynet_cli.pipelines.predict.batch import predict_images
    from bodynet_cli.pipelines.predict.crops import read_boxes
    from bodynet_cli.pipelines.predict.run import PredictOptions

    if boxes is not None and crop == CropMode.full:
        raise BodyNetError("--boxes and --crop full exclude each other; pick one")
    dev = resolve_device(device)
    if precision == Precision.bf16 and dev.type != "cuda":
        console.print("[yellow]warning:[/yellow] --precision bf16 on CPU is slow on most CPUs")
    opts = PredictOptions(
        out=out,
        crop_mode="boxes" if boxes is not None else crop.value,
        people=people.value,
        boxes=read_boxes(boxes) if boxes is not None else None,
        margin=margin,
        batch_size=batch_size,
        workers=workers,
        save_probs=save_probs,
        mesh=mesh.value if mesh is not None else None,
        viz=viz,
        skip_existing=skip_existing,
        threshold=threshold,
        max_side=max_side,
    )
    run = predict_images(inputs, opts, checkpoint, dev, precision.value, console=console, show_progress=is_tty(),
                         every=every, tiles=people == People.all if tiles is None else tiles)
    if run.interrupted:
        if run.is_main:
            console.print(f"interrupted: {run.done} images written this run, every file complete; "
                          "run again with --skip-existing to resume")
        raise typer.Exit(130)
    if not run.is_main:
        raise typer.Exit(3 if run.failures else 0)
    for path, warning in sorted(run.warnings)[:10]:
        console.print(f"[yellow]warning:[/yellow] {escape(f'{path}: {warning}')}")
    if len(run.warnings) > 10:
        console.print(f"... and {len(run.warnings) - 10} more warnings (each output's meta lists its own)")
    people_note = f" ({run.people} people)" if opts.people == "all" else ""
    console.print(f"{run.done} written{people_note}, {run.skipped} already there, {len(run.failures)} failed; "
                  f"{run.listed} images in {out / 'joints.json'}")
    finish_batch(run.failures, run.n_images, what="images")
