"""The ``predict`` pipeline as one call: images found and shared among processes, the checkpoint
and the person front end loaded, every image predicted (``run.py``), and the run's listing files
(``joints.json``, ``failures.csv``) written by the main process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bodynet_cli.errors import BodyNetError
from bodynet_cli.pipelines.batch import Failure
from bodynet_cli.pipelines.predict.run import PredictOptions


@dataclass
class PredictSummary:
    """What a ``predict`` run did, over all processes.

    n_images: images found; done, skipped: images written now / already complete; people: outputs
    written (``--people all``); failures, warnings: (image, message) records; listed: images in
    joints.json; interrupted: stopped by a signal (listing files not written); is_main: this process
    reports (rank 0).
    """

    n_images: int
    done: int = 0
    skipped: int = 0
    people: int = 0
    failures: list[Failure] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    listed: int = 0
    interrupted: bool = False
    is_main: bool = True


def predict_images(inputs: list[str], opts: PredictOptions, checkpoint: Path | None, device, precision: str, *,
                   console, show_progress: bool, every: int = 1, tiles: bool = False) -> PredictSummary:  # fmt: skip
    """Predict every image (and every ``every``-th frame of every video) of ``inputs`` into ``opts.out`` with the
    checkpoint (default: the bundled one) on ``device``. Under torchrun the images are shared among the
    processes. ``console`` shows progress when ``show_progress`` (main process only). tiles: the person
    detector also sees overlapping windows of each photo (``people.FrontEnd``)."""
    from bodynet_cli import __version__
    from bodynet_cli.distributed import init_distributed, local_device, shutdown_distributed
    from bodynet_cli.io.images import discover_images
    from bodynet_cli.io.inputs import check_out_dir
    from bodynet_cli.models.checkpoint import load_checkpoint, resolve_checkpoint
    from bodynet_cli.pipelines.batch import progress_bar
    from bodynet_cli.pipelines.predict import distributed
    from bodynet_cli.pipelines.predict.infer import Predictor
    from bodynet_cli.pipelines.predict.outputs import split_collisions, write_failures_csv, write_joints_json
    from bodynet_cli.pipelines.predict.run import run_predict

    out = opts.out
    check_out_dir(out)
    from bodynet_cli.io.video import expand_videos

    items = expand_videos(discover_images(inputs, out, videos=True), every)
    if not items:
        raise BodyNetError(f"no image or video files found in {' '.join(inputs)}")
    summary = PredictSummary(n_images=len(items))
    items, failures = split_collisions(items, out)
    ranks = init_distributed(device)
    device = local_device(device, ranks)  # each torchrun process takes the GPU of its LOCAL_RANK
    loaded = load_checkpoint(resolve_checkpoint(checkpoint), device)
    predictor = Predictor(loaded.model, device, precision)
    front_end = None
    if opts.crop_mode == "auto" or predictor.needs_proxies:
        from bodynet_cli.people import FrontEnd

        front_end = FrontEnd(device=device, tiles=tiles)
    cfg = loaded.config
    meta = {"tool": f"bodynet {__version__}", "model": cfg.name, "config_hash": cfg.hash(),
            "checkpoint_sha256": loaded.sha256}
    out.mkdir(parents=True, exist_ok=True)
    mine = distributed.shard(items, ranks)
    with progress_bar("predict", console=console, enabled=ranks.is_main and show_progress) as progress:
        task = progress.add_task("predict", total=len(mine))
        report = run_predict(mine, predictor, opts, meta, on_progress=lambda n: progress.advance(task, n),
                             front_end=front_end)  # fmt: skip
    summary.interrupted = distributed.any_rank(report.interrupted, ranks)
    summary.failures = failures + distributed.gather_lists(report.failures, ranks)
    summary.warnings = distributed.gather_lists(report.warnings, ranks)
    summary.done = sum(distributed.gather_lists([report.done], ranks))
    summary.skipped = sum(distributed.gather_lists([report.skipped], ranks))
    summary.people = sum(distributed.gather_lists([report.people], ranks))
    summary.is_main = ranks.is_main
    distributed.barrier(ranks)  # every rank's files are written before rank 0 lists them
    shutdown_distributed(ranks)
    if summary.interrupted or not ranks.is_main:
        return summary
    write_failures_csv(out, summary.failures)
    summary.listed = write_joints_json(out, items, opts.mesh, opts.viz, opts.people)
    return summary
