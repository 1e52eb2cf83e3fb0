"""Tiny files in the published formats of SURREAL, UP-3D and MPII, written by the tests themselves.

The body is the bundled open model (SMPL-format, 24 joints) standing in for the user's SMPL files.
SURREAL's world/camera conventions are written out here independently of the reader:
X_cam = R·(X_world − camLoc), R = [[0, 0, −1], [0, 1, 0], [−1, 0, 0]], K = [[600, 0, 160], [0, 600, 120]].
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch
from scipy.io import savemat
from scipy.spatial.transform import Rotation

from bodynet_cli.body.load import bundled_model_path, load_body_model
from bodynet_cli.body.model import BodyModel

R_CAM = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
K = np.array([[600.0, 0.0, 160.0], [0.0, 600.0, 120.0], [0.0, 0.0, 1.0]])
W, H = 320, 240


def body_model_file() -> Path:
    return bundled_model_path()


def _model() -> BodyModel:
    return BodyModel(load_body_model(bundled_model_path()), dtype=torch.float64)


def surreal_world_body(pose: np.ndarray, shape: np.ndarray, zrot: float, trans: np.ndarray):
    """World vertices (V, 3) and ``joints3D`` (24, 3) of a SURREAL body: orientation Rx(90°)·Rz(zrot)·R(pose[:3]),
    SMPL(shape, pose) + trans. As SURREAL's smpl_relations.py reads it, joints3D's pelvis is trans + the rest
    pelvis at zero shape (the other joints are the posed body's)."""
    m = _model()
    rx = Rotation.from_euler("x", 90, degrees=True).as_matrix()
    rz = Rotation.from_euler("z", zrot).as_matrix()
    go = Rotation.from_matrix(rx @ rz @ Rotation.from_rotvec(pose[:3]).as_matrix()).as_rotvec()
    out = m(torch.from_numpy(shape[None]), torch.from_numpy(go[None]), torch.from_numpy(pose[None, 3:]))
    joints = out.joints[0].numpy() + trans
    joints[0] = trans + m.J_template[0].numpy()
    return out.vertices[0].numpy() + trans, joints


def project_world(points: np.ndarray, cam_loc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> (camera points (N, 3), pixels (N, 2))."""
    cam = (points - cam_loc) @ R_CAM.T
    uvw = cam @ K.T
    return cam, uvw[:, :2] / uvw[:, 2:]


def write_surreal_clip(folder: Path, stem: str, frames: int, rng: np.random.Generator, gender: int = 0) -> dict:
    """One clip: ``stem.mp4``, ``stem_info.mat``, ``stem_segm.mat``. Returns what was written, per frame."""
    from bodynet_cli.io.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    m = _model()
    vertex_part = m.data.weights.argmax(axis=1)  # SMPL part of each vertex (dominant skinning joint)
    cam_loc = np.array([6.0, 0.0, 0.0])
    zrot = float(np.pi / 2 + rng.uniform(-0.3, 0.3))  # the body faces the camera (world +x)
    j2, j3, poses, shapes, segs, images, verts = [], [], [], [], [], [], []
    for _ in range(frames):
        pose = np.zeros(72)
        pose[:3] = [np.pi / 2, 0.0, 0.0]  # mocap Z-up root: upright in SURREAL's world
        pose[3:] = rng.normal(0, 0.15, 69)
        shape = rng.normal(0, 0.5, 10)
        v, j = surreal_world_body(pose, shape, zrot, np.array([0.0, rng.uniform(-0.1, 0.1), 0.0]))
        _, uv_j = project_world(j, cam_loc)
        _, uv_v = project_world(v, cam_loc)
        seg = np.zeros((H, W), np.uint8)
        img = np.full((H, W, 3), 90, np.uint8)
        px = np.floor(uv_v).astype(int)
        ok = (px[:, 0] >= 0) & (px[:, 0] < W) & (px[:, 1] >= 0) & (px[:, 1] < H)
        seg[px[ok, 1], px[ok, 0]] = vertex_part[ok] + 1
        img[seg > 0] = np.stack([seg[seg > 0] * 10, 200 - seg[seg > 0] * 5, np.full((seg > 0).sum(), 60)], 1)
        j2.append(uv_j.T)
        j3.append(j.T)
        poses.append(pose)
        shapes.append(shape)
        segs.append(seg)
        images.append(img)
        verts.append(v)
    info = {"joints2D": np.stack(j2, -1), "joints3D": np.stack(j3, -1), "pose": np.stack(poses, -1),
            "shape": np.stack(shapes, -1), "zrot": np.full((frames, 1), zrot), "camLoc": cam_loc[:, None],
            "gender": np.full((frames, 1), gender, np.uint8), "camDist": np.array([[6.0]])}  # fmt: skip
    savemat(folder / f"{stem}_info.mat", info)
    savemat(folder / f"{stem}_segm.mat", {f"segm_{t + 1}": segs[t] for t in range(frames)})
    savemat(folder / f"{stem}_depth.mat", {f"depth_{t + 1}": np.full((H, W), 1e10) for t in range(frames)})
    write_video(folder / f"{stem}.mp4", images)
    return {"info": info, "segm": segs, "images": images, "vertices": verts, "zrot": zrot, "cam_loc": cam_loc}


def write_surreal(root: Path, seed: int = 0, frames: int = 3) -> dict:
    """A two-clip sequence ``root/run0/seqA/seqA_c0001`` and ``_c0002``. Returns {clip stem: written}."""
    rng = np.random.default_rng(seed)
    folder = root / "run0" / "seqA"
    return {stem: write_surreal_clip(folder, stem, frames, rng) for stem in ("seqA_c0001", "seqA_c0002")}


def write_up3d(root: Path, seed: int = 0, n: int = 2) -> dict:
    """UP-3D files for ``n`` samples 00000.. (image, body pickle of plain numpy values, crop info, split lists)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for i in range(n):
        stem = f"{i:05d}"
        pose = np.zeros(72)
        pose[:3] = [np.pi, 0.0, 0.0]  # upright, facing an OpenCV camera
        pose[3:] = rng.normal(0, 0.15, 69)
        body = {"pose": pose, "betas": rng.normal(0, 0.5, 10), "trans": np.array([0.02, 0.1, 0.0]),
                "f": np.array([500.0, 500.0]), "rt": np.zeros(3), "t": np.array([0.0, 0.0, 5.0])}  # fmt: skip
        (root / f"{stem}_body.pkl").write_bytes(pickle.dumps(body, protocol=2))
        img = rng.integers(0, 255, (400, 360, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / f"{stem}_image.png")
        # The release's crop info: the fit image's height and width, then the rows y0, y1 and columns x0, x1
        # of the image it shows. Sample 0: the whole image; the others: rows 50..350, columns 40..300, halved.
        info = "400 360 0 400 0 360" if i == 0 else "150 130 50 350 40 300"
        (root / f"{stem}_fit_crop_info.txt").write_text(info + "\n")
        written[stem] = body
    (root / "train.txt").write_text("".join(f"/{i:05d}_image.png\n" for i in range(n)))
    (root / "val.txt").write_text("")
    (root / "test.txt").write_text(f"/{0:05d}_image.png\n")
    return written


MPII_JOINTS = np.array([
    [100, 300], [102, 250], [105, 200], [135, 200], [138, 250], [140, 300], [120, 200], [120, 130], [120, 115],
    [121, 80], [80, 190], [85, 160], [95, 130], [145, 130], [155, 160], [160, 190],
], dtype=np.float64)  # MATLAB 1-based pixels, a person standing, facing us


def write_mpii_images(folder: Path, names: list[str], size=(400, 300)) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for n in names:
        Image.fromarray(rng.integers(0, 255, (size[0], size[1], 3), dtype=np.uint8)).save(folder / n)


def write_mpii_json(root: Path) -> Path:
    """``root/annot/{train,valid}.json`` + ``root/images/``: two people in one image, one in another; the
    second person has no left wrist (joints_vis 0) and a head box."""
    people = [
        {"image": "000001.jpg", "joints": MPII_JOINTS.tolist(), "joints_vis": [1] * 16, "center": [121, 190],
         "scale": 1.2},
        {"image": "000001.jpg", "joints": (MPII_JOINTS + [20, 0]).tolist(), "joints_vis": [1] * 15 + [0],
         "center": [141, 190], "scale": 1.2, "headbox": [101, 60, 141, 118]},
        {"image": "000002.jpg", "joints": MPII_JOINTS.tolist(), "joints_vis": [1] * 16, "center": [121, 190],
         "scale": 1.2},
    ]  # fmt: skip
    (root / "annot").mkdir(parents=True, exist_ok=True)
    (root / "annot" / "train.json").write_text(json.dumps(people))
    (root / "annot" / "valid.json").write_text(json.dumps(people[1:2]))
    write_mpii_images(root / "images", ["000001.jpg", "000002.jpg"])
    return root


def write_mpii_mat(root: Path) -> Path:
    """MPII's release .mat (RELEASE struct) with one training image of one person (head box, 15 joints:
    no left wrist) and one test image, and ``root/images/``."""
    points = [{"x": float(x), "y": float(y), "id": j, "is_visible": 1} for j, (x, y) in enumerate(MPII_JOINTS)
              if j != 15]  # fmt: skip
    point = np.empty(len(points), dtype=object)
    for k, p in enumerate(points):
        point[k] = p
    rect = {"x1": 101.0, "y1": 60.0, "x2": 141.0, "y2": 118.0, "annopoints": {"point": point},
            "objpos": {"x": 121.0, "y": 190.0}, "scale": 1.2}  # fmt: skip
    annolist = np.empty(2, dtype=object)
    annolist[0] = {"image": {"name": "000001.jpg"}, "annorect": rect}
    annolist[1] = {"image": {"name": "000002.jpg"}, "annorect": np.empty(0, dtype=object)}
    root.mkdir(parents=True, exist_ok=True)
    savemat(root / "mpii_human_pose_v1_u12_1.mat", {"RELEASE": {"annolist": annolist, "img_train": np.array([1, 0])}})
    write_mpii_images(root / "images", ["000001.jpg", "000002.jpg"])
    return root / "mpii_human_pose_v1_u12_1.mat"
