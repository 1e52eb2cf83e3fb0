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

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "assets" / "checkpoints" / "small"


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


def _checkpoint_dir(checkpoint: Path | None) -> Path:
    if checkpoint is not None:
        return checkpoint
    if not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
        raise BodyNetError(
            f"no default checkpoint is installed (looked in {DEFAULT_CHECKPOINT}); pass --checkpoint DIR, a "
            "folder with model.safetensors and config.json (e.g. one written by `bodynet train`)"
        )
    return DEFAULT_CHECKPOINT


@user_errors
def predict(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Image files, folders (searched recursively; sub-folders are mirrored in --out) "
                       "or glob patterns. PNG, JPEG, BMP, TIFF, WebP, GIF (one frame each).", show_default=False),
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
) -> None:
    """Predict a 3D body (voxels, 2D/3D joints, part segmentation) for every image; one NPZ per image.

    Writes OUT/<name>.npz (docs/formats.md), OUT/joints.json (all images) and OUT/failures.csv.
    Exit code 3 when any image failed (they are listed), 0 otherwise. Under
    `torchrun --nproc-per-node N -m bodynet_cli predict ...` the images are shared among the processes.
    """
    from bodynet_cli import __version__
    from bodynet_cli.cli.common import resolve_device
    from bodynet_cli.distributed import init_distributed, local_device, shutdown_distributed
    from bodynet_cli.io.images import discover_images
    from bodynet_cli.io.inputs import check_out_dir
    from bodynet_cli.models.checkpoint import load_checkpoint
    from bodynet_cli.pipelines.predict import distributed
    from bodynet_cli.pipelines.predict.crops import read_boxes
    from bodynet_cli.pipelines.predict.infer import Predictor
    from bodynet_cli.pipelines.predict.outputs import split_collisions, write_failures_csv, write_joints_json
    from bodynet_cli.pipelines.predict.run import PredictOptions, run_predict

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
    check_out_dir(out)
    items = discover_images(inputs, out)
    if not items:
        raise BodyNetError(f"no image files found in {' '.join(inputs)}")
    n_images = len(items)
    items, failures = split_collisions(items, out)
    ranks = init_distributed(dev)
    dev = local_device(dev, ranks)  # each torchrun process takes the GPU of its LOCAL_RANK
    loaded = load_checkpoint(_checkpoint_dir(checkpoint), dev)
    predictor = Predictor(loaded.model, dev, precision.value)
    front_end = None
    if opts.crop_mode == "auto" or predictor.needs_proxies:
        from bodynet_cli.people import FrontEnd

        front_end = FrontEnd(device=dev)
    cfg = loaded.config
    meta = {"tool": f"bodynet {__version__}", "model": cfg.name, "config_hash": cfg.hash(),
            "checkpoint_sha256": loaded.sha256}
    out.mkdir(parents=True, exist_ok=True)
    mine = distributed.shard(items, ranks)
    show = ranks.is_main and is_tty()
    from bodynet_cli.pipelines.batch import progress_bar

    with progress_bar("predict", console=console, enabled=show) as progress:
        task = progress.add_task("predict", total=len(mine))
        report = run_predict(mine, predictor, opts, meta, on_progress=lambda n: progress.advance(task, n),
                             front_end=front_end)  # fmt: skip
    interrupted = distributed.any_rank(report.interrupted, ranks)
    failures = failures + distributed.gather_lists(report.failures, ranks)
    warnings = distributed.gather_lists(report.warnings, ranks)
    done = sum(distributed.gather_lists([report.done], ranks))
    skipped = sum(distributed.gather_lists([report.skipped], ranks))
    people_written = sum(distributed.gather_lists([report.people], ranks))
    distributed.barrier(ranks)  # every rank's files are written before rank 0 lists them
    shutdown_distributed(ranks)
    if interrupted:
        if ranks.is_main:
            console.print(f"interrupted: {done} images written this run, every file complete; "
                          "run again with --skip-existing to resume")
        raise typer.Exit(130)
    if not ranks.is_main:
        raise typer.Exit(3 if failures else 0)
    for path, warning in sorted(warnings)[:10]:
        console.print(f"[yellow]warning:[/yellow] {escape(f'{path}: {warning}')}")
    if len(warnings) > 10:
        console.print(f"... and {len(warnings) - 10} more warnings (each output's meta lists its own)")
    write_failures_csv(out, failures)
    listed = write_joints_json(out, items, opts.mesh, opts.viz, opts.people)
    people_note = f" ({people_written} people)" if opts.people == "all" else ""
    console.print(f"{done} written{people_note}, {skipped} already there, {len(failures)} failed; "
                  f"{listed} images in {out / 'joints.json'}")
    finish_batch(failures, n_images, what="images")
