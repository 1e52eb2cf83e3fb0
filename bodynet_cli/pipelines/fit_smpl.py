"""The ``fit-smpl`` pipeline: the body model fitted to predicted voxels and joints, batched.

``run_fit_smpl`` reads each prediction into a fitting target (``fitting/targets.py``), fits the
targets ``batch_size`` at a time (``fitting/optimize.py``), and writes each fitted body file and its OBJ
mesh; bad inputs and diverged fits are recorded as failures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.errors import BodyNetError
from bodynet_cli.pipelines.batch import BatchReport, OutputClaims, failure


@dataclass(frozen=True)
class FitSmplOptions:
    """The command's settings (see ``bodynet fit-smpl --help``); ``device`` is the model's."""

    batch_size: int
    iters: int
    joint_iters: int
    points: int
    flip: bool
    seed: int
    device: object  # torch.device


def run_fit_smpl(items: list[tuple[Path, Path]], out: Path, data, model, opts: FitSmplOptions,
                 on_progress: Callable[[int], None], on_status: Callable[[str], None]) -> BatchReport:  # fmt: skip
    """Fit ``items`` (input file, output path relative to ``out``) with ``model`` (a ``BodyModel`` of the
    body-model ``data``, on ``opts.device``). ``on_progress(n)`` follows the items, ``on_status(text)`` the
    iterations of the batch being fitted."""
    import torch

    from bodynet_cli import __version__
    from bodynet_cli.body.conventions import SMPL_TO_BODYNET
    from bodynet_cli.fitting.optimize import FitOptions, fit_bodies
    from bodynet_cli.fitting.targets import target_from_sample
    from bodynet_cli.io.fitted_body import write_fitted_body
    from bodynet_cli.io.mesh import write_obj
    from bodynet_cli.io.sample import load_sample

    dev = opts.device
    with torch.no_grad():
        reference = model.rest_joints(torch.zeros(1, model.num_betas, device=dev))[0, SMPL_TO_BODYNET].cpu().numpy()
    options = FitOptions(joint_iters=opts.joint_iters, surface_iters=opts.iters, flip_hypothesis=opts.flip)
    settings = {"iters": opts.iters, "joint_iters": opts.joint_iters, "points": opts.points, "flip": opts.flip,
                "seed": opts.seed, "device": str(dev)}  # fmt: skip
    report = BatchReport()
    claims = OutputClaims(out)
    for start in range(0, len(items), opts.batch_size):
        ready = []
        for index, (src, rel) in enumerate(items[start:start + opts.batch_size], start):
            dst = out / rel
            try:
                if src.suffix.lower() != ".npz":
                    raise BodyNetError("not an .npz file; give prediction files written by `bodynet predict`")
                claims.claim(src, dst)
                sample = load_sample(src)
                rng = np.random.default_rng([opts.seed, index])
                ready.append((src, target_from_sample(sample, src, opts.points, rng, reference), dst))
            except BodyNetError as e:
                report.failures.append(failure(src, e))
                on_progress(1)
        if not ready:
            continue
        iterations = [0]

        def tick(n: int, iterations=iterations, size=len(ready)) -> None:
            iterations[0] += n
            on_status(f"batch of {size}, iteration {iterations[0]}")

        bodies = fit_bodies(model, [t for _, t, _ in ready], options, progress=tick)
        for (src, _, dst), body in zip(ready, bodies, strict=True):
            if not (np.all(np.isfinite(body.vertices)) and np.all(np.isfinite(body.betas))):
                report.failures.append(failure(src, BodyNetError(
                    "the fit diverged (non-finite values); check the input grid")))
                continue
            body.meta.update(tool=f"bodynet {__version__} fit-smpl", input=str(src), settings=settings)
            write_fitted_body(dst, body)
            write_obj(dst.with_suffix(".obj"), body.vertices, data.faces)
            report.done += 1
        on_progress(len(ready))
    return report


def fit_smpl_files(inputs: list[Path], out: Path, body_model: Path | None, opts: FitSmplOptions, *, console,
                   show_progress: bool) -> tuple[int, BatchReport]:  # fmt: skip
    """The ``fit-smpl`` pipeline as one call: find the inputs, load the body model (``body_model``, else the
    default), fit every input into ``out``. Progress goes to ``console``. Returns (inputs found, report)."""
    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.body.model import BodyModel
    from bodynet_cli.io.inputs import check_out_dir
    from bodynet_cli.pipelines.batch import collect, progress_bar

    check_out_dir(out)
    items = collect(inputs, (".npz",), out)
    if not items:
        raise BodyNetError(f"no .npz files found in {', '.join(map(str, inputs))}")
    data = load_body_model(body_model)
    model = BodyModel(data).to(opts.device)
    with progress_bar("fit-smpl", console=console, enabled=show_progress, fields=("{task.description}",)) as progress:
        task = progress.add_task("", total=len(items))
        report = run_fit_smpl(items, out, data, model, opts, on_progress=lambda n: progress.advance(task, n),
                              on_status=lambda text: progress.update(task, description=text))  # fmt: skip
    return len(items), report
