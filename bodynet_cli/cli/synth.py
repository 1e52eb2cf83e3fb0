"""``bodynet synth``: SURREAL-style synthetic training data with complete ground truth."""

from __future__ import annotations

from typing import Annotated

import typer

from bodynet_cli.cli.common import BodyModelOpt, OutDir, SeedOpt, console, finish_batch, is_tty, user_errors


@user_errors
def synth(
    out: OutDir,
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Number of samples (indices 0..N-1).")],
    config: Annotated[str, typer.Option(
        "--config", help="Model configuration whose input size and voxel resolution the data take: "
        "small (128², 64³) or paper (256², 128³).")] = "small",
    seed: SeedOpt = 0,
    workers: Annotated[int, typer.Option("--workers", "-j", min=1, help="Worker processes.")] = 1,
    body_model: BodyModelOpt = None,
    mesh: Annotated[bool, typer.Option(
        "--mesh/--no-mesh", help="Store the body mesh (vertices, faces) in each label file; --no-mesh makes "
        "files about 25x smaller (the body parameters still define the mesh).")] = True,
) -> None:
    """Render N synthetic people (random shape, pose from a library of everyday and sports poses,
    photo-like framing from full body to close-up, face, hair, clothing, light, background, sometimes a
    second person) into OUT/images/*.png, with ground truth in OUT/labels/*.npz (joints, segmentation,
    person mask, voxels, body parameters, camera) and OUT/index.json (train/val/test splits, settings).
    Same seed, same files; reruns skip finished samples."""
    from bodynet_cli.pipelines.batch import progress_bar
    from bodynet_cli.pipelines.synth import write_dataset

    with progress_bar("synth", console=console, enabled=is_tty()) as progress:
        task = progress.add_task("synth", total=n)
        report = write_dataset(out, n, config_name=config, seed=seed, workers=workers, body_model=body_model,
                               mesh=mesh, on_progress=lambda k: progress.advance(task, k))
    console.print(f"{report.written} written, {report.skipped} already there, {len(report.failures)} failed "
                  f"-> {out}/index.json")
    finish_batch(report.failures, n, "samples")
