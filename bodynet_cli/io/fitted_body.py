"""The fitted-body file of docs/formats.md (``fit-smpl`` writes it; its OBJ mesh is ``io/mesh.py``'s).

One NPZ per input: ``betas`` (NB,), ``global_orient`` (3,), ``body_pose`` (69,) axis-angle,
``transl`` (3,), ``scale`` (), ``joints`` (24, 3), ``vertices`` (V, 3), ``model`` (str), ``loss``
(JSON str of the final per-term values) and ``meta`` (JSON str: frame, voxel size, input, version).
``vertices = scale · body_model(betas, global_orient, body_pose) + transl``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.npz import decode_meta, encode_meta, read_npz, write_npz


@dataclass
class FittedBody:
    """One fitted body. Arrays are float32.

    betas (NB,), global_orient (3,), body_pose (69,) axis-angle, transl (3,), scale (float).
    joints (24, 3), vertices (V, 3): camera metres when the input had a camera, else metres relative
    to the grid centre at the estimated scale (``meta["frame"]`` says which).
    model: body model id (``name@sha256``). loss: final value of each loss term.
    meta: free-form JSON-able facts (frame, voxel_size_m, input, tool version, ...).
    """

    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    scale: float
    joints: np.ndarray
    vertices: np.ndarray
    model: str
    loss: dict[str, float] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


_SHAPES = {"global_orient": (3,), "body_pose": (69,), "transl": (3,), "joints": (24, 3)}


def write_fitted_body(path: str | os.PathLike, body: FittedBody) -> None:
    """Atomically write ``body`` as an NPZ at ``path``."""
    arrays = {
        k: np.asarray(getattr(body, k), dtype=np.float32)
        for k in ("betas", "global_orient", "body_pose", "transl", "joints", "vertices")
    }
    for k, want in _SHAPES.items():
        assert arrays[k].shape == want, (k, arrays[k].shape)
    assert arrays["vertices"].ndim == 2 and arrays["vertices"].shape[1] == 3, arrays["vertices"].shape
    arrays["scale"] = np.asarray(body.scale, dtype=np.float32)
    arrays["model"] = np.asarray(body.model)
    arrays["loss"] = encode_meta({k: float(v) for k, v in body.loss.items()})
    arrays["meta"] = encode_meta(body.meta)
    write_npz(path, **arrays)


def read_fitted_body(path: str | os.PathLike) -> FittedBody:
    """Read and validate a fitted-body NPZ; a missing or malformed key raises ``BodyNetError``."""
    z = read_npz(path)
    need = ("betas", "global_orient", "body_pose", "transl", "scale", "joints", "vertices", "model")
    for k in need:
        if k not in z:
            raise BodyNetError(f"{path}: missing key {k!r}; is this a file written by `bodynet fit-smpl`?")
    for k, want in _SHAPES.items():
        if z[k].shape != want:
            raise BodyNetError(f"{path}: key {k!r} has shape {z[k].shape}, expected {want}")
    if z["betas"].ndim != 1 or z["vertices"].ndim != 2 or z["vertices"].shape[1] != 3 or z["scale"].shape != ():
        raise BodyNetError(f"{path}: 'betas' must be (NB,), 'vertices' (V, 3) and 'scale' a scalar")
    try:
        loss = decode_meta(z["loss"]) if "loss" in z else {}
        meta = decode_meta(z["meta"]) if "meta" in z else {}
    except ValueError:
        raise BodyNetError(f"{path}: 'loss' or 'meta' is not a JSON string") from None
    keys = ("betas", "global_orient", "body_pose", "transl", "joints", "vertices")
    f32 = {k: z[k].astype(np.float32) for k in keys}
    return FittedBody(**f32, scale=float(z["scale"]), model=str(z["model"][()]), loss=loss, meta=meta)
