"""The prediction / ground-truth sample file of docs/formats.md (``predict``, ``synth``, ``eval``).

One NPZ per image. On disk the occupancy grid is bit-packed (``voxels`` + ``voxel_shape``); in
memory ``Sample.voxels`` is a bool (R, R, R) array in ``[z, y, x]`` order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import NUM_JOINTS, NUM_SEG, NUM_VOXEL_PARTS
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.npz import decode_meta, encode_meta, pack_voxels, read_npz, unpack_voxels, write_npz


@dataclass
class Sample:
    """One image's prediction or ground truth. Every field is optional except where noted.

    voxels: bool (R, R, R) occupancy, ``[z, y, x]``.
    voxel_probs: float16 (R, R, R) sigmoid output.
    part_voxels: uint8 (R, R, R), 7 voxel-part labels.
    joints2d: float32 (16, 2) x, y in original-image pixels.
    joints2d_score: float32 (16,) heatmap peak values (predictions only).
    joints2d_visible: uint8 (16,) 1 where a ground-truth joint is annotated and visible (datasets such as MPII).
    head_box: float32 (4,) x0, y0, x1, y1 of the annotated head in original pixels (MPII; PCKh's head size).
    joints3d: float32 (16, 3) x, y original-image pixels, z metres relative to the pelvis.
    segmentation: uint8 (H, W) 15-class map over the crop.
    person_mask: uint8 (M, M) 1 where the person's silhouette (with hair and loose clothing) is, else 0, over
        the crop (ground truth: at the segmentation's size; predictions: the front end's mask at input size).
    joints2d_detected: float32 (16, 2) the person front end's joints, x, y original-image pixels (predictions).
    joints2d_detected_score: float32 (16,) their scores in [0, 1] (0: not found).
    crop: float32 (4,) x0, y0, side S (original pixels), output size.
    camera: float32 (4,) f, cx, cy, Z0 when known.
    fit_transform: float32 (4,) scale, ox, oy, oz of a ``fit``-mode grid: grid = scale · mesh + offset.
    vertices: float32 (V, 3) camera metres; faces: int32 (F, 3) (ground truth only).
    betas (10,), global_orient (3,), body_pose (69,), transl (3,): body parameters, camera frame.
    meta: dict stored as a JSON string.
    """

    voxels: np.ndarray | None = None
    voxel_probs: np.ndarray | None = None
    part_voxels: np.ndarray | None = None
    joints2d: np.ndarray | None = None
    joints2d_score: np.ndarray | None = None
    joints2d_visible: np.ndarray | None = None
    head_box: np.ndarray | None = None
    joints3d: np.ndarray | None = None
    segmentation: np.ndarray | None = None
    person_mask: np.ndarray | None = None
    joints2d_detected: np.ndarray | None = None
    joints2d_detected_score: np.ndarray | None = None
    crop: np.ndarray | None = None
    camera: np.ndarray | None = None
    fit_transform: np.ndarray | None = None
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None
    betas: np.ndarray | None = None
    global_orient: np.ndarray | None = None
    body_pose: np.ndarray | None = None
    transl: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


# key -> (dtype, shape with None for free dims, R for the grid resolution)
_SCHEMA: dict[str, tuple[type, tuple]] = {
    "voxel_probs": (np.float16, ("R", "R", "R")),
    "part_voxels": (np.uint8, ("R", "R", "R")),
    "joints2d": (np.float32, (NUM_JOINTS, 2)),
    "joints2d_score": (np.float32, (NUM_JOINTS,)),
    "joints2d_visible": (np.uint8, (NUM_JOINTS,)),
    "head_box": (np.float32, (4,)),
    "joints3d": (np.float32, (NUM_JOINTS, 3)),
    "segmentation": (np.uint8, (None, None)),
    "person_mask": (np.uint8, (None, None)),
    "joints2d_detected": (np.float32, (NUM_JOINTS, 2)),
    "joints2d_detected_score": (np.float32, (NUM_JOINTS,)),
    "crop": (np.float32, (4,)),
    "camera": (np.float32, (4,)),
    "fit_transform": (np.float32, (4,)),
    "vertices": (np.float32, (None, 3)),
    "faces": (np.int32, (None, 3)),
    "betas": (np.float32, (None,)),
    "global_orient": (np.float32, (3,)),
    "body_pose": (np.float32, (69,)),
    "transl": (np.float32, (3,)),
}


def _check_shape(path, key: str, arr: np.ndarray, want: tuple, res: int | None) -> None:
    ok = arr.ndim == len(want)
    if ok:
        for got, w in zip(arr.shape, want, strict=True):
            if w == "R":
                ok &= res is None or got == res
            elif w is not None:
                ok &= got == w
    if not ok:
        want_s = "(" + ", ".join("any" if w is None else str(res if w == "R" else w) for w in want) + ")"
        raise BodyNetError(f"{path}: key {key!r} has shape {arr.shape}, expected {want_s}")


# Labels: key -> number of classes (values must lie in 0..n-1 before the cast to uint8 could wrap them).
_LABELS = {"segmentation": NUM_SEG, "part_voxels": NUM_VOXEL_PARTS, "joints2d_visible": 2}


def check_crop(path, crop: np.ndarray, key: str = "crop") -> None:
    """``crop`` (4,) x0, y0, side, size: finite, side > 0, size >= 1 (every pixel <-> grid mapping divides by
    them). Raises ``BodyNetError`` naming ``path`` and ``key``."""
    c = np.asarray(crop, dtype=np.float64).ravel()
    if c.size != 4 or not np.all(np.isfinite(c)) or c[2] <= 0 or round(c[3]) < 1:
        raise BodyNetError(f"{path}: key {key!r} is {c.tolist()}; expected x0, y0, side, size with side > 0 and "
                           "size >= 1 (see docs/formats.md)")


def check_camera(path, camera: np.ndarray, key: str = "camera") -> None:
    """``camera`` (4,) f, cx, cy, Z0: finite, f > 0 and Z0 > 0. Raises ``BodyNetError`` naming ``path``."""
    c = np.asarray(camera, dtype=np.float64).ravel()
    if c.size != 4 or not np.all(np.isfinite(c)) or c[0] <= 0 or c[3] <= 0:
        raise BodyNetError(f"{path}: key {key!r} is {c.tolist()}; expected f, cx, cy, Z0 with f > 0 and Z0 > 0 "
                           "(see docs/formats.md)")


def _check_values(path, key: str, arr: np.ndarray) -> None:
    """Value rules beyond dtype and shape: finite floats, labels in range, probabilities in 0..1."""
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise BodyNetError(f"{path}: key {key!r} holds NaN or infinite values")
    if key in _LABELS and arr.size and (arr.min() < 0 or arr.max() >= _LABELS[key]):
        bad = arr.min() if arr.min() < 0 else arr.max()
        raise BodyNetError(f"{path}: key {key!r} has label {bad}, expected 0..{_LABELS[key] - 1}")
    if key == "voxel_probs" and arr.size and (arr.min() < 0 or arr.max() > 1):
        raise BodyNetError(f"{path}: key 'voxel_probs' has values outside 0..1; store sigmoid probabilities")
    if key == "crop":
        check_crop(path, arr)
    if key == "camera":
        check_camera(path, arr)


def save_sample(path: str | os.PathLike, sample: Sample) -> None:
    """Validate and atomically write ``sample`` to ``path`` (an ``.npz``)."""
    arrays: dict[str, np.ndarray] = {}
    res = None
    if sample.voxels is not None:
        packed, shape = pack_voxels(sample.voxels)
        arrays["voxels"], arrays["voxel_shape"] = packed, shape
        res = int(shape[0])
    for key, (dtype, want) in _SCHEMA.items():
        value = getattr(sample, key)
        if value is None:
            continue
        arr = np.asarray(value).astype(dtype, copy=False)
        _check_shape(path, key, arr, want, res)
        arrays[key] = arr
    arrays["meta"] = encode_meta(sample.meta)
    write_npz(path, **arrays)


def load_sample(path: str | os.PathLike, required: tuple[str, ...] = ()) -> Sample:
    """Read and validate a sample file; ``required`` names fields that must be present.

    Raises ``BodyNetError`` naming the file and the key for anything missing or malformed: a wrong dtype
    or shape, NaN or infinite values, labels out of range, a crop or camera that maps nothing (side,
    size, f or Z0 not positive), faces indexing past the vertices.
    """
    return sample_from_arrays(path, read_npz(path), required)


def sample_from_arrays(
    path: str | os.PathLike, z: dict[str, np.ndarray], required: tuple[str, ...] = (), unpack: bool = True
) -> Sample:
    """Validate the arrays ``z`` read from the sample file ``path`` (named in errors) into a ``Sample``.

    ``unpack=False`` validates the bit-packed grid but leaves ``Sample.voxels`` None, for callers
    that work on the packed bytes ``z["voxels"]`` directly (``eval``).
    """
    path = Path(path)
    out = Sample()
    res = None
    if "voxels" in z:
        if "voxel_shape" not in z:
            raise BodyNetError(f"{path}: has 'voxels' but no 'voxel_shape'; write both (see docs/formats.md)")
        shape = np.asarray(z["voxel_shape"]).ravel()
        if shape.size != 3 or np.any(shape <= 0):
            raise BodyNetError(f"{path}: 'voxel_shape' is {shape.tolist()}, expected three positive sizes")
        need = (int(np.prod(shape)) + 7) // 8
        if z["voxels"].dtype != np.uint8 or z["voxels"].ravel().size != need:
            raise BodyNetError(f"{path}: 'voxels' must be {need} bit-packed uint8 bytes for a grid "
                               f"{tuple(shape.tolist())}, got {z['voxels'].size} of {z['voxels'].dtype}")
        if unpack:
            out.voxels = unpack_voxels(z["voxels"], shape)
        res = int(shape[0])
    for key, (dtype, want) in _SCHEMA.items():
        if key not in z:
            continue
        arr = z[key]
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise BodyNetError(f"{path}: key {key!r} has dtype {arr.dtype}, expected {np.dtype(dtype)}")
        if want[0] == "R" and res is None:
            res = arr.shape[0] if arr.ndim else None
        _check_shape(path, key, arr, want, res)
        _check_values(path, key, arr)
        setattr(out, key, arr.astype(dtype, copy=False))
    if out.faces is not None and out.faces.size:
        from bodynet_cli.io.mesh import check_mesh

        check_mesh(path, out.vertices, z["faces"], what="key 'faces'")
    if out.person_mask is not None:
        if out.person_mask.size and int(out.person_mask.max()) > 1:
            raise BodyNetError(f"{path}: 'person_mask' must hold 0 and 1 only, found {int(out.person_mask.max())}")
        if out.person_mask.shape[0] != out.person_mask.shape[1]:
            raise BodyNetError(f"{path}: 'person_mask' has shape {out.person_mask.shape}; it covers the square "
                               "crop, so it must be square")
    if "meta" in z:
        try:
            out.meta = decode_meta(z["meta"])
        except ValueError:
            raise BodyNetError(f"{path}: 'meta' is not a JSON string") from None
    for key in required:
        if getattr(out, key) is None and not (key == "voxels" and "voxels" in z):
            raise BodyNetError(f"{path}: missing key {key!r}")
    return out

