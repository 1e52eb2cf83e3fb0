"""``bodynet convert``: SURREAL, UP-3D or MPII frames as ground-truth sample files (synth layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bodynet_cli.cli.common import OutDir, console, finish_batch, is_tty, user_errors


@user_errors
def convert(
    dataset: Annotated[str, typer.Argument(help="surreal, up3d or mpii.", show_default=False)],
    path: Annotated[Path, typer.Argument(help="The dataset: SURREAL's folder (with train/ val/ test/ or "
                                         "<run>/<sequence>/), UP-3D's folder, or MPII's annotation file "
                                         "(.mat or .json).", show_default=False)],
    out: OutDir,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    frames: Annotated[str, typer.Option("--frames", help="SURREAL: all (every frame) or paper (the middle "
                                        "frame of the middle clip of each sequence; with --split val, the "
                                        "paper's SURREAL test protocol).")] = "all",
    clips: Annotated[Path | None, typer.Option("--clips", help="SURREAL: only the clips listed in this file, one "
                     "path per line ending in <run>/<sequence>/<clip>.mp4 (e.g. the BodyNet code's "
                     "fitting/testnames/namescmu.txt, the paper's 507 test clips); with --frames paper their "
                     "middle frames.", dir_okay=False)] = None,
    config: Annotated[str, typer.Option("--config", help="Model configuration whose input size and voxel "
                                        "resolution the samples take: small (128², 64³) or paper (256², 128³).")
                      ] = "small",
    body_model: Annotated[Path | None, typer.Option("--body-model", help="Your SMPL file, or a folder of the "
                          "female/male/neutral files (SMPL_FEMALE.pkl, ... or the SMPL release names); needed "
                          "for SURREAL and UP-3D.")] = None,
    mesh: Annotated[bool, typer.Option("--mesh/--no-mesh", help="Store the body mesh (vertices, faces) in each "
                                       "label file.")] = True,
) -> None:
    """Convert a published dataset into OUT/images/*.png (crops), OUT/labels/*.npz (ground truth in the
    sample schema) and OUT/index.json, for `bodynet eval`, `predict` and `train`. Reruns skip finished
    samples; a frame that fails is listed and the rest are converted (exit code 3)."""
    from bodynet_cli.data.datasets import KINDS, open_reader
    from bodynet_cli.errors import BodyNetError
    from bodynet_cli.pipelines.batch import progress_bar
    from bodynet_cli.pipelines.convert import convert_dataset

    kind = dataset.lower()
    if kind not in KINDS:
        raise BodyNetError(f"unknown dataset {dataset!r}; choose one of {', '.join(KINDS)}")
    if split not in ("train", "val", "test"):
        raise BodyNetError(f"--split {split!r}: choose train, val or test")
    if not path.exists():
        raise BodyNetError(f"{path}: no such file or folder")
    if kind in ("surreal", "up3d") and body_model is None:
        raise BodyNetError(f"{kind} ground truth needs your SMPL files: pass --body-model SMPL_FILE_OR_FOLDER")
    reader = open_reader(kind, path, split, body_model=body_model, frames=frames, clips=clips)
    with progress_bar(f"convert {kind}", console=console, enabled=is_tty()) as progress:
        task = progress.add_task("convert", total=len(reader))
        report = convert_dataset(reader, out, split, config_name=config, mesh=mesh,
                                 on_progress=lambda k: progress.advance(task, k))  # fmt: skip
    console.print(f"{report.written} written, {report.skipped} already there, {len(report.failures)} failed "
                  f"-> {out}/index.json")
    finish_batch(report.failures, report.n, "samples")
