"""The ``predict`` pipeline: decode images in worker threads, find the people in them and run the network
in the calling thread, write outputs in worker threads, so the network never waits for files.

One image gives one output (``--people largest``: ``<stem>.npz``) or one per person found (``--people
all``: ``<stem>_p<k>.npz``, k = 0, 1, ... by person size). A bad image is a recorded failure, never a
stopped run; Ctrl-C lets the writes in flight finish (each is atomic) and cancels the rest, so no
partial file is left behind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.images import LoadedImage, crop_pixels, load_input
from bodynet_cli.io.inputs import InputFile
from bodynet_cli.io.mesh import write_mesh
from bodynet_cli.io.sample import Sample, save_sample
from bodynet_cli.pipelines.batch import Failure
from bodynet_cli.pipelines.predict.crops import DEFAULT_MARGIN, box_for, letterbox_crop, square_crop
from bodynet_cli.pipelines.predict.infer import CropProxies, Prediction, Predictor
from bodynet_cli.pipelines.predict.outputs import OutputPaths, output_paths, person_item, write_png

if TYPE_CHECKING:
    from bodynet_cli.people import FrontEnd, Person

PANEL_TILE = 256
PEOPLE_MODES = ("largest", "all")


@dataclass(frozen=True)
class PredictOptions:
    """What to do with each image (the ``predict`` command's options).

    crop_mode: 'auto' (crop each person the front end finds), 'full' (the image is the crop), 'boxes'
        (from ``boxes``).
    people: 'largest' (one output per image) or 'all' (one per person found; crop_mode 'auto' only).
    boxes: per-image boxes (see ``crops.read_boxes``) for crop_mode 'boxes'.
    margin: crop side / person-box side for 'auto' and 'boxes'.
    mesh: None, 'obj' or 'ply'. viz: write the picture panel. threshold: occupancy level.
    max_side: larger images are downscaled to this longer side before anything else.
    """

    out: Path
    crop_mode: str = "auto"
    people: str = "largest"
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

    def __post_init__(self) -> None:
        if self.people not in PEOPLE_MODES:
            raise BodyNetError(f"--people {self.people!r}: choose one of {', '.join(PEOPLE_MODES)}")
        if self.people == "all" and self.crop_mode != "auto":
            raise BodyNetError("--people all needs --crop auto (the front end finds the people); "
                               "--crop full and --boxes give one output per image")


@dataclass
class RunReport:
    """done: images written now; people: outputs written now (one per person); skipped: images already
    complete (``--skip-existing``); failures: one per failed image; warnings: (image, warning) for images
    written with a caveat (also in their ``meta``)."""

    done: int = 0
    people: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False


@dataclass
class _Job:
    """One person of one image: what the network sees and where the outputs go.

    out_item: the image's path with this output's name (``rel``). person: the front end's person, in
    pixels of ``image.rgb`` (None when the front end did not run). index: k among ``found`` people.
    """

    item: InputFile
    out_item: InputFile
    image: LoadedImage
    crop: Crop
    person: Person | None = None
    index: int = 0
    found: int = 0
    pixels: np.ndarray | None = None
    mask: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def detected_joints(self) -> np.ndarray:
        """The front end's joints (J, 2) in original pixels (the person's are in pixels of ``image.rgb``)."""
        return np.asarray(self.person.joints2d, np.float64) * self.image.scale


def _resample(job: _Job) -> None:
    """The crop's pixels and, when there is a person, their mask > 0.5 over the crop (bool (I, I)): both
    made once, in a worker thread, for the network (proxies) and the written file alike."""
    job.pixels = crop_pixels(job.image, job.crop)
    if job.person is not None:
        job.mask = job.person.mask_in(_in_rgb(job.crop, job.image.scale)) > 0.5


def _reason(e: BaseException, item: InputFile) -> str:
    msg = str(e) if isinstance(e, BodyNetError) else f"{type(e).__name__}: {e}"
    prefix = f"{item.path}: "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg


def person_outputs(item: InputFile, people: str) -> InputFile:
    """The output item whose NPZ marks ``item`` as done: the image's own name, or person 0's."""
    return person_item(item, 0) if people == "all" else item


def visible_box(box: np.ndarray, image: LoadedImage) -> np.ndarray:
    """A person's box (pixels of ``image.rgb``) clipped to the image: the crop frames what is visible, and a
    person cut by the photo's edge stays cut at the crop's edge (as the training framings are), instead of
    the crop reaching into the blank outside to where the front end guesses the hidden limbs are."""
    h, w = image.rgb.shape[:2]
    return np.clip(np.asarray(box, np.float64), 0, [w, h, w, h])


def _jobs(item: InputFile, image: LoadedImage, found: list[Person] | None, opts: PredictOptions, size: int,
          need_person: bool) -> list[_Job]:  # fmt: skip
    """The crops to run for one image. ``found``: the front end's people (None when it did not run)."""
    k = image.scale  # original pixels per pixel of image.rgb (the front end saw image.rgb)
    if opts.crop_mode == "auto":
        assert found is not None
        if not found:
            raise BodyNetError(f"{item.path}: no person found by the front end; if there is one, give its box "
                               "with --boxes FILE, or use --crop full")
        chosen = found if opts.people == "all" else found[:1]
        return [
            _Job(item, person_item(item, i) if opts.people == "all" else item, image,
                 square_crop(visible_box(p.box, image) * k, opts.margin, size), p, i, len(found))
            for i, p in enumerate(chosen)
        ]  # fmt: skip
    if opts.crop_mode == "boxes":
        box = box_for(opts.boxes or {}, item.path, item.rel)
        if box is None:
            raise BodyNetError(f"{item.path}: no box for this image in the --boxes file")
        crop = square_crop(box, opts.margin, size)
        # the person the user boxed: the detection overlapping the box most
        person = None
        if found:
            from bodynet_cli.people.detection import box_iou

            ious = box_iou(np.asarray(box, np.float64), np.stack([np.asarray(p.box) * k for p in found]))
            person = found[int(np.argmax(ious))] if ious.max() > 0 else None
    else:
        crop = letterbox_crop(image.width, image.height, size)
        person = found[0] if found else None
    if need_person and person is None:
        raise BodyNetError(f"{item.path}: the front end found no person in the image or the box, and this "
                           "model takes the front end's joints and mask as input")
    return [_Job(item, item, image, crop, person, 0, len(found or []))]


def _batches(
    pool: ThreadPoolExecutor, items: list[InputFile], fn: Callable, batch_size: int, fail: Callable
) -> Iterator[list[tuple[InputFile, LoadedImage]]]:
    """Decoded images in input order, up to three batches ahead; bad images go to ``fail(item, e)``."""
    futures: deque[tuple[InputFile, Future]] = deque()
    it = iter(items)

    def fill() -> None:
        while len(futures) < 3 * batch_size:
            item = next(it, None)
            if item is None:
                return
            futures.append((item, pool.submit(fn, item)))

    batch: list[tuple[InputFile, LoadedImage]] = []
    fill()
    while futures:
        item, fut = futures.popleft()
        fill()
        try:
            batch.append((item, fut.result()))
        except Exception as e:  # a bad image is recorded and skipped, whatever broke
            fail(item, e)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_one(job: _Job, pred: Prediction, paths: OutputPaths, opts: PredictOptions, meta: dict) -> None:
    """Mesh and panel first, the NPZ last: an existing NPZ marks the output as done."""
    # Threshold the float16 probabilities that are stored, so voxels == voxel_probs > threshold in the file.
    occupied = pred.voxel_probs > opts.threshold
    if paths.mesh is not None:
        from bodynet_cli.geometry.isosurface import isosurface

        surface = isosurface(pred.voxel_probs, level=opts.threshold)
        write_mesh(paths.mesh, surface.vertices, surface.faces)
    if paths.panel is not None:
        from bodynet_cli.viz.panel import render_panel

        tile = crop_pixels(job.image, replace(pred.crop, size=PANEL_TILE))
        panel = render_panel(tile, pred.crop, pred.joints2d, pred.segmentation, pred.voxel_probs, opts.threshold)
        write_png(paths.panel, panel)
    detected = _detected(job)
    meta = {
        **meta,
        "input": str(job.item.path),
        "image_size": [job.image.width, job.image.height],
        "crop_mode": opts.crop_mode,
        "margin": opts.margin if opts.crop_mode != "full" else None,
        "voxel_threshold": opts.threshold,
        "people_found": job.found if job.person is not None or opts.crop_mode == "auto" else None,
        "person_index": job.index if job.person is not None else None,
        "person_score": round(float(job.person.score), 4) if job.person is not None else None,
        "warnings": job.warnings,
    }
    if job.item.frame is not None:  # a video frame: its number and time
        meta.update(frame=job.item.frame, time_s=job.image.time_s)
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
        **detected,
    )
    save_sample(paths.npz, sample)


def _detected(job: _Job) -> dict[str, np.ndarray]:
    """The front end's joints (original pixels) and person mask (over the crop), as sample fields."""
    if job.person is None:
        return {}
    return {
        "joints2d_detected": job.detected_joints.astype(np.float32),
        "joints2d_detected_score": np.asarray(job.person.joints2d_score, np.float32),
        "person_mask": job.mask.astype(np.uint8),
    }


def _in_rgb(crop: Crop, k: float) -> Crop:
    """A crop in original pixels -> the same crop in pixels of a ``LoadedImage.rgb`` downscaled by ``k``."""
    return Crop(crop.x0 / k, crop.y0 / k, crop.side / k, crop.size)


def _write_image(jobs: list[_Job], preds: list[Prediction], opts: PredictOptions, meta: dict) -> int:
    """Write every output of one image, person 0 last (its NPZ marks the image done). Returns the count."""
    for job, pred in reversed(list(zip(jobs, preds, strict=True))):
        _write_one(job, pred, output_paths(opts.out, job.out_item, opts.mesh, opts.viz), opts, meta)
    return len(jobs)


def run_predict(
    items: list[InputFile],
    predictor: Predictor,
    opts: PredictOptions,
    meta: dict,
    on_progress: Callable[[int], None] | None = None,
    front_end: FrontEnd | None = None,
) -> RunReport:
    """Predict every image of ``items`` (this process's share) into ``opts.out``.

    meta: what every output's ``meta`` records about the run (tool, model, checkpoint hash).
    on_progress(n): called as n more images are finished (written, skipped or failed).
    front_end: finds the people (``bodynet_cli.people.FrontEnd``); needed for crop_mode 'auto' and for
    models that take the front end's joints and mask as input.
    Returns the report; ``report.interrupted`` is True after Ctrl-C (the outputs written are complete).
    """
    need_person = predictor.needs_proxies
    if front_end is None and (opts.crop_mode == "auto" or need_person):
        raise BodyNetError("this prediction needs the person front end, but none was given")
    report = RunReport()
    advance = on_progress or (lambda n: None)
    size = predictor.config.input_size
    todo = []
    for item in items:
        marker = person_outputs(item, opts.people)
        if opts.skip_existing and output_paths(opts.out, marker, opts.mesh, opts.viz).done():
            report.skipped += 1
        else:
            todo.append(item)
    advance(report.skipped)
    loader = ThreadPoolExecutor(opts.workers, thread_name_prefix="bodynet-load")
    writer = ThreadPoolExecutor(opts.workers, thread_name_prefix="bodynet-write")
    writes: deque[tuple[InputFile, Future]] = deque()

    def fail(item: InputFile, e: BaseException) -> None:
        report.failures.append(Failure(str(item.path), _reason(e, item)))
        advance(1)

    def collect(block_until: int) -> None:
        """Account for finished writes; wait while more than ``block_until`` are in flight."""
        while writes and (writes[0][1].done() or len(writes) > block_until):
            item, fut = writes.popleft()
            try:
                report.people += fut.result()
                report.done += 1
                advance(1)
            except Exception as e:  # a failed write loses one image, not the run
                fail(item, e)

    def run_batch(batch: list[tuple[InputFile, LoadedImage]]) -> None:
        found: list = [None] * len(batch)
        if front_end is not None:
            found = front_end.detect([image.rgb for _, image in batch])
        groups: list[list[_Job]] = []
        for (item, image), people in zip(batch, found, strict=True):
            try:
                jobs = _jobs(item, image, people, opts, size, need_person)
            except Exception as e:
                fail(item, e)
                continue
            for j in jobs:
                j.warnings += image.warnings  # the decoder's (e.g. a very large image)
            groups.append(jobs)
        # resample every crop in the worker threads
        pending = [(jobs, [loader.submit(_resample, j) for j in jobs]) for jobs in groups]
        ready: list[list[_Job]] = []
        for jobs, futs in pending:
            try:
                for f in futs:
                    f.result()
                ready.append(jobs)
            except Exception as e:
                fail(jobs[0].item, e)
        flat = [j for jobs in ready for j in jobs]
        preds: list[Prediction] = []
        for s in range(0, len(flat), opts.batch_size):
            chunk = flat[s : s + opts.batch_size]
            proxies = _proxies(chunk) if need_person else None
            preds += predictor.predict(np.stack([j.pixels for j in chunk]), [j.crop for j in chunk], proxies)
        i = 0
        for jobs in ready:
            mine, i = preds[i : i + len(jobs)], i + len(jobs)
            item = jobs[0].item
            report.warnings += [(str(item.path), w) for j in jobs for w in j.warnings]
            if not opts.viz:
                for j in jobs:  # the writer no longer needs the pixels
                    j.image = replace(j.image, rgb=j.image.rgb[:0])
            writes.append((item, writer.submit(_write_image, jobs, mine, opts, meta)))
        collect(block_until=2 * opts.batch_size)  # bounded backlog: memory stays flat

    try:
        load = lambda it: load_input(it, max_side=opts.max_side)  # noqa: E731
        for batch in _batches(loader, todo, load, opts.batch_size, fail):
            run_batch(batch)
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


def _proxies(jobs: list[_Job]) -> CropProxies:
    """The front end's joints (original pixels), scores and masks (over each crop) of ``jobs``."""
    joints = np.stack([j.detected_joints for j in jobs])
    size = np.array([[[j.image.width, j.image.height]] for j in jobs], np.float64)
    # A joint the front end places outside the photo is a guess at a hidden limb: missing, as training's
    # joints beyond the crop's cut are.
    inside = ((joints >= 0) & (joints < size)).all(axis=-1)
    return CropProxies(
        joints2d=joints,
        scores=np.stack([np.asarray(j.person.joints2d_score, np.float32) for j in jobs]) * inside,
        mask=np.stack([j.mask for j in jobs]).astype(np.float32),  # binary, as the training proxies are
    )
