"""The ``voxelize`` pipeline: meshes or body parameters in, voxel sample files (docs/formats.md) out.

``read_input`` reads one input (a mesh file, or an NPZ with body parameters or a
mesh, with its camera and crop), ``voxelize_one`` makes its sample, and ``run_voxelize`` does the batch:
each output claimed once, bad inputs recorded as failures, the others written.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.markup import escape

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.mesh import MESH_SUFFIXES
from bodynet_cli.pipelines.batch import BatchReport, OutputClaims, failure

SUFFIXES = (*MESH_SUFFIXES, ".npz")
_PARAM_KEYS = ("betas", "global_orient", "body_pose")


@dataclass
class VoxelizeInput:
    """One input, read: vertices (V, 3) in camera metres when ``camera`` is set, else any unit."""

    vertices: np.ndarray
    faces: np.ndarray
    labels: np.ndarray | None  # (V,) voxel parts 1..6 when the mesh has the body model's topology
    camera: np.ndarray | None  # (4,) f, cx, cy, Z0
    crop: np.ndarray | None  # (4,) x0, y0, S, size
    body_model: str | None  # model id when the body model was used
    notes: list[str]  # problems that still give a result, reported as warnings


class ModelCache:
    """Loads the body model once, on first need (mesh files without --parts never need it)."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.data, self.module = path, None, None

    def get(self):
        if self.data is None:
            import torch

            from bodynet_cli.body.load import load_body_model
            from bodynet_cli.body.model import BodyModel

            self.data = load_body_model(self.path)
            self.module = BodyModel(self.data, dtype=torch.float64)
        return self.data, self.module


def _vec(z: dict, key: str, path: Path, size: int | None) -> np.ndarray:
    if not np.issubdtype(z[key].dtype, np.number):
        raise BodyNetError(f"{path}: key {key!r} has dtype {z[key].dtype}, expected numbers")
    a = np.asarray(z[key], dtype=np.float64).reshape(-1)
    if size is not None and a.size != size:
        raise BodyNetError(f"{path}: key {key!r} has {a.size} values, expected {size}")
    if not np.all(np.isfinite(a)):
        raise BodyNetError(f"{path}: key {key!r} holds NaN or infinite values")
    return a


def read_input(path: Path, models: ModelCache, want_labels: bool) -> VoxelizeInput:
    import torch

    from bodynet_cli.io.mesh import check_mesh, load_mesh
    from bodynet_cli.io.npz import read_npz
    from bodynet_cli.io.sample import check_camera, check_crop

    if path.suffix.lower() not in SUFFIXES:
        raise BodyNetError(f"{path}: unsupported input; give {', '.join(SUFFIXES)} files or folders of them")
    camera = crop = None
    model_id = None
    notes: list[str] = []
    if path.suffix.lower() == ".npz":
        z = read_npz(path)
        camera = _vec(z, "camera", path, 4) if "camera" in z else None
        crop = _vec(z, "crop", path, 4) if "crop" in z else None
        if camera is not None:
            check_camera(path, camera)
        if crop is not None:
            check_crop(path, crop)
        if all(k in z for k in _PARAM_KEYS):
            data, model = models.get()
            params = {k: torch.as_tensor(_vec(z, k, path, n))[None] for k, n in
                      (("betas", None), ("global_orient", 3), ("body_pose", 69))}
            transl = torch.as_tensor(_vec(z, "transl", path, 3))[None] if "transl" in z else None
            scale = torch.as_tensor(_vec(z, "scale", path, 1)) if "scale" in z else None
            out = model(**params, transl=transl, scale=scale)
            vertices, faces = out.vertices[0].numpy(), data.faces
            model_id = data.model_id
            stored = str(np.asarray(z["model"])[()]) if "model" in z and z["model"].dtype.kind == "U" else ""
            if stored and stored.split("@")[-1][:12] != data.sha256[:12]:
                notes.append(f"its parameters are for body model {stored}, but {model_id} is in use; pass that "
                             "model with --body-model")
        elif "vertices" in z and "faces" in z:
            for key in ("vertices", "faces"):
                if z[key].ndim != 2 or z[key].shape[1] != 3 or not np.issubdtype(z[key].dtype, np.number):
                    raise BodyNetError(f"{path}: key {key!r} has shape {z[key].shape} and dtype {z[key].dtype}, "
                                       "expected (N, 3) numbers")
            check_mesh(path, z["vertices"], z["faces"], what="key 'faces'")
            vertices = np.asarray(z["vertices"], dtype=np.float64)
            faces = np.asarray(z["faces"], dtype=np.int64)
        else:
            raise BodyNetError(f"{path}: holds neither body parameters ({', '.join(_PARAM_KEYS)}) nor a mesh "
                               "('vertices' and 'faces')")
        if camera is not None and crop is None:
            raise BodyNetError(f"{path}: has 'camera' but no 'crop' (x0, y0, side, size); BodyNet space needs both")
    else:
        mesh = load_mesh(path)
        vertices, faces = mesh.vertices, mesh.faces
    labels = None
    if want_labels:
        data, _ = models.get()
        same_topology = len(vertices) == data.num_vertices and np.array_equal(faces, data.faces)
        if not same_topology:
            raise BodyNetError(f"{path}: --parts needs per-vertex part labels, which only meshes with the body "
                               f"model's topology ({data.num_vertices} vertices, {len(data.faces)} faces) carry; "
                               "drop --parts for this file")
        labels = data.vertex_part7
        model_id = data.model_id
    return VoxelizeInput(vertices, faces, labels, camera, crop, model_id, notes)


def voxelize_one(path: Path, item: VoxelizeInput, res: int, conservative: bool, margin: float, device,
                  warn) -> object:
    """Returns the ``Sample`` to write; ``warn(message)`` reports problems that still give a result."""
    import torch

    from bodynet_cli import __version__
    from bodynet_cli.geometry.space import Camera, Crop, camera_to_grid
    from bodynet_cli.geometry.voxelize import (
        OpenMeshWarning,
        check_watertight,
        fit_transform,
        label_part_voxels,
        voxelize_camera,
        voxelize_grid,
    )
    from bodynet_cli.io.sample import Sample

    report = check_watertight(item.faces, item.vertices)
    if report.empty:
        raise BodyNetError(f"{path}: the mesh has no triangles; nothing to voxelize")
    meta = {
        "tool": f"bodynet {__version__} voxelize", "input": str(path), "res": res, "conservative": conservative,
        "mesh": {"vertices": len(item.vertices), "faces": len(item.faces), "watertight": report.watertight,
                 "closed": report.closed, "topology": report.describe()},
        "inside_test": "winding number" if report.oriented else "crossing parity (faces not consistently oriented)"
        if report.closed else "3-axis ray voting (mesh not closed)",
    }
    if item.body_model:
        meta["body_model"] = item.body_model
    v = torch.as_tensor(item.vertices, dtype=torch.float32, device=device)
    f = torch.as_tensor(item.faces, device=device)
    sample = Sample(meta=meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OpenMeshWarning)  # reported below from the report, once
        if item.camera is not None:
            camera, crop = Camera.from_array(item.camera), Crop.from_array(item.crop)
            occ = voxelize_camera(v, f, camera, crop, res, conservative=conservative, closed=None)
            v_grid = camera_to_grid(v.double(), camera, crop, res)
            sample.camera, sample.crop = camera.to_array(), crop.to_array()
            meta["alignment"] = "camera"
        else:
            t = fit_transform(item.vertices, res, margin=margin)
            v_grid = t.apply(v.double())
            occ = voxelize_grid(v_grid.float(), f, res, conservative=conservative, closed=None)
            sample.fit_transform = t.to_array()
            meta.update(alignment="fit", fit_axes="x,y,z", fit_margin=margin)
    for note in item.notes:
        warn(note)
    if not report.closed:
        warn(f"mesh is not closed ({report.describe()}); occupancy comes from 3-axis ray voting, which fills "
             "small holes only")
    if not bool(occ.any()):  # an empty grid is no ground truth: fail the item rather than write it
        raise BodyNetError(f"{path}: no voxel is occupied: the mesh encloses no volume (flat, or a few triangles), "
                           "lies outside the grid or is thinner than a voxel; try --conservative or a larger --res")
    sample.voxels = occ.cpu().numpy()
    if item.labels is not None:
        sample.part_voxels = label_part_voxels(occ.cpu(), v_grid.cpu(), item.faces, item.labels).numpy()
    return sample


@dataclass(frozen=True)
class VoxelizeOptions:
    """The command's settings: grid resolution, part labels, conservative filling, fit-mode margin, device."""

    res: int
    parts: bool
    conservative: bool
    margin: float
    device: object  # torch.device


def run_voxelize(items: list[tuple[Path, Path]], out: Path, opts: VoxelizeOptions, models: ModelCache,
                 warn: Callable[[str], None], on_progress: Callable[[int], None]) -> BatchReport:
    """Voxelize ``items`` (input file, output path relative to ``out``) into ``out``; each output is claimed
    by one input. ``warn(message)`` reports problems that still give a result, ``on_progress(1)`` follows
    each item."""
    from bodynet_cli.io.sample import save_sample

    report = BatchReport()
    claims = OutputClaims(out)
    for src, rel in items:
        dst = out / rel
        try:
            claims.claim(src, dst)
            item = read_input(src, models, opts.parts)
            sample = voxelize_one(src, item, opts.res, opts.conservative, opts.margin, opts.device,
                                  lambda message, src=src: warn(f"{src}: {message}"))  # fmt: skip
            save_sample(dst, sample)
            report.done += 1
        except BodyNetError as e:
            report.failures.append(failure(src, e))
        on_progress(1)
    return report


def voxelize_files(inputs: list[Path], out: Path, body_model: Path | None, opts: VoxelizeOptions, *, console,
                   show_progress: bool) -> tuple[int, BatchReport]:  # fmt: skip
    """The ``voxelize`` pipeline as one call: find the inputs, check a body model the user chose (``body_model``
    or ``$BODYNET_BODY_MODEL``; always with ``opts.parts``) before any work, voxelize every input into ``out``.
    Warnings and progress go to ``console``. Returns (inputs found, report)."""
    import os

    from bodynet_cli.body.load import ENV_VAR
    from bodynet_cli.io.inputs import check_out_dir
    from bodynet_cli.pipelines.batch import collect, progress_bar

    check_out_dir(out)
    items = collect(inputs, SUFFIXES, out)
    if not items:
        raise BodyNetError(f"no {', '.join(SUFFIXES)} files found in {', '.join(map(str, inputs))}")
    models = ModelCache(body_model)
    if body_model is not None or os.environ.get(ENV_VAR) or opts.parts:
        models.get()  # a body model the user chose is checked now: a bad one is an option error (exit 2)
    with progress_bar("voxelize", console=console, enabled=show_progress) as progress:
        task = progress.add_task("voxelize", total=len(items))
        report = run_voxelize(
            items, out, opts, models,
            warn=lambda message: progress.console.print(f"[yellow]warning:[/yellow] {escape(message)}"),
            on_progress=lambda n: progress.advance(task, n),
        )  # fmt: skip
    return len(items), report
