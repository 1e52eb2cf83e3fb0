"""Seeded malformed inputs for the batch commands (``predict``, ``fit-smpl``, ``voxelize``, ``eval``), mixed
with a few good ones per batch, and a runner that executes one command as a real subprocess under a memory
cap and reports its peak memory. ``tests/test_fuzz.py`` asserts the batch contract on them.

Every bad input is a ``Bad``: the name the command must list, a regular expression its reason must match,
and the issue-17 item it exercises (1-8), so a failing run says which promise broke.

Run as a script, ``python tests/fuzz_inputs.py RSS_FILE ARGS...`` runs ``bodynet ARGS...`` in this
process with the address space capped (``FUZZ_AS_LIMIT`` bytes, 3 GiB by default: a command that tries
to allocate without bound fails instead of taking the machine down) and writes its peak resident memory
(kB) to RSS_FILE. ``FUZZ_TREE`` names another checkout whose ``bodynet_cli`` the runner imports (to compare
code before and after a change on the same inputs). ``FUZZ_MAX_IMAGE_PIXELS`` lowers Pillow's
decompression-bomb limit, so small files play the part of huge images.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bad:
    """A malformed input: ``name`` as the command lists it (file name, or pair name for eval), ``reason``
    a regex its listed reason must match, ``item`` the issue-17 item (1-8) it exercises."""

    name: str
    reason: str
    item: int


@dataclass
class Batch:
    """One command run: its arguments (after ``bodynet``), the bad inputs it must list, the good outputs
    it must write (paths under ``out``), and what else to check afterwards."""

    args: list[str]
    out: Path
    bad: list[Bad] = field(default_factory=list)
    good: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # output files whose predictions must agree pairwise (the same picture stored two ways)
    same: list[tuple[Path, Path]] = field(default_factory=list)
    joints_json: list[str] | None = None  # predict: exactly these images in joints.json


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float


def run_batch(batch: Batch, timeout: float = 300) -> Result:
    """Run ``bodynet batch.args`` through this module as a subprocess; the peak RSS comes back in a file."""
    rss_file = batch.out.parent / f".{batch.out.name}.rss"
    # FUZZ_TREE: run another checkout's bodynet_cli on the same inputs (tools/fuzz_items.py, before/after).
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.environ.get("FUZZ_TREE", str(REPO)), **batch.env)
    env.pop("BODYNET_BODY_MODEL", None)
    cmd = [sys.executable, str(Path(__file__).resolve()), str(rss_file), *batch.args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    rss = float(rss_file.read_text()) / 1024 if rss_file.is_file() else float("nan")
    rss_file.unlink(missing_ok=True)
    return Result(p.returncode, p.stdout, p.stderr, rss)


# ----------------------------------------------------------------------------------------------- helpers


def _symlinks(folder: Path, stem: str, suffix: str, item: int = 6) -> list[Bad]:
    """A dangling link and a two-link loop, both with the wanted suffix."""
    (folder / f"{stem}_dangling{suffix}").symlink_to(folder / "no_such_target")
    a, b = folder / f"{stem}_loop_a{suffix}", folder / f"{stem}_loop_b{suffix}"
    a.symlink_to(b.name)
    b.symlink_to(a.name)
    return [Bad(f"{stem}_dangling{suffix}", "broken symbolic link", item),
            Bad(a.name, "symbolic link loop", item), Bad(b.name, "symbolic link loop", item)]


def _photo(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth random picture, uint8 (h, w, 3)."""
    from PIL import Image

    small = rng.integers(0, 256, size=(h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def _encode(rgb: np.ndarray, fmt: str, **kw) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


def tiny_checkpoint(folder: Path) -> Path:
    """A random-weight checkpoint of a tiny configuration (64² input, 16³... grids), as the predict tests use."""
    import torch

    from bodynet_cli.models.bodynet import BodyNet
    from bodynet_cli.models.checkpoint import save_checkpoint
    from bodynet_cli.models.config import ModelConfig

    cfg = ModelConfig(name="tiny", input_size=64, heatmap_size=16, voxel_res=16, features=16, depth=2)
    torch.manual_seed(0)
    return save_checkpoint(folder, BodyNet(cfg).eval(), cfg, {"note": "random weights for tests"})


# ----------------------------------------------------------------------------------------------- predict


def predict_batch(root: Path, ckpt: Path, rng: np.random.Generator, n_random: int = 8) -> Batch:
    """Images: good ones (PNG, JPEG, GIF, float and int TIFF, one above the bomb-warning size) and bad ones
    (random bytes, truncations, tiny, multi-frame, NaN float, too large, links, name collisions); a
    previous run's output folder inside the input folder; a truncated output to be redone."""
    from PIL import Image

    src = root / "pin"
    src.mkdir(parents=True)
    out = src / "results"  # the output folder lies inside the input folder (item 7)
    bad: list[Bad] = []
    good = ["g0.png", "g1.jpg", "g2.gif", "g3_f32.tif", "g3_i32.tif", "g4_big.png", "dup.jpg"]
    photo = _photo(rng, 96, 80)
    (src / "g0.png").write_bytes(_encode(photo, "PNG"))
    (src / "g1.jpg").write_bytes(_encode(_photo(rng, 72, 100), "JPEG", quality=90))
    (src / "g2.gif").write_bytes(_encode(photo, "GIF"))  # a single-frame GIF is an image (item 6)
    gray = photo.mean(axis=2).round()  # whole numbers: the float and the int file hold the same picture
    Image.fromarray(gray.astype(np.float32), mode="F").save(src / "g3_f32.tif")  # 0..255 floats (item 6)
    Image.fromarray(gray.astype(np.int32), mode="I").save(src / "g3_i32.tif")
    (src / "g4_big.png").write_bytes(_encode(_photo(rng, 1100, 1000), "PNG"))  # above the lowered pixel limit
    (src / "dup.jpg").write_bytes(_encode(photo, "JPEG"))
    (src / "dup.png").write_bytes(_encode(photo, "PNG"))
    bad.append(Bad("dup.png", "same output name", 6))

    jpeg, png = _encode(photo, "JPEG"), _encode(photo, "PNG")
    for i in range(n_random):
        (src / f"rand_{i}.jpg").write_bytes(rng.integers(0, 256, int(rng.integers(0, 4000)), dtype=np.uint8).tobytes())
        bad.append(Bad(f"rand_{i}.jpg", "not an image|corrupt|truncated", 6))
        cut = int(rng.uniform(0.2, 0.8) * len(jpeg))
        (src / f"trunc_{i}.jpg").write_bytes(jpeg[:cut])
        bad.append(Bad(f"trunc_{i}.jpg", "truncated|corrupt", 6))
        cut = int(rng.uniform(0.1, 0.9) * len(png))
        (src / f"cut_{i}.png").write_bytes(png[:cut])
        bad.append(Bad(f"cut_{i}.png", "truncated|corrupt", 6))
    for fmt, suffix in (("WEBP", ".webp"), ("BMP", ".bmp"), ("TIFF", ".tiff")):
        data = _encode(photo, fmt)
        (src / f"trunc_{fmt.lower()}{suffix}").write_bytes(data[: len(data) // 2])
        bad.append(Bad(f"trunc_{fmt.lower()}{suffix}", "truncated|corrupt|not an image", 6))
    (src / "empty.png").write_bytes(b"")
    (src / "text.png").write_text("this is not a picture\n")
    (src / "tiny.png").write_bytes(_encode(photo[:8, :8], "PNG"))
    frames = [Image.fromarray(_photo(rng, 64, 64)) for _ in range(3)]
    frames[0].save(src / "pages.tif", save_all=True, append_images=frames[1:2])
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    nan = gray.astype(np.float32)
    nan[10:20, 10:20] = np.nan
    Image.fromarray(nan, mode="F").save(src / "nan_f32.tif")
    (src / "bomb.png").write_bytes(_encode(np.zeros((1500, 1400, 3), np.uint8), "PNG"))  # > 2x the lowered limit
    bad += [Bad("empty.png", "not an image|corrupt|truncated", 6), Bad("text.png", "not an image", 6),
            Bad("tiny.png", "at least 16", 6), Bad("pages.tif", "holds 2 images", 6),
            Bad("anim.gif", "holds 3 images", 6), Bad("nan_f32.tif", "NaN", 6), Bad("bomb.png", "exceeds limit", 6)]
    bad += _symlinks(src, "link", ".png")

    # A previous run's outputs inside the input folder: a picture and a joints.json, never inputs (item 7),
    # and a truncated NPZ that --skip-existing must redo rather than stop on (item 8).
    out.mkdir()
    (out / "old.viz.png").write_bytes(_encode(_photo(rng, 64, 64), "PNG"))
    (out / "joints.json").write_text("{}")
    (out / "g0.npz").write_bytes(b"PK\x03\x04" + bytes(200))
    args = ["predict", str(src), "--out", str(out), "-c", str(ckpt), "--crop", "full", "--skip-existing",
            "-b", "4", "--device", "cpu"]
    return Batch(args, out, bad, [out / f"{Path(g).stem}.npz" for g in good],
                 env={"FUZZ_MAX_IMAGE_PIXELS": "1000000"},
                 same=[(out / "g3_f32.npz", out / "g3_i32.npz")], joints_json=good)


def boxes_batch(root: Path, ckpt: Path, rng: np.random.Generator) -> Batch:
    """--boxes far outside, wholly outside, huge, and a 60x margin: memory must stay bounded (item 4)."""
    src = root / "pbox"
    src.mkdir(parents=True)
    boxes = {"far.png": [-5000, -5000, 90000, 90000], "outside.png": [1e6, 1e6, 1e6 + 10, 1e6 + 10],
             "whole.png": [0, 0, 256, 256], "speck.png": [100, 100, 100.5, 100.5]}
    for name in [*boxes, "nobox.png"]:
        (src / name).write_bytes(_encode(_photo(rng, 256, 256), "PNG"))
    (root / "boxes.json").write_text(json.dumps(boxes))
    out = root / "pbox_out"
    args = ["predict", str(src), "--out", str(out), "-c", str(ckpt), "--boxes", str(root / "boxes.json"),
            "--margin", "60", "--device", "cpu"]
    return Batch(args, out, [Bad("nobox.png", "no box", 4)], [out / f"{Path(n).stem}.npz" for n in boxes])


# ---------------------------------------------------------------------------------------------- fit-smpl


def _prediction(model, seed: int, res: int):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fit_helpers import make_sample

    from bodynet_cli.io.sample import Sample

    s = make_sample(model, seed, res=res)
    return Sample(voxels=s.voxels, joints3d=s.joints3d, crop=s.crop, camera=s.camera)


def _npz(path: Path, **arrays) -> None:
    """Write arrays as they are (no validation): how a foreign tool might."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _sample_arrays(sample) -> dict[str, np.ndarray]:
    from bodynet_cli.io.npz import pack_voxels

    d = {}
    if sample.voxels is not None:
        d["voxels"], d["voxel_shape"] = pack_voxels(sample.voxels)
    for k in ("voxel_probs", "part_voxels", "joints2d", "joints3d", "segmentation", "crop", "camera"):
        if getattr(sample, k) is not None:
            d[k] = np.asarray(getattr(sample, k))
    return d


def fit_batch(root: Path, rng: np.random.Generator, res: int = 24, n_random: int = 16) -> Batch:
    """Prediction files with every kind of defect fit-smpl must refuse one by one (items 1, 6, 7, 8)."""
    import torch

    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.body.model import BodyModel
    from bodynet_cli.io.fitted_body import FittedBody, write_fitted_body
    from bodynet_cli.io.sample import save_sample

    model = BodyModel(load_body_model(), dtype=torch.float64)
    src = root / "fin"
    out = src / "fits"  # inside the input folder (item 7)
    goods = [_prediction(model, seed, res) for seed in (1, 2)]
    for i, s in enumerate(goods):
        save_sample(src / f"good_{i}.npz", s)
    base = _sample_arrays(goods[0])
    bad: list[Bad] = []

    def variant(name: str, reason: str, item: int, drop: tuple[str, ...] = (), **changes) -> None:
        arrays = {k: v for k, v in base.items() if k not in drop}
        arrays.update(changes)
        _npz(src / name, **arrays)
        bad.append(Bad(name, reason, item))

    crop, cam, j3 = base["crop"], base["camera"], base["joints3d"]
    variant("nan_crop.npz", "'crop'", 1, crop=np.where(np.arange(4) == 0, np.nan, crop).astype(np.float32))
    variant("zero_crop.npz", "'crop'", 1, crop=np.zeros(4, np.float32))
    variant("neg_side.npz", "'crop'", 1, crop=crop * np.float32([1, 1, -1, 1]))
    variant("nan_camera.npz", "'camera'", 1, camera=np.full(4, np.nan, np.float32))
    variant("zero_f.npz", "'camera'", 1, camera=cam * np.float32([0, 1, 1, 1]))
    variant("inf_joints.npz", "'joints3d' holds NaN", 1, joints3d=np.where(j3 > 0, np.inf, j3).astype(np.float32))
    variant("short_joints.npz", "'joints3d' has shape", 1, joints3d=j3[:15])
    variant("text_joints.npz", "'joints3d' has dtype", 1, joints3d=j3.astype(str))
    variant("no_joints.npz", "missing key 'joints3d'", 1, drop=("joints3d",))
    variant("no_crop.npz", "missing key 'crop'", 1, drop=("crop",))
    variant("no_grid.npz", "neither 'voxels' nor 'voxel_probs'", 1, drop=("voxels", "voxel_shape"))
    variant("nan_probs.npz", "'voxel_probs' holds NaN", 8, voxel_probs=np.full((res,) * 3, np.nan, np.float16))
    variant("big_probs.npz", "outside 0..1", 1, voxel_probs=np.full((res,) * 3, 3.0, np.float16))
    variant("empty_grid.npz", "empty", 1, voxels=np.zeros_like(base["voxels"]))
    variant("short_bits.npz", "bit-packed", 1, voxels=base["voxels"][:-3])
    variant("neg_shape.npz", "'voxel_shape'", 1, voxel_shape=np.int32([res, -res, res]))
    variant("bad_labels.npz", "'segmentation' has label", 1, segmentation=np.full((8, 8), 99, np.uint8))
    for i in range(n_random):  # NaN or infinity at a random place of a random float key
        key = ["crop", "camera", "joints3d"][i % 3]
        a = base[key].astype(np.float32).copy()
        a.flat[int(rng.integers(a.size))] = [np.nan, np.inf, -np.inf][int(rng.integers(3))]
        variant(f"rand_{i}_{key}.npz", f"'{key}' (holds NaN|is \\[)", 1, **{key: a})
    good_bytes = (src / "good_0.npz").read_bytes()
    (src / "trunc.npz").write_bytes(good_bytes[: len(good_bytes) // 2])
    (src / "text.npz").write_text("hello")
    _npz(src / "pickle.npz", joints3d=np.array([object()], dtype=object))
    bad += [Bad("trunc.npz", "not a readable .npz", 1), Bad("text.npz", "not an .npz", 1),
            Bad("pickle.npz", "pickled", 1)]
    bad += _symlinks(src, "link", ".npz")
    # A previous run's fit in the output folder: not an input of this run (item 7).
    write_fitted_body(out / "old.npz", FittedBody(
        betas=np.zeros(10), global_orient=np.zeros(3), body_pose=np.zeros(69), transl=np.zeros(3), scale=1.0,
        joints=np.zeros((24, 3)), vertices=np.zeros((3, 3)), model="x@0"))  # fmt: skip
    args = ["fit-smpl", str(src), "--out", str(out), "--iters", "4", "--joint-iters", "4", "--points", "200",
            "--no-flip", "-b", "64", "--device", "cpu"]
    good = [out / f"good_{i}.{ext}" for i in range(2) for ext in ("npz", "obj")]
    return Batch(args, out, bad, good)


# ---------------------------------------------------------------------------------------------- voxelize


def _obj(vertices, faces) -> str:
    lines = [f"v {x} {y} {z}" for x, y, z in np.asarray(vertices, dtype=np.float64)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces)]
    return "\n".join(lines) + "\n"


def voxelize_batch(root: Path, rng: np.random.Generator, n_random: int = 8) -> Batch:
    """Meshes and mesh/parameter NPZs with broken indices, non-finite values, no volume, binary data
    under a text suffix, links (items 2, 6, 7, 8)."""
    import pickle

    import trimesh

    src = root / "vin"
    src.mkdir(parents=True)
    out = src / "grids"  # inside the input folder (item 7)
    sphere = trimesh.creation.icosphere(subdivisions=2)
    v, f = sphere.vertices.astype(np.float64), sphere.faces.astype(np.int64)
    (src / "good_sphere.obj").write_text(_obj(v, f))
    trimesh.creation.box().export(src / "good_box.ply")
    _npz(src / "good_mesh.npz", vertices=v.astype(np.float32), faces=f.astype(np.int32))
    (src / "latin1.obj").write_bytes(b"# caf\xe9 \xe0 la cr\xe8me\n" + _obj(v, f).encode())  # Latin-1 comment
    good = ["good_sphere", "good_box", "good_mesh", "latin1"]
    bad: list[Bad] = []
    for i in range(n_random):
        faces = f.copy()
        faces.flat[int(rng.integers(faces.size))] = len(v) + int(rng.integers(0, 1000))
        _npz(src / f"past_{i}.npz", vertices=v, faces=faces)
        bad.append(Bad(f"past_{i}.npz", "index vertices", 2))
        verts = v.copy()
        verts.flat[int(rng.integers(verts.size))] = [np.nan, np.inf][i % 2]
        _npz(src / f"nan_{i}.npz", vertices=verts, faces=f)
        bad.append(Bad(f"nan_{i}.npz", "NaN or infinite", 2))
        (src / f"rand_{i}{['.ply', '.stl', '.off'][i % 3]}").write_bytes(
            rng.integers(0, 256, int(rng.integers(1, 3000)), dtype=np.uint8).tobytes())
        bad.append(Bad(f"rand_{i}{['.ply', '.stl', '.off'][i % 3]}", "not a readable|binary data|no triangles", 6))
    neg = f.copy()
    neg[3, 1] = -2
    _npz(src / "negative.npz", vertices=v, faces=neg)
    _npz(src / "half_index.npz", vertices=v, faces=f + 0.5)
    _npz(src / "flat_vertices.npz", vertices=v[:, :2], faces=f)
    _npz(src / "nothing.npz", weights=np.ones(3))
    _npz(src / "nan_betas.npz", betas=np.full(10, np.nan), global_orient=np.zeros(3), body_pose=np.zeros(69))
    _npz(src / "short_pose.npz", betas=np.zeros(10), global_orient=np.zeros(3), body_pose=np.zeros(60))
    _npz(src / "camera_only.npz", vertices=v, faces=f, camera=np.float32([500, 64, 64, 5]))
    _npz(src / "nan_camera.npz", vertices=v, faces=f, camera=np.float32([np.nan, 64, 64, 5]),
         crop=np.float32([0, 0, 128, 128]))
    _npz(src / "zero_f.npz", vertices=v + [0, 0, 5], faces=f, camera=np.float32([0, 64, 64, 5]),
         crop=np.float32([0, 0, 128, 128]))
    _npz(src / "zero_crop.npz", vertices=v + [0, 0, 5], faces=f, camera=np.float32([500, 64, 64, 5]),
         crop=np.float32([0, 0, 0, 0]))
    (src / "past.obj").write_text(_obj(v, f) + f"f 1 2 {len(v) + 7}\n")
    (src / "pickle.obj").write_bytes(pickle.dumps({"vertices": v, "faces": f}))
    (src / "empty.obj").write_text("")
    (src / "triangle.obj").write_text(_obj(v[:3], [[0, 1, 2]]))
    (src / "quad.obj").write_text(_obj([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]]))
    bad += [Bad("negative.npz", "index vertices", 2), Bad("half_index.npz", "whole vertex indices", 2),
            Bad("flat_vertices.npz", "'vertices' has shape", 2), Bad("nothing.npz", "neither", 2),
            Bad("nan_betas.npz", "'betas' holds NaN", 2), Bad("short_pose.npz", "expected 69", 2),
            Bad("camera_only.npz", "no 'crop'", 2), Bad("nan_camera.npz", "'camera' holds NaN", 2),
            Bad("zero_f.npz", "'camera' is", 2), Bad("zero_crop.npz", "'crop' is", 2),
            Bad("past.obj", "not a readable|index vertices", 2), Bad("pickle.obj", "binary data", 8),
            Bad("empty.obj", "no triangles", 2), Bad("triangle.obj", "no voxel is occupied", 8),
            Bad("quad.obj", "no voxel is occupied", 8)]
    bad += _symlinks(src, "link", ".obj")
    # A previous run's grid in the output folder: not an input of this run (item 7).
    _npz(out / "old.npz", voxels=np.zeros(512, np.uint8), voxel_shape=np.int32([16, 16, 16]))
    args = ["voxelize", str(src), "--out", str(out), "--res", "16", "--device", "cpu"]
    return Batch(args, out, bad, [out / f"{g}.npz" for g in good])


# -------------------------------------------------------------------------------------------------- eval


def eval_batch(root: Path, rng: np.random.Generator, n_random: int = 16) -> Batch:
    """Prediction / ground-truth pairs with non-finite, zero, empty, out-of-range or truncated content on
    either side (items 3, 6)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from eval_synthetic import make_pair

    from bodynet_cli.io.npz import read_npz

    pred, gt = root / "epred", root / "egt"
    good = [f"good_{i}.npz" for i in range(3)]
    for name in good:
        make_pair(root / "e", name, rng, fit=None)
    bad: list[Bad] = []

    def variant(name: str, side: str, reason: str, item: int = 3, **changes) -> None:
        make_pair(root / "e", name, rng, fit=None)
        path = root / "e" / side / name
        z = read_npz(path)
        z.update(changes)
        _npz(path, **z)
        bad.append(Bad(name, reason, item))

    crop = np.float32([100.0, 40.0, 150.0, 128.0])
    variant("nan_pred_crop.npz", "pred", "'crop'", crop=np.float32([np.nan, 40, 150, 128]))
    variant("zero_pred_crop.npz", "pred", "'crop'", crop=np.zeros(4, np.float32))
    variant("zero_gt_crop.npz", "gt", "'crop'", crop=crop * np.float32([1, 1, 0, 1]))
    variant("nan_joints2d.npz", "pred", "'joints2d' holds NaN", joints2d=np.full((16, 2), np.nan, np.float32))
    variant("nan_joints3d.npz", "gt", "'joints3d' holds NaN", joints3d=np.full((16, 3), np.nan, np.float32))
    variant("nan_camera.npz", "gt", "'camera'", camera=np.float32([np.nan, 160, 120, 6]))
    variant("zero_z0.npz", "gt", "'camera'", camera=np.float32([600, 160, 120, 0]))
    variant("nan_probs.npz", "pred", "'voxel_probs' holds NaN", voxel_probs=np.full((16,) * 3, np.nan, np.float16))
    variant("seg_label.npz", "pred", "'segmentation' has label", segmentation=np.full((16, 16), 15, np.uint8))
    variant("part_label.npz", "gt", "'part_voxels' has label", part_voxels=np.full((16,) * 3, 9, np.uint8))
    variant("short_bits.npz", "gt", "bit-packed", voxels=np.zeros(5, np.uint8))
    variant("joints_shape.npz", "pred", "'joints2d' has shape", joints2d=np.zeros((16, 3), np.float32))
    make_pair(root / "e", "two_empty.npz", rng, fit=None)
    for side in ("pred", "gt"):
        z = read_npz(root / "e" / side / "two_empty.npz")
        z["voxels"] = np.zeros_like(z["voxels"])
        z.pop("part_voxels")
        _npz(root / "e" / side / "two_empty.npz", **z)
    bad.append(Bad("two_empty.npz", "no occupied voxel", 3))
    for i in range(n_random):
        side = ["pred", "gt"][i % 2]
        keys = ["crop", "joints2d", "joints3d", "camera"] if side == "gt" else ["crop", "joints2d", "joints3d"]
        key = keys[i % len(keys)]
        make_pair(root / "e", f"rand_{i}.npz", rng, fit=None)
        path = root / "e" / side / f"rand_{i}.npz"
        z = read_npz(path)
        a = z[key].astype(np.float32).copy()
        a.flat[int(rng.integers(a.size))] = [np.nan, np.inf, -np.inf][int(rng.integers(3))]
        z[key] = a
        _npz(path, **z)
        bad.append(Bad(f"rand_{i}.npz", f"'{key}' (holds NaN|is \\[)", 3))
    make_pair(root / "e", "trunc.npz", rng, fit=None)
    data = (root / "e" / "pred" / "trunc.npz").read_bytes()
    (root / "e" / "pred" / "trunc.npz").write_bytes(data[: len(data) // 3])
    bad.append(Bad("trunc.npz", "not a readable .npz", 3))
    make_pair(root / "e", "dangling.npz", rng, fit=None)
    (root / "e" / "pred" / "dangling.npz").unlink()
    (root / "e" / "pred" / "dangling.npz").symlink_to(root / "e" / "pred" / "gone.npz")
    bad.append(Bad("dangling.npz", "broken symbolic link", 6))
    (root / "e" / "pred").rename(pred)
    (root / "e" / "gt").rename(gt)
    out = root / "ereport"
    args = ["eval", str(pred), "--gt", str(gt), "--out", str(out), "--workers", "2"]
    return Batch(args, out, bad, [out / "metrics.json", out / "per_sample.csv"])


def _main() -> None:
    rss_file, args = Path(sys.argv[1]), sys.argv[2:]
    limit = int(os.environ.get("FUZZ_AS_LIMIT", 3 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if "FUZZ_MAX_IMAGE_PIXELS" in os.environ:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = int(os.environ["FUZZ_MAX_IMAGE_PIXELS"])
    from bodynet_cli.cli.app import app

    try:
        app(args=args, prog_name="bodynet")
    finally:
        rss_file.write_text(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


if __name__ == "__main__":
    _main()
