"""Synthetic prediction / ground-truth / fit folders with known scores, for the eval tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from bodynet_cli.geometry.space import Camera, project
from bodynet_cli.io.npz import encode_meta, write_npz
from bodynet_cli.io.sample import Sample, save_sample

CAM = Camera(f=600.0, cx=160.0, cy=120.0, z0=6.0)
CROP = np.array([100.0, 40.0, 150.0, 128.0], np.float32)
R = 16
SPHERE = trimesh.creation.icosphere(subdivisions=1)  # 42 vertices, 80 faces
RADIUS = 0.5


@dataclass
class Truth:
    """The arrays behind one pair and the scores they must give."""

    gt_voxels: np.ndarray
    pred_voxels: np.ndarray
    gt_seg: np.ndarray
    pred_seg: np.ndarray  # twice the ground truth's size
    joint3d_error_mm: float
    surface_error_mm: float


def file_joints(cam_joints: np.ndarray) -> np.ndarray:
    """Camera-space joints (16, 3) -> the file convention: x, y pixels, z metres from the pelvis."""
    uv = project(cam_joints, CAM)
    return np.concatenate([uv, cam_joints[:, 2:] - cam_joints[6, 2]], 1).astype(np.float32)


def write_fit(path: Path, vertices: np.ndarray, frame: str = "camera") -> None:
    """A fitted-body NPZ with the keys of docs/formats.md."""
    write_npz(path, betas=np.zeros(10, np.float32), global_orient=np.zeros(3, np.float32),
              body_pose=np.zeros(69, np.float32), transl=np.zeros(3, np.float32), scale=np.float32(1.0),
              joints=np.zeros((24, 3), np.float32), vertices=vertices.astype(np.float32),
              model=np.asarray("test@0"), loss=encode_meta({}), meta=encode_meta({"frame": frame}))


def make_pair(root: Path, name: str, rng: np.random.Generator, *, fit: str | None = "same",
              pred_camera: bool = False) -> Truth:
    """Write ``root/{gt,pred,fits}/name`` and return what eval must find.

    The prediction flips 10 % of the voxels, has its segmentation at twice the size, one joint
    moved by (30, 0, 40) mm in camera space (so the 3D error is 50/16 mm), and a fit moved 10 mm
    along x (``fit="same"``) or a different topology lying 10 mm outside the ground-truth mesh
    (``fit="other"``).
    """
    gt_vox = rng.random((R, R, R)) < 0.35
    pred_vox = gt_vox ^ (rng.random((R, R, R)) < 0.1)
    gt_part = (rng.integers(1, 7, (R, R, R)) * gt_vox).astype(np.uint8)
    pred_part = np.where(rng.random((R, R, R)) < 0.7, gt_part, rng.integers(0, 7, (R, R, R))).astype(np.uint8)
    gt_seg = rng.integers(0, 15, (8, 8)).astype(np.uint8)
    pred_seg = rng.integers(0, 15, (16, 16)).astype(np.uint8)
    cam_joints = rng.normal(size=(16, 3)) * 0.3 + [0.0, 0.0, CAM.z0]
    cam_joints[6] = [0.05, 0.1, CAM.z0]  # the pelvis at depth Z0
    pred_joints = cam_joints.copy()
    pred_joints[0] += [0.03, 0.0, 0.04]
    gt2d = project(cam_joints, CAM).astype(np.float32)
    verts = (SPHERE.vertices * RADIUS + [0.0, 0.0, CAM.z0]).astype(np.float32)
    save_sample(root / "gt" / name, Sample(
        voxels=gt_vox, part_voxels=gt_part, joints2d=gt2d, joints3d=file_joints(cam_joints),
        segmentation=gt_seg, crop=CROP, camera=CAM.to_array(), vertices=verts,
        faces=SPHERE.faces.astype(np.int32)))  # fmt: skip
    save_sample(root / "pred" / name, Sample(
        voxels=pred_vox, part_voxels=pred_part, joints2d=gt2d + rng.normal(size=(16, 2)).astype(np.float32) * 4,
        joints3d=file_joints(pred_joints), segmentation=pred_seg, crop=CROP,
        camera=CAM.to_array() if pred_camera else None, meta={"input": "missing.png"}))  # fmt: skip
    if fit == "same":
        write_fit(root / "fits" / name, verts + np.float32([0.01, 0, 0]))
    elif fit == "other":
        # another vertex count: the coarse sphere's vertices, one twice, pushed 10 mm outwards (the
        # nearest point of a convex icosphere to a point straight out from a vertex is that vertex)
        v = SPHERE.vertices[np.r_[np.arange(42), 0]]
        write_fit(root / "fits" / name, v * (RADIUS + 0.01) + [0.0, 0.0, CAM.z0])
    return Truth(gt_vox, pred_vox, gt_seg, pred_seg, 50.0 / 16, 10.0)
