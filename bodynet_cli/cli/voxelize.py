"""``bodynet voxelize``: meshes or body parameters in, voxel sample files (docs/formats.md) out."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from bodynet_cli.body.load import ENV_VAR
from bodynet_cli.cli.common import (
    BodyModelOpt,
    DeviceOpt,
    OutDir,
    ResOpt,
    console,
    escape,
    finish_batch,
    is_tty,
    user_errors,
)
from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.mesh_io import MESH_SUFFIXES
from bodynet_cli.io.inputs import check_out_dir, discover_inputs, same_path

_SUFFIXES = (*MESH_SUFFIXES, ".npz")
_PARAM_KEYS = ("betas", "global_orient", "body_pose")


@dataclass
class _Input:
    """One input, read: vertices (V, 3) in camera metres when ``camera`` is set, else any unit."""

    vertices: np.ndarray
    faces: np.ndarray
    labels: np.ndarray | None  # (V,) voxel parts 1..6 when the mesh has the body model's topology
    camera: np.ndarray | None  # (4,) f, cx, cy, Z0
    crop: np.ndarray | None  # (4,) x0, y0, S, size
    body_model: str | None  # model id when the body model was used
    notes: list[str]  # problems that still give a result, reported as warnings


def _collect(inputs: list[Path], out: Path | None = None) -> list[tuple[Path, Path]]:
    """(input file, output path relative to --out); folders are searched recursively and mirrored (files
    inside ``out`` excepted); a missing or unsupported file named explicitly is an item that fails and is
    reported."""
    found = discover_inputs(inputs, _SUFFIXES, missing_ok=True, out=out)
    return [(it.path, it.rel.with_suffix(".npz")) for it in found]


class _ModelCache:
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


def _read_input(path: Path, models: _ModelCache, want_labels: bool) -> _Input:
    import torch

    from bodynet_cli.geometry.mesh_io import check_mesh, load_mesh
    from bodynet_cli.io.npz import read_npz
    from bodynet_cli.io.sample import check_camera, check_crop

    if path.suffix.lower() not in _SUFFIXES:
        raise BodyNetError(f"{path}: unsupported input; give {', '.join(_SUFFIXES)} files or folders of them")
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
    return _Input(vertices, faces, labels, camera, crop, model_id, notes)


def _voxelize_one(path: Path, item: _Input, res: int, conservative: bool, margin: float, device,
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


@user_errors
def voxelize(
    inputs: Annotated[
        list[Path], typer.Argument(help="Mesh files (.obj .ply .stl .off), .npz files with body parameters "
                                   "(betas, global_orient, body_pose, optional transl, scale, camera, crop) or "
                                   "with 'vertices' and 'faces', folders of them (searched recursively), or "
                                   "glob patterns.",
                                   show_default=False),
    ],
    out: OutDir,
    res: ResOpt = 128,
    parts: Annotated[
        bool, typer.Option("--parts", help="Also write 'part_voxels' (7 classes, nearest surface part); needs "
                           "inputs with the body model's topology.")
    ] = False,
    conservative: Annotated[
        bool, typer.Option("--conservative", help="Also mark every voxel the surface touches (binvox-like); "
                           "default: a voxel is occupied when its centre is inside.")
    ] = False,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, help="Fit mode (inputs without a camera): empty voxels on each "
                            "side of the mesh's longest side.")
    ] = 1.0,
    body_model: BodyModelOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Voxelize meshes into OUT/<name>.npz occupancy grids (sample files, docs/formats.md).

    A voxel is occupied when its centre is inside the mesh. Inputs with a 'camera' and a 'crop' are
    placed in BodyNet space (docs/formats.md); the others are centred with their longest side scaled
    to the grid ('fit' mode, axes kept, stored as 'fit_transform'). Bad inputs are reported and
    skipped (exit code 3).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from bodynet_cli.cli.common import resolve_device
    from bodynet_cli.io.sample import save_sample

    dev = resolve_device(device)
    check_out_dir(out)
    items = _collect(inputs, out)
    if not items:
        raise BodyNetError(f"no {', '.join(_SUFFIXES)} files found in {', '.join(map(str, inputs))}")
    models = _ModelCache(body_model)
    if body_model is not None or os.environ.get(ENV_VAR) or parts:
        models.get()  # a body model the user chose is checked now: a bad one is an option error (exit 2)
    failures: list[tuple[str, str]] = []
    written: dict[Path, Path] = {}
    with Progress(TextColumn("voxelize"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=not is_tty()) as progress:
        task = progress.add_task("voxelize", total=len(items))
        for src, rel in items:
            dst = out / rel
            try:
                if dst in written:
                    raise BodyNetError(f"its output {dst} is already written for {written[dst]}; rename one input")
                if same_path(dst, src):
                    raise BodyNetError(f"the output would overwrite the input; choose another --out than {out}")
                item = _read_input(src, models, parts)

                def warn(message: str, src=src) -> None:
                    progress.console.print(f"[yellow]warning:[/yellow] {escape(f'{src}: {message}')}")

                save_sample(dst, _voxelize_one(src, item, res, conservative, margin, dev, warn))
                written[dst] = src
            except BodyNetError as e:
                failures.append((str(src), str(e).removeprefix(f"{src}: ")))
            progress.advance(task)
    console.print(f"{len(written)} of {len(items)} inputs voxelized at {res}³ -> {out}")
    finish_batch(failures, len(items), "inputs")
