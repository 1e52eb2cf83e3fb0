"""``bodynet eval``: score predictions (and fitted bodies) against ground truth, as the paper does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bodynet_cli.cli.common import BodyModelOpt, console, escape, finish_batch, is_tty, user_errors

_MAX_LISTED = 50  # longer lists of unpaired files go to metrics.json only


def _list(title: str, names: list[str], out: Path | None) -> None:
    if not names:
        return
    console.print(f"[yellow]unpaired:[/yellow] {len(names)} {title}")
    shown = names if out is None else names[:_MAX_LISTED]
    for n in shown:
        console.print(f"  {escape(n)}")
    if len(shown) < len(names):
        console.print(f"  ... and {len(names) - len(shown)} more, all listed in {out / 'metrics.json'}")


@user_errors
def eval_command(
    pred_dir: Annotated[
        Path, typer.Argument(help="Folder of prediction .npz files (`bodynet predict` output), searched "
                            "recursively.", show_default=False),
    ],
    gt: Annotated[
        Path, typer.Option("--gt", help="Folder of ground-truth .npz files (e.g. `bodynet synth` output); "
                           "paired with the predictions by relative path.", show_default=False),
    ],
    fits: Annotated[
        Path | None, typer.Option("--fits", help="Folder of `bodynet fit-smpl` .npz files, paired by relative "
                                  "path: adds the surface error against the ground-truth mesh (rebuilt from the "
                                  "label's body parameters with --body-model when the label has no mesh)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder for metrics.json and per_sample.csv "
                                  "(and the --plots); created if missing. Without it only the table is shown."),
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Occupancy level applied to 'voxel_probs' where a prediction "
                            "has them (voxel >= level); files with only bit-packed 'voxels' are used as "
                            "stored."),
    ] = 0.5,
    plots: Annotated[
        bool, typer.Option("--plots", help="Also write a PNG histogram per metric and worst_cases.png (needs "
                           "--out).")
    ] = False,
    worst: Annotated[int, typer.Option("--worst", min=1, help="Rows of the worst-cases gallery.")] = 8,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Threads reading and scoring pairs. Default: CPU "
                                 "count, at most 8."),
    ] = None,
    body_model: BodyModelOpt = None,
    pred_on_gt_crops: Annotated[
        bool, typer.Option("--pred-on-gt-crops", help="The predictions were made on the ground truth's crop "
                           "images (as `bodynet synth` writes images/): map their pixel coordinates into the "
                           "ground truth's frame with its 'crop' before scoring."),
    ] = False,
) -> None:
    """Score predictions against ground truth: voxel IoU, part-voxel IoU, segmentation mIoU, PCKh@0.5,
    3D joint error and (with --fits) surface error.

    Files pair by relative path; unpaired files are listed. Writes OUT/metrics.json and
    OUT/per_sample.csv with --out. Exit code 3 when a file was malformed or a pair mismatched
    (listed, the rest scored), 2 when nothing pairs up.
    """
    from rich.console import Console
    from rich.table import Table

    from bodynet_cli.metrics.catalog import METRICS, UNITS
    from bodynet_cli.pipelines.evaluate import evaluate_folders

    def list_unpaired(pairing) -> None:
        _list(f"prediction files have no ground truth in {gt}", pairing.pred_only, out)
        _list(f"ground-truth files have no prediction in {pred_dir}", pairing.gt_only, out)
        _list(f"pairs have no fitted body in {fits}", pairing.fits_missing, out)
        _list(f"fitted bodies in {fits} have no pair", pairing.fits_only, out)

    report, paths = evaluate_folders(pred_dir, gt, fits, out, threshold=threshold, workers=workers,
                                     pred_on_gt_crops=pred_on_gt_crops, plots=plots, worst=worst,
                                     body_model=body_model, on_pairing=list_unpaired, console=console,
                                     show_progress=is_tty())  # fmt: skip

    for note, count in sorted(report.notes().items()):
        console.print(f"[cyan]note:[/cyan] {note} ({count} of {len(report.samples)} pairs)")
    for m in METRICS:
        s = report.summaries[m]
        if s.n and s.skipped:
            skips = [k for smp in report.samples for k in smp.skips if k.metric == m]
            console.print(f"[yellow]skipped:[/yellow] {m} not scored for {s.skipped} pairs: {escape(skips[0].why)} "
                          f"(e.g. {escape(skips[0].path)})")

    table = Table(title=f"bodynet eval: {len(report.samples)} pairs")
    for col in ("metric", "mean", "median", "n", "note"):
        table.add_column(col, justify="right" if col in ("mean", "median", "n") else "left")
    for m in METRICS:
        s = report.summaries[m]
        unit = f" ({UNITS[m]})" if UNITS[m] else ""
        if s.n:
            fmt = "{:.1f}" if UNITS[m] else "{:.4f}"
            note = s.method or ""
            table.add_row(m + unit, fmt.format(s.mean), fmt.format(s.median), str(s.n), note)
        else:
            table.add_row(m + unit, "-", "-", "0", s.reason or "")
    Console(highlight=False, soft_wrap=True).print(table)

    if paths:
        console.print(f"wrote {', '.join(str(p) for p in paths)}")
    finish_batch(report.failures, len(report.samples), what="pairs")
