"""The ``predict`` pipeline: decode images in worker threads, run the network in the calling thread,
write outputs in worker threads, so the network never waits for files.

A bad image is a recorded failure, never a stopped run; Ctrl-C lets the writes in flight finish
(each is atomic) and cancels the rest, so no partial file is left behind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.images import LoadedImage, load_image
from bodynet_cli.io.inputs import InputFile
from bodynet_cli.io.sample import Sample, save_sample
from bodynet_cli.predict.crops import DEFAULT_MARGIN, box_for, crop_pixels, letterbox_crop, square_crop
from bodynet_cli.predict.infer import Prediction, Predictor
from bodynet_cli.predict.outputs import OutputPaths, output_paths, write_mesh, write_png

PANEL_TILE = 256


@dataclass(frozen=True)
class PredictOptions:
    """What to do with each image (the ``predict`` command's options).

    crop_mode: 'auto' (find the person), 'full' (the image is the crop), 'boxes' (from ``boxes``).
    boxes: per-image boxes (see ``crops.read_boxes``) for crop_mode 'boxes'.
    margin: crop side / person-box side for 'auto' and 'boxes'.
    mesh: None, 'obj' or 'ply'. viz: write the picture panel. threshold: occupancy level.
    max_side: larger images are downscaled to this longer side before anything else.
    """

    out: Path
    crop_mode: str = "auto"
    boxes: dict[str, np.ndarray] | None = None
    margin: float = DEFAULT_MARGIN
    batch_size: int = 8
    workers: int = 2
    save_probs: bool = False
    mesh: str | None = None
    viz: bool = False
    skip_existing: bool = False
    threshold: float = 0.5
    max_side: int = 2048


@dataclass
class RunReport:
    """done: images written now; skipped: already complete (``--skip-existing``); failures: (image, reason);
    warnings: (image, warning) for images written with a caveat (also in their ``meta``)."""

    done: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False


@dataclass
class _Prepared:
    item: InputFile
    image: LoadedImage
    crop: Crop  # the letterbox in 'auto' mode until the person is found, else the final crop
    pixels: np.ndarray  # uint8 (I, I, 3)
    warnings: list[str] = field(default_factory=list)


def _reason(e: BaseException, item: InputFile) -> str:
    msg = str(e) if isinstance(e, BodyNetError) else f"{type(e).__name__}: {e}"
    prefix = f"{item.path}: "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg


def _prepare(item: InputFile, opts: PredictOptions, size: int) -> _Prepared:
    image = load_image(item.path, max_side=opts.max_side)
    if opts.crop_mode == "boxes":
        box = box_for(opts.boxes or {}, item.path, item.rel)
        if box is None:
            raise BodyNetError(f"{item.path}: no box for this image in the --boxes file")
        crop = square_crop(box, opts.margin, size)
    else:
        crop = letterbox_crop(image.width, image.height, size)
    return _Prepared(item, image, crop, crop_pixels(image, crop), list(image.warnings))


def _batches(
    pool: ThreadPoolExecutor, items: list[InputFile], fn: Callable, batch_size: int, fail: Callable
) -> Iterator[list[_Prepared]]:
    """Prepared batches in input order, decoding up to three batches ahead; bad images go to ``fail(item, e)``."""
    futures: deque[tuple[InputFile, Future]] = deque()
    it = iter(items)

    def fill() -> None:
        while len(futures) < 3 * batch_size:
            item = next(it, None)
            if item is None:
                return
            futures.append((item, pool.submit(fn, item)))

    batch: list[_Prepared] = []
    fill()
    while futures:
        item, fut = futures.popleft()
        fill()
        try:
            batch.append(fut.result())
        except Exception as e:  # a bad image is recorded and skipped, whatever broke
            fail(item, e)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(p: _Prepared, pred: Prediction, paths: OutputPaths, opts: PredictOptions, meta: dict) -> None:
    """Mesh and panel first, the NPZ last: an existing NPZ marks the image as done."""
    # Threshold the float16 probabilities that are stored, so voxels == voxel_probs > threshold in the file.
    occupied = pred.voxel_probs > opts.threshold
    if paths.mesh is not None:
        from bodynet_cli.geometry.isosurface import isosurface

        surface = isosurface(pred.voxel_probs, level=opts.threshold)
        write_mesh(paths.mesh, surface.vertices, surface.faces)
    if paths.panel is not None:
        from bodynet_cli.viz.panel import render_panel

        tile = crop_pixels(p.image, replace(pred.crop, size=PANEL_TILE))
        panel = render_panel(tile, pred.crop, pred.joints2d, pred.segmentation, pred.voxel_probs, opts.threshold)
        write_png(paths.panel, panel)
    meta = {
        **meta,
        "input": str(p.item.path),
        "image_size": [p.image.width, p.image.height],
        "crop_mode": opts.crop_mode,
        "margin": opts.margin if opts.crop_mode != "full" else None,
        "voxel_threshold": opts.threshold,
        "warnings": p.warnings,
    }
    sample = Sample(
        voxels=occupied,
        voxel_probs=pred.voxel_probs if opts.save_probs else None,
        part_voxels=pred.part_voxels,
        joints2d=pred.joints2d,
        joints2d_score=pred.joints2d_score,
        joints3d=pred.joints3d,
        segmentation=pred.segmentation,
        crop=pred.crop.to_array(),
        meta=meta,
    )
    save_sample(paths.npz, sample)


def run_predict(
    items: list[InputFile],
    predictor: Predictor,
    opts: PredictOptions,
    meta: dict,
    on_progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Predict every image of ``items`` (this process's share) into ``opts.out``.

    meta: what every output's ``meta`` records about the run (tool, model, checkpoint hash).
    on_progress(n): called as n more images are finished (written, skipped or failed).
    Returns the report; ``report.interrupted`` is True after Ctrl-C (the outputs written are complete).
    """
    report = RunReport()
    advance = on_progress or (lambda n: None)
    size = predictor.config.input_size
    todo = []
    for item in items:
        if opts.skip_existing and output_paths(opts.out, item, opts.mesh, opts.viz).done():
            report.skipped += 1
        else:
            todo.append(item)
    advance(report.skipped)
    loader = ThreadPoolExecutor(opts.workers, thread_name_prefix="bodynet-load")
    writer = ThreadPoolExecutor(opts.workers, thread_name_prefix="bodynet-write")
    writes: deque[tuple[InputFile, Future]] = deque()

    def fail(item: InputFile, e: BaseException) -> None:
        report.failures.append((str(item.path), _reason(e, item)))
        advance(1)

    def collect(block_until: int) -> None:
        """Account for finished writes; wait while more than ``block_until`` are in flight."""
        while writes and (writes[0][1].done() or len(writes) > block_until):
            item, fut = writes.popleft()
            try:
                fut.result()
                report.done += 1
                advance(1)
            except Exception as e:  # a failed write loses one image, not the run
                fail(item, e)

    def run_batch(batch: list[_Prepared], recrops: dict[int, Future]) -> None:
        for i, f in recrops.items():  # the person crops of 'auto' mode, resampled while the network was busy
            try:
                f.result()
            except Exception as e:
                fail(batch[i].item, e)
        batch = [p for i, p in enumerate(batch) if i not in recrops or recrops[i].exception() is None]
        if not batch:
            return
        preds = predictor.predict(np.stack([p.pixels for p in batch]), [p.crop for p in batch])
        for p, pred in zip(batch, preds, strict=True):
            report.warnings += [(str(p.item.path), w) for w in p.warnings]
            paths = output_paths(opts.out, p.item, opts.mesh, opts.viz)
            if not opts.viz:
                p.image = replace(p.image, rgb=p.image.rgb[:0])  # the writer no longer needs the pixels
            writes.append((p.item, writer.submit(_write, p, pred, paths, opts, meta)))
        collect(block_until=2 * opts.batch_size)  # bounded backlog: memory stays flat

    try:
        # 'auto' runs one batch behind: people are found in batch k, then batch k - 1 goes through the
        # whole model while batch k's crops are resampled in the worker threads.
        waiting: tuple[list[_Prepared], dict[int, Future]] | None = None
        for batch in _batches(loader, todo, lambda it: _prepare(it, opts, size), opts.batch_size, fail):
            if opts.crop_mode == "auto":
                recrops = _find_people(batch, predictor, loader, opts.margin, size)
                if waiting is not None:
                    run_batch(*waiting)
                waiting = (batch, recrops)
            else:
                run_batch(batch, {})
        if waiting is not None:
            run_batch(*waiting)
        collect(block_until=0)
    except KeyboardInterrupt:
        report.interrupted = True
        loader.shutdown(wait=False, cancel_futures=True)
        writer.shutdown(wait=True, cancel_futures=True)  # writes in progress finish; atomic either way
        report.done += sum(1 for _, f in writes if f.done() and not f.cancelled() and f.exception() is None)
    finally:
        loader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True)
    return report


def _find_people(
    batch: list[_Prepared], predictor: Predictor, pool: ThreadPoolExecutor, margin: float, size: int
) -> dict[int, Future]:
    """'auto' crops: the segmentation sub-net on each letterboxed image gives the person's box; nobody
    found keeps the whole (letterboxed) image and records a warning in the output's meta.
    Returns the futures of the person crops being resampled, by index in ``batch`` (each sets ``pixels``)."""
    boxes = predictor.locate(np.stack([p.pixels for p in batch]), [p.crop for p in batch])

    def recrop(p: _Prepared) -> None:
        p.pixels = crop_pixels(p.image, p.crop)

    futures = {}
    for i, (p, box) in enumerate(zip(batch, boxes, strict=True)):
        if box is None:
            p.warnings.append("no person found by the segmentation sub-net; used the whole image")
        else:
            p.crop = square_crop(box, margin, size)
            futures[i] = pool.submit(recrop, p)
    return futures
