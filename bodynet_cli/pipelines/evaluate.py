"""The ``eval`` pipeline: pair prediction and ground-truth files, score each pair, aggregate, report.

Both sides are sample files (docs/formats.md), paired by their path relative to their folder.
Fitted bodies (``fit-smpl`` output) are paired the same way. Each pair is scored in a worker
thread (file reading and numpy release the GIL); voxel IoU runs on the bit-packed bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import JOINT_NAMES, NUM_SEG, NUM_VOXEL_PARTS, SEG_CLASSES, VOXEL_PARTS
from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop, crop_pixel_centres, joints3d_to_camera
from bodynet_cli.io.npz import atomic_write_bytes, read_npz
from bodynet_cli.io.sample import Sample, sample_from_arrays
from bodynet_cli.metrics.arrays import mean_finite
from bodynet_cli.metrics.catalog import METRICS, UNITS
from bodynet_cli.metrics.iou import class_iou, confusion_matrix, voxel_iou_packed
from bodynet_cli.metrics.joints import head_box_size, head_size, joint3d_distances_mm, pckh_correct
from bodynet_cli.metrics.surface import point_to_surface_mm, surface_error_mm
from bodynet_cli.pipelines.batch import Failure

# What eval reads from each side; ``voxel_probs`` only from predictions (re-thresholded), never meta.
_PRED_KEYS = ("voxels", "voxel_shape", "voxel_probs", "part_voxels", "joints2d", "joints3d", "segmentation",
              "crop", "camera")  # fmt: skip
_GT_KEYS = ("voxels", "voxel_shape", "part_voxels", "joints2d", "joints3d", "segmentation", "crop", "camera",
            "joints2d_visible", "head_box")  # fmt: skip
_GT_MESH_KEYS = ("vertices", "faces")
# Labels written without their mesh (``synth --no-mesh``) keep the body's parameters: the mesh is rebuilt.
_GT_BODY_KEYS = ("betas", "global_orient", "body_pose", "transl", "meta")


class GroundTruthMeshes:
    """Ground-truth meshes rebuilt from a label's body parameters (camera frame: the body model posed with
    ``betas``, ``global_orient``, ``body_pose``, plus ``transl``, as ``synth`` made them) for labels that
    carry no ``vertices``. The body model (``--body-model``, else the usual look-up) is loaded on first use
    and must be the one the label names in ``meta["body_model"]``."""

    def __init__(self, body_model: str | os.PathLike | None = None):
        import threading

        self._path = body_model
        self._lock = threading.Lock()
        self._model = None
        self._data = None

    def rebuild(self, g: Sample, gt_path: Path) -> tuple[np.ndarray, np.ndarray]:
        """(vertices (V, 3) camera metres, faces (F, 3)) of the label ``g`` read from ``gt_path``."""
        import torch

        from bodynet_cli.body.load import load_body_model
        from bodynet_cli.body.model import BodyModel

        with self._lock:
            if self._model is None:
                self._data = load_body_model(self._path)
                self._model = BodyModel(self._data)
        named = g.meta.get("body_model")
        if named is not None and named != self._data.model_id:
            raise BodyNetError(f"{gt_path}: its body parameters are for the body model {named}, not "
                               f"{self._data.model_id}; pass that model with --body-model")
        t = lambda a: torch.as_tensor(np.asarray(a, np.float32))[None]  # noqa: E731
        with torch.no_grad():
            v = self._model(t(g.betas), t(g.global_orient), t(g.body_pose), t(g.transl)).vertices[0]
        return v.numpy(), np.asarray(self._data.faces)


@dataclass
class Pairing:
    """Relative paths (posix, with ``.npz``) found under the folders, and how they pair up."""

    names: list[str]
    pred_only: list[str]
    gt_only: list[str]
    fits_missing: list[str] = field(default_factory=list)  # pairs with no fitted body (``--fits`` given)
    fits_only: list[str] = field(default_factory=list)


def find_samples(root: Path) -> dict[str, Path]:
    """Every ``.npz`` under ``root`` by its posix path relative to ``root``; a dangling link or a link loop
    is kept too (reading it fails, so the pair is listed rather than silently missing)."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*.npz"))
            if p.is_file() or (p.is_symlink() and not p.exists())}  # fmt: skip


def pair_files(pred_dir: Path, gt_dir: Path, fits_dir: Path | None = None) -> Pairing:
    """Pair the sample files of ``pred_dir`` and ``gt_dir`` (and the fits) by relative path.

    Raises ``BodyNetError`` when a folder is missing or no file pairs up.
    """
    for opt, d in (("PRED_DIR", pred_dir), ("--gt", gt_dir), ("--fits", fits_dir)):
        if d is not None and not Path(d).is_dir():
            raise BodyNetError(f"{opt} {d}: no such folder")
    pred, gt = find_samples(Path(pred_dir)), find_samples(Path(gt_dir))
    names = sorted(pred.keys() & gt.keys())
    pairing = Pairing(names, sorted(pred.keys() - gt.keys()), sorted(gt.keys() - pred.keys()))
    if fits_dir is not None:
        fits = find_samples(Path(fits_dir))
        pairing.fits_missing = sorted(set(names) - fits.keys())
        pairing.fits_only = sorted(fits.keys() - set(names))
    if not names:
        raise BodyNetError(
            f"no file of {pred_dir} ({len(pred)} .npz) has a ground truth of the same relative path in "
            f"{gt_dir} ({len(gt)} .npz); name predictions after their images, mirroring sub-folders"
        )
    return pairing


@dataclass
class Skip:
    """A metric not scored for one pair, and why (not an error: an optional key is absent)."""

    metric: str
    path: str
    why: str


@dataclass
class SampleScores:
    """The scores of one pair; NaN where a metric was not scored (see ``skips`` and ``errors``).

    per_part (6,), per_seg_class (14,): IoU of each body part (NaN when absent from both).
    pckh_joints (16,): 1.0 / 0.0 per joint. joint3d_mm (16,): per-joint error.
    surface_method: ``per-vertex`` or ``point-to-surface`` when surface_error_mm was scored.
    notes: what was done to make the two sides comparable (resizing, warping, camera borrowing).
    errors: malformed or mismatched inputs, each naming the file and the key (the run exits 3).
    """

    name: str
    voxel_iou: float = math.nan
    part_voxel_iou: float = math.nan
    segmentation_miou: float = math.nan
    pckh: float = math.nan
    joint3d_error_mm: float = math.nan
    surface_error_mm: float = math.nan
    surface_method: str = ""
    per_part: np.ndarray | None = None
    per_seg_class: np.ndarray | None = None
    pckh_joints: np.ndarray | None = None
    joint3d_mm: np.ndarray | None = None
    skips: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def align_segmentation(seg: np.ndarray, src_crop: Crop | None, dst_crop: Crop | None,
                       out_shape: tuple[int, int]) -> np.ndarray:
    """Resample a label map made over ``src_crop`` onto the pixel grid of ``dst_crop``, nearest label.

    seg: (H, W) labels over the square crop ``src_crop``; out_shape: (H', W') of the target map
    over ``dst_crop``. Target pixel centres are mapped to original-image pixels and back into
    ``seg``; centres outside it get 0 (background). With either crop unknown both are taken to be
    the same crop (a plain nearest-neighbour resize).
    """
    h, w = seg.shape
    u, v = crop_pixel_centres(out_shape, dst_crop, src_crop)
    cols, rows = np.floor(u * w).astype(np.int64), np.floor(v * h).astype(np.int64)
    ok = (rows[:, None] >= 0) & (rows[:, None] < h) & (cols[None] >= 0) & (cols[None] < w)
    out = seg[np.clip(rows, 0, h - 1)[:, None], np.clip(cols, 0, w - 1)[None]]
    return np.where(ok, out, 0).astype(seg.dtype)


def _load(path: Path, keys: tuple[str, ...]) -> tuple[dict, Sample]:
    z = read_npz(path, keys)
    return z, sample_from_arrays(path, z, unpack=False)


def _crop(s: Sample) -> Crop | None:
    return None if s.crop is None else Crop.from_array(s.crop)


def _read_fit_vertices(path: Path) -> tuple[np.ndarray, dict]:
    from bodynet_cli.io.fitted_body import read_fitted_body

    body = read_fitted_body(path)
    return body.vertices, body.meta


def pred_to_gt_frame(p: Sample, g: Sample, gt_path: Path) -> Sample:
    """Re-express a prediction made on the ground truth's crop image in the ground truth's pixels.

    ``synth`` saves each image as the crop ``g.crop`` = (x0, y0, S, size) resized to ``size`` pixels,
    so a prediction on that image has its pixel coordinates in the crop: u_original = x0 + u·S/size.
    Maps ``joints2d``, the x, y of ``joints3d`` and the prediction's own ``crop``.
    """
    if g.crop is None:
        raise BodyNetError(f"{gt_path}: no 'crop', so predictions cannot be mapped into its frame; "
                           "drop --pred-on-gt-crops")
    gc = Crop.from_array(g.crop)
    if p.joints2d is not None:
        p.joints2d = gc.crop_to_image(p.joints2d.astype(np.float64)).astype(np.float32)
    if p.joints3d is not None:
        j = p.joints3d.astype(np.float64).copy()
        j[:, :2] = gc.crop_to_image(j[:, :2])
        p.joints3d = j.astype(np.float32)
    if p.crop is not None:
        p.crop = gc.compose(p.crop).astype(np.float32)
    return p


def score_pair(name: str, pred_path: Path, gt_path: Path, fit_path: Path | None = None,
               threshold: float = 0.5, fits_given: bool = False, pred_on_gt_crops: bool = False,
               meshes: GroundTruthMeshes | None = None) -> SampleScores:  # fmt: skip
    """Score one prediction file against its ground truth (and its fitted body, if any).

    pred_on_gt_crops: the prediction was made on the ground truth's crop image (``synth``'s
    ``images/``); its pixel coordinates are mapped into the ground truth's frame first.
    meshes: rebuilds the ground-truth mesh from its body parameters where the label has no ``vertices``.
    """
    out = SampleScores(name)
    try:
        zp, p = _load(pred_path, _PRED_KEYS)
        zg, g = _load(gt_path, _GT_KEYS + (_GT_MESH_KEYS + _GT_BODY_KEYS if fits_given else ()))
        if pred_on_gt_crops:
            p = pred_to_gt_frame(p, g, gt_path)
    except BodyNetError as e:
        out.errors.append(str(e))
        return out

    def need(metric: str, key: str) -> bool:
        for side, path, z in (("prediction", pred_path, zp), ("ground truth", gt_path, zg)):
            if key not in z:
                out.skips.append(Skip(metric, str(path), f"the {side} has no {key!r}"))
                return False
        return True

    for fn in (_score_voxels, _score_part_voxels, _score_segmentation, _score_pckh, _score_joints3d):
        try:
            fn(out, need, p, g, zp, zg, pred_path, gt_path, threshold)
        except BodyNetError as e:
            out.errors.append(str(e))
    if fits_given:
        try:
            _score_surface(out, g, p, fit_path, gt_path, pred_path, meshes)
        except BodyNetError as e:
            out.errors.append(str(e))
    return out


def _score_voxels(out, need, p, g, zp, zg, pred_path, gt_path, threshold):
    if not need("voxel_iou", "voxels"):
        return
    shape_p, shape_g = tuple(zp["voxel_shape"].tolist()), tuple(zg["voxel_shape"].tolist())
    if shape_p != shape_g:
        raise BodyNetError(f"{pred_path}: key 'voxel_shape' is {shape_p} but {gt_path} has {shape_g}; "
                           "evaluate grids of one resolution")
    if p.voxel_probs is not None:
        packed = np.packbits(p.voxel_probs.ravel() >= threshold)
        out.notes.append(f"voxels: thresholded 'voxel_probs' at {threshold}")
    else:
        packed = zp["voxels"].ravel()
    if not zg["voxels"].any():  # IoU against nothing is undefined (0/0 when the prediction is empty too)
        raise BodyNetError(f"{gt_path}: key 'voxels' has no occupied voxel; a ground truth needs a body")
    out.voxel_iou = float(voxel_iou_packed(packed[None], zg["voxels"].ravel()[None])[0])
    if p.crop is not None and g.crop is not None and not np.allclose(p.crop[:3], g.crop[:3], atol=1e-3):
        out.notes.append("voxels: the two grids come from different crops and are compared as stored")


def _score_part_voxels(out, need, p, g, zp, zg, pred_path, gt_path, threshold):
    if not need("part_voxel_iou", "part_voxels"):
        return
    if p.part_voxels.shape != g.part_voxels.shape:
        raise BodyNetError(f"{pred_path}: key 'part_voxels' has shape {p.part_voxels.shape} but {gt_path} has "
                           f"{g.part_voxels.shape}")
    iou = class_iou(confusion_matrix(p.part_voxels[None], g.part_voxels[None], NUM_VOXEL_PARTS))[0, 1:]
    out.per_part = iou
    out.part_voxel_iou = mean_finite(iou)


def _score_segmentation(out, need, p, g, zp, zg, pred_path, gt_path, threshold):
    if not need("segmentation_miou", "segmentation"):
        return
    seg = p.segmentation
    cp, cg = _crop(p), _crop(g)
    same_crop = cp is None or cg is None or np.allclose(p.crop[:3], g.crop[:3], atol=1e-3)
    if not same_crop:
        seg = align_segmentation(seg, cp, cg, g.segmentation.shape)
        out.notes.append("segmentation: prediction warped from its crop to the ground truth's (nearest)")
    elif seg.shape != g.segmentation.shape:
        out.notes.append(f"segmentation: prediction resized {seg.shape[0]}x{seg.shape[1]} -> "
                         f"{g.segmentation.shape[0]}x{g.segmentation.shape[1]} (nearest)")
        seg = align_segmentation(seg, None, None, g.segmentation.shape)
    iou = class_iou(confusion_matrix(seg[None], g.segmentation[None], NUM_SEG))[0, 1:]
    out.per_seg_class = iou
    out.segmentation_miou = mean_finite(iou)


def _score_pckh(out, need, p, g, zp, zg, pred_path, gt_path, threshold):
    if not need("pckh", "joints2d"):
        return
    gt2d = g.joints2d[None].astype(np.float64)
    # A ground truth with an annotated head box (MPII) uses MPII's head segment; else the head-neck rule.
    head = None if g.head_box is None else head_box_size(g.head_box[None].astype(np.float64))
    if (head_size(gt2d) if head is None else head)[0] == 0:
        why = "the ground-truth head and neck coincide" if head is None else "the ground-truth head box is empty"
        out.skips.append(Skip("pckh", str(gt_path), f"{why} (head size 0)"))
        return
    correct = pckh_correct(p.joints2d[None].astype(np.float64), gt2d, head=head)[0].astype(np.float64)
    if g.joints2d_visible is not None:  # joints without a ground-truth position do not count
        correct[g.joints2d_visible == 0] = np.nan
        if np.isnan(correct).all():
            out.skips.append(Skip("pckh", str(gt_path), "no ground-truth joint is annotated"))
            return
    out.pckh_joints = correct
    out.pckh = float(np.nanmean(correct))


def _score_joints3d(out, need, p, g, zp, zg, pred_path, gt_path, threshold):
    if not need("joint3d_error_mm", "joints3d"):
        return
    cam_g = g.camera if g.camera is not None else p.camera
    cam_p = p.camera if p.camera is not None else g.camera
    if cam_g is None:
        out.skips.append(Skip("joint3d_error_mm", str(gt_path),
                              "neither file has a 'camera', so x, y cannot be converted to metres"))
        return
    if p.camera is None:
        out.notes.append("joints3d: the prediction has no camera; used the ground truth's")
    jp = joints3d_to_camera(p.joints3d[None].astype(np.float64), cam_p[None].astype(np.float64))
    jg = joints3d_to_camera(g.joints3d[None].astype(np.float64), cam_g[None].astype(np.float64))
    d = joint3d_distances_mm(jp, jg)[0]
    out.joint3d_mm = d
    out.joint3d_error_mm = float(d.mean())


def _score_surface(out, g, p, fit_path, gt_path, pred_path, meshes=None):
    if fit_path is None:
        out.skips.append(Skip("surface_error_mm", out.name, "no fitted body of this name in --fits"))
        return
    if g.vertices is None and meshes is not None and all(getattr(g, k) is not None for k in _GT_BODY_KEYS[:4]):
        g.vertices, g.faces = meshes.rebuild(g, gt_path)
    if g.vertices is None:
        out.skips.append(Skip("surface_error_mm", str(gt_path), "the ground truth has no 'vertices' (and no "
                              "body parameters to rebuild them from)"))
        return
    verts, meta = _read_fit_vertices(fit_path)
    frame = meta.get("frame", "camera" if p.camera is not None else None)
    if frame != "camera":
        out.skips.append(Skip("surface_error_mm", str(fit_path),
                              "the fit is not in camera metres (its input had no camera)"))
        return
    if verts.shape == g.vertices.shape:
        out.surface_error_mm = float(surface_error_mm(verts[None].astype(np.float64),
                                                      g.vertices[None].astype(np.float64))[0])
        out.surface_method = "per-vertex"
    elif g.faces is not None:
        out.surface_error_mm = float(point_to_surface_mm(verts, g.vertices, g.faces).mean())
        out.surface_method = "point-to-surface"
    else:
        out.skips.append(Skip("surface_error_mm", str(gt_path),
                              f"the fit has {len(verts)} vertices, the ground truth {len(g.vertices)} and no "
                              "'faces' for a point-to-surface distance"))


@dataclass
class MetricSummary:
    """Aggregate of one metric over the pairs where it was scored (NaN samples are left out).

    mean, median, std, quantiles: None when ``n`` is 0, and ``reason`` says why.
    histogram: counts over ``edges`` (len(counts) + 1). per_item: mean per part / joint, written
    under ``per_item_key`` (``per_part`` or ``per_joint``).
    method: surface error only: per-vertex, point-to-surface or mixed.
    """

    mean: float | None
    median: float | None
    n: int
    reason: str | None = None
    std: float | None = None
    p10: float | None = None
    p90: float | None = None
    min: float | None = None
    max: float | None = None
    histogram: dict | None = None
    per_item: dict[str, float | None] | None = None
    per_item_key: str = "per_part"
    method: str | None = None
    skipped: int = 0

    def to_json(self) -> dict:
        d = {"mean": self.mean, "median": self.median, "n": self.n}
        if self.reason is not None:
            d["reason"] = self.reason
        for k in ("std", "p10", "p90", "min", "max", "histogram", "method"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.per_item is not None:
            d[self.per_item_key] = self.per_item
        d["skipped"] = self.skipped
        return d


def _per_item(samples: list[SampleScores], attr: str, names) -> dict[str, float | None] | None:
    rows = [getattr(s, attr) for s in samples if getattr(s, attr) is not None]
    if not rows:
        return None
    a = np.stack(rows).astype(np.float64)
    out = {}
    for i, n in enumerate(names):
        col = a[:, i][~np.isnan(a[:, i])]
        out[n] = float(col.mean()) if col.size else None
    return out


def summarize(samples: list[SampleScores], metric: str, fits_given: bool = True) -> MetricSummary:
    """Aggregate one metric over ``samples``: mean, median, spread, a histogram, per part / joint."""
    vals = np.array([getattr(s, metric) for s in samples], dtype=np.float64)
    vals = vals[~np.isnan(vals)]
    skips = [k for s in samples for k in s.skips if k.metric == metric]
    if vals.size == 0:
        if metric == "surface_error_mm" and not fits_given:
            reason = "no --fits folder given"
        elif skips:
            why, count = Counter(k.why for k in skips).most_common(1)[0]
            example = next(k.path for k in skips if k.why == why)
            reason = f"not computable for any pair: {why} ({count} pairs, e.g. {example})"
        elif any(s.errors for s in samples):
            reason = "not computable for any pair: every pair had a malformed file (see failures)"
        else:
            reason = "not computable for any pair"
        return MetricSummary(None, None, 0, reason=reason, skipped=len(skips))
    lo, hi = (0.0, 1.0) if not UNITS[metric] else (float(vals.min()), float(vals.max()))
    if hi - lo < 1e-3:  # all (nearly) equal: a 1 mm wide range keeps the bins distinct after rounding
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(vals, bins=20, range=(lo, hi))
    summary = MetricSummary(
        mean=float(vals.mean()), median=float(np.median(vals)), n=int(vals.size), std=float(vals.std()),
        p10=float(np.percentile(vals, 10)), p90=float(np.percentile(vals, 90)),
        min=float(vals.min()), max=float(vals.max()),
        histogram={"edges": [float(f"{e:.6g}") for e in edges], "counts": [int(c) for c in counts]},
        skipped=len(skips),
    )
    summary.per_item = {
        "part_voxel_iou": lambda: _per_item(samples, "per_part", VOXEL_PARTS[1:]),
        "segmentation_miou": lambda: _per_item(samples, "per_seg_class", SEG_CLASSES[1:]),
        "pckh": lambda: _per_item(samples, "pckh_joints", JOINT_NAMES),
        "joint3d_error_mm": lambda: _per_item(samples, "joint3d_mm", JOINT_NAMES),
    }.get(metric, lambda: None)()
    if metric in ("pckh", "joint3d_error_mm"):
        summary.per_item_key = "per_joint"
    if metric == "surface_error_mm":
        methods = {s.surface_method for s in samples if s.surface_method}
        summary.method = methods.pop() if len(methods) == 1 else "mixed"
    return summary


@dataclass
class EvalReport:
    """Everything ``eval`` found: the pairing, per-pair scores and the aggregates."""

    pairing: Pairing
    samples: list[SampleScores]
    summaries: dict[str, MetricSummary]
    threshold: float
    dirs: dict[str, str | None]

    @property
    def failures(self) -> list[Failure]:
        """One per malformed or mismatched input: the pair's name and the message."""
        return [Failure(s.name, e) for s in self.samples for e in s.errors]

    def notes(self) -> dict[str, int]:
        """How many pairs needed each kind of adjustment (resizing, warping, borrowed camera)."""
        return dict(Counter(n for s in self.samples for n in s.notes))

    def to_json(self) -> dict:
        d = {m: self.summaries[m].to_json() for m in METRICS}
        d["pairs"] = len(self.samples)
        d["unpaired"] = {
            "prediction_only": self.pairing.pred_only, "ground_truth_only": self.pairing.gt_only,
            "fits_missing": self.pairing.fits_missing, "fits_only": self.pairing.fits_only,
        }  # fmt: skip
        d["failures"] = [{"sample": f.item, "error": f.reason} for f in self.failures]
        d["skipped"] = [{"sample": s.name, "metric": k.metric, "file": k.path, "reason": k.why}
                        for s in self.samples for k in s.skips]
        d["notes"] = self.notes()
        d["settings"] = {"threshold": self.threshold, **self.dirs}
        return d


def evaluate(pred_dir: Path, gt_dir: Path, fits_dir: Path | None = None, threshold: float = 0.5,
             workers: int | None = None, pairing: Pairing | None = None,
             progress: Callable[[], None] | None = None, pred_on_gt_crops: bool = False,
             body_model: str | os.PathLike | None = None) -> EvalReport:  # fmt: skip
    """Pair, score every pair in a thread pool, and aggregate. ``progress()`` is called once per pair.
    body_model: the body model that rebuilds ground-truth meshes from body parameters (``GroundTruthMeshes``;
    default: the usual look-up)."""
    if not 0.0 < threshold < 1.0:
        raise BodyNetError(f"--threshold {threshold}: must lie strictly between 0 and 1")
    pairing = pairing or pair_files(pred_dir, gt_dir, fits_dir)
    fit_names = set(pairing.names) - set(pairing.fits_missing)
    workers = workers or min(8, os.cpu_count() or 1)

    meshes = GroundTruthMeshes(body_model) if fits_dir is not None else None

    def one(name: str) -> SampleScores:
        fit = Path(fits_dir) / name if fits_dir is not None and name in fit_names else None
        s = score_pair(name, Path(pred_dir) / name, Path(gt_dir) / name, fit, threshold, fits_dir is not None,
                       pred_on_gt_crops, meshes)
        if progress is not None:
            progress()
        return s

    with ThreadPoolExecutor(max_workers=workers) as pool:
        samples = list(pool.map(one, pairing.names))
    summaries = {m: summarize(samples, m, fits_dir is not None) for m in METRICS}
    dirs = {"pred_dir": str(pred_dir), "gt_dir": str(gt_dir), "fits_dir": None if fits_dir is None else str(fits_dir)}
    return EvalReport(pairing, samples, summaries, threshold, dirs)


def per_sample_csv(samples: list[SampleScores]) -> str:
    """One row per pair: its name, the six metrics (blank when not scored), the surface method."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sample", *METRICS, "surface_method", "errors"])
    for s in samples:
        vals = ["" if math.isnan(getattr(s, m)) else f"{getattr(s, m):.6g}" for m in METRICS]
        w.writerow([s.name, *vals, s.surface_method, len(s.errors)])
    return buf.getvalue()


def write_report(report: EvalReport, out_dir: Path) -> list[Path]:
    """Write ``metrics.json`` and ``per_sample.csv`` atomically into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    paths = [out_dir / "metrics.json", out_dir / "per_sample.csv"]
    atomic_write_bytes(paths[0], (json.dumps(report.to_json(), indent=1, allow_nan=False) + "\n").encode())
    atomic_write_bytes(paths[1], per_sample_csv(report.samples).encode())
    return paths


def evaluate_folders(pred_dir: Path, gt_dir: Path, fits_dir: Path | None, out: Path | None, *, threshold: float,
                     workers: int | None, pred_on_gt_crops: bool, plots: bool, worst: int,
                     body_model: str | os.PathLike | None = None,
                     on_pairing: Callable[[Pairing], None], console, show_progress: bool,
                     ) -> tuple[EvalReport, list[Path]]:  # fmt: skip
    """The ``eval`` pipeline as one call: pair the folders (``on_pairing`` sees the pairing before scoring),
    score every pair (progress on ``console`` when ``show_progress``), and with ``out`` write the report
    (and with ``plots`` the pictures). Returns the report and the files written."""
    from bodynet_cli.io.inputs import check_out_dir
    from bodynet_cli.pipelines.batch import progress_bar

    if plots and out is None:
        raise BodyNetError("--plots needs --out REPORT_DIR to write the pictures into")
    if out is not None:
        check_out_dir(out)
    pairing = pair_files(pred_dir, gt_dir, fits_dir)
    on_pairing(pairing)
    with progress_bar("eval", console=console, enabled=show_progress) as progress:
        task = progress.add_task("eval", total=len(pairing.names))
        report = evaluate(pred_dir, gt_dir, fits_dir, threshold, workers, pairing,
                          progress=lambda: progress.advance(task), pred_on_gt_crops=pred_on_gt_crops,
                          body_model=body_model)  # fmt: skip
    paths: list[Path] = []
    if out is not None:
        paths = write_report(report, out)
        if plots:
            from bodynet_cli.pipelines.evaluate_plots import write_eval_plots

            paths += write_eval_plots(report, out, worst)
    return report, paths
