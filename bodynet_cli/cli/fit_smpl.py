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
from bodynet_cli.io.inputs import check_out_dir, discover_inputs, same_path


def _collect(inputs: list[Path], out: Path | None = None) -> list[tuple[Path, Path]]:
    """(input file, output path relative to --out); folders are searched recursively and mirrored (files
    inside ``out`` excepted); a missing or non-NPZ file named explicitly is an item that fails and is
    reported."""
    found = discover_inputs(inputs, (".npz",), missing_ok=True, out=out)
    return [(it.path, it.rel.with_suffix(".npz")) for it in found]


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
    import numpy as np
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from bodynet_cli import __version__
    from bodynet_cli.body.conventions import SMPL_TO_BODYNET
    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.body.model import BodyModel
    from bodynet_cli.cli.common import resolve_device
    from bodynet_cli.fitting.fit import FitOptions, fit_bodies
    from bodynet_cli.fitting.targets import target_from_sample
    from bodynet_cli.io.fit import write_fitted_body, write_obj
    from bodynet_cli.io.sample import load_sample

    dev = resolve_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(threads)
    check_out_dir(out)
    items = _collect(inputs, out)
    if not items:
        raise BodyNetError(f"no .npz files found in {', '.join(map(str, inputs))}")
    data = load_body_model(body_model)
    model = BodyModel(data).to(dev)
    with torch.no_grad():
        reference = model.rest_joints(torch.zeros(1, model.num_betas, device=dev))[0, SMPL_TO_BODYNET].cpu().numpy()
    options = FitOptions(joint_iters=joint_iters, surface_iters=iters, flip_hypothesis=flip)
    settings = {"iters": iters, "joint_iters": joint_iters, "points": points, "flip": flip, "seed": seed,
                "device": str(dev)}
    failures: list[tuple[str, str]] = []
    written: dict[Path, Path] = {}
    n_done = 0
    with Progress(TextColumn("fit-smpl"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeRemainingColumn(), console=console, disable=not is_tty()) as progress:
        task = progress.add_task("", total=len(items))
        for start in range(0, len(items), batch_size):
            chunk = list(enumerate(items[start:start + batch_size], start))
            ready = []
            for index, (src, rel) in chunk:
                dst = out / rel
                try:
                    if src.suffix.lower() != ".npz":
                        raise BodyNetError("not an .npz file; give prediction files written by `bodynet predict`")
                    if dst in written.values() or any(d == dst for *_, d in ready):
                        raise BodyNetError(f"its output {dst} is already taken by another input; rename one")
                    if same_path(dst, src):
                        raise BodyNetError(f"the output would overwrite the input; choose another --out than {out}")
                    sample = load_sample(src)
                    rng = np.random.default_rng([seed, index])
                    ready.append((src, target_from_sample(sample, src, points, rng, reference), dst))
                except BodyNetError as e:
                    failures.append((str(src), str(e).removeprefix(f"{src}: ")))
                    progress.advance(task)
            if not ready:
                continue
            iterations = [0]

            def tick(n: int, iterations=iterations, size=len(ready)) -> None:
                iterations[0] += n
                progress.update(task, description=f"batch of {size}, iteration {iterations[0]}")

            bodies = fit_bodies(model, [t for _, t, _ in ready], options, progress=tick)
            for (src, _, dst), body in zip(ready, bodies, strict=True):
                if not (np.all(np.isfinite(body.vertices)) and np.all(np.isfinite(body.betas))):
                    failures.append((str(src), "the fit diverged (non-finite values); check the input grid"))
                    continue
                body.meta.update(tool=f"bodynet {__version__} fit-smpl", input=str(src), settings=settings)
                write_fitted_body(dst, body)
                write_obj(dst.with_suffix(".obj"), body.vertices, data.faces)
                written[src] = dst
                n_done += 1
            progress.advance(task, len(ready))
    console.print(f"{n_done} of {len(items)} inputs fitted -> {out}")
    finish_batch(failures, len(items), "inputs")
