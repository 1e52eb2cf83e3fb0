"""Ground-truth samples for the fit tests: known body parameters -> camera, crop, voxels, joints3d."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from bodynet_cli.body.conventions import PELVIS
from bodynet_cli.body.poses import sample_poses
from bodynet_cli.data.synth.bodies import sample_betas, sample_orientation
from bodynet_cli.data.synth.camera import CameraSettings, sample_camera, sample_crop
from bodynet_cli.geometry.space import Camera, project
from bodynet_cli.geometry.voxelize import voxelize_camera
from bodynet_cli.io.sample import Sample


def make_sample(model, seed: int, res: int = 128, pose_spread: float = 1.0) -> Sample:
    """A SURREAL-like ground-truth sample: a standing body from the base-pose library (what the fitting
    prior models, rather than ``synth``'s wider pose library), 4-10 m away, whole in the crop."""
    rng = np.random.default_rng(seed)
    betas, _ = sample_betas(rng, model.num_betas, 0.0)
    pose = np.asarray(sample_poses(rng, 1, pose_spread), np.float64)[0]
    params = SimpleNamespace(betas=betas, body_pose=pose[3:], global_orient=sample_orientation(rng, 8.0))
    camera, pelvis = sample_camera(rng, CameraSettings(depth=(4.0, 10.0)))

    def t(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float64)[None]

    with torch.no_grad():
        out = model(t(params.betas), t(params.global_orient), t(params.body_pose))
        transl = pelvis - out.joints[0, 0].numpy()
        out = model(t(params.betas), t(params.global_orient), t(params.body_pose), t(transl))
    v, j16 = out.vertices[0].numpy(), out.joints16[0].numpy()
    camera = Camera(camera.f, camera.cx, camera.cy, float(j16[PELVIS, 2]))
    crop = sample_crop(rng, project(v, camera), 256, CameraSettings())
    occ = voxelize_camera(torch.as_tensor(v), model.faces, camera, crop, res, closed=True).numpy()
    joints3d = np.concatenate([project(j16, camera), j16[:, 2:] - camera.z0], 1)
    return Sample(voxels=occ, joints3d=joints3d.astype(np.float32), crop=crop.to_array(), camera=camera.to_array(),
                  vertices=v.astype(np.float32), betas=params.betas.astype(np.float32),
                  global_orient=params.global_orient.astype(np.float32), body_pose=params.body_pose.astype(np.float32),
                  transl=transl.astype(np.float32))


def camera_joints(sample: Sample) -> np.ndarray:
    """The sample's 16 joints in camera metres (the inverse of the ``joints3d`` encoding)."""
    f, cx, cy, z0 = sample.camera.astype(np.float64)
    j = sample.joints3d.astype(np.float64)
    Z = z0 + j[:, 2]
    return np.stack([(j[:, 0] - cx) * Z / f, (j[:, 1] - cy) * Z / f, Z], 1)
