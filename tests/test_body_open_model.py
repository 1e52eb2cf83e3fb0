"""The bundled open body model: loads by default, watertight, plausible sizes, parts and joints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from bodynet_cli.body import load as body_load
from bodynet_cli.body.conventions import JOINT_NAMES, SMPL_JOINT_NAMES, SMPL_TO_BODYNET
from bodynet_cli.body.load import load_body_model
from bodynet_cli.body.model import BodyModel


@pytest.fixture(scope="module")
def open_model():
    return load_body_model(body_load.bundled_model_path())


def _pose(model: BodyModel, betas: np.ndarray, body_pose=None, global_orient=None):
    b = torch.as_tensor(betas, dtype=torch.float64)
    n = b.shape[0]
    bp = torch.zeros(n, 69, dtype=torch.float64) if body_pose is None else torch.as_tensor(body_pose).double()
    go = torch.zeros(n, 3, dtype=torch.float64) if global_orient is None else torch.as_tensor(global_orient).double()
    return model(b, go, bp)


def test_bundled_model_is_the_default(monkeypatch, open_model):
    monkeypatch.delenv(body_load.ENV_VAR, raising=False)
    data = load_body_model()
    assert data is open_model  # cached per file
    assert data.name == "open" and data.num_betas == 10 and data.posedirs is None
    assert data.num_vertices > 10000 and len(data.faces) > 20000


def test_watertight_single_shell_for_several_shapes(open_model):
    m = BodyModel(open_model, torch.float64)
    rng = np.random.default_rng(0)
    out = _pose(m, np.concatenate([np.zeros((1, 10)), rng.uniform(-2, 2, (2, 10))]))
    for v in out.vertices.numpy():
        mesh = trimesh.Trimesh(v, open_model.faces, process=False)
        assert mesh.is_watertight and mesh.euler_number == 2  # one closed genus-0 surface
        assert 0.035 < mesh.volume < 0.13  # m³, roughly 35-130 kg


def test_standing_height_over_betas(open_model):
    m = BodyModel(open_model, torch.float64)
    rng = np.random.default_rng(1)
    betas = np.concatenate([rng.uniform(-2, 2, (8, 10)), 2 * np.eye(10)[:3], -2 * np.eye(10)[:3]])
    v = _pose(m, betas).vertices.numpy()
    height = v[:, :, 1].max(1) - v[:, :, 1].min(1)
    assert np.all((height > 1.45) & (height < 2.05)), height
    assert height.max() - height.min() > 0.2  # the shape space really varies stature


def test_every_body_part_has_vertices(open_model):
    counts = np.bincount(open_model.vertex_seg15, minlength=15)
    assert counts[0] == 0 and np.all(counts[1:] > 50), counts
    assert set(np.unique(open_model.vertex_part7)) == {1, 2, 3, 4, 5, 6}


def test_skinning_weights_and_regressor_are_convex(open_model):
    np.testing.assert_allclose(open_model.weights.sum(1), 1, atol=1e-5)
    assert open_model.weights.min() >= 0 and open_model.J_regressor.min() >= 0
    np.testing.assert_allclose(open_model.J_regressor.sum(1), 1, atol=1e-5)


def test_rest_joints_sit_where_their_names_say(open_model):
    """SMPL axes (Y up, facing +Z, the person's left at +X), pelvis at the origin, T-pose."""
    m = BodyModel(open_model, torch.float64)
    rng = np.random.default_rng(2)
    out = _pose(m, np.concatenate([np.zeros((1, 10)), rng.uniform(-2, 2, (4, 10))]))
    for j24, j16, v in zip(out.joints.numpy(), out.joints16.numpy(), out.vertices.numpy(), strict=True):
        J = dict(zip(SMPL_JOINT_NAMES, j24, strict=True))
        np.testing.assert_allclose(J["pelvis"], 0, atol=0.015)
        np.testing.assert_array_equal(j16, j24[SMPL_TO_BODYNET])
        B = dict(zip(JOINT_NAMES, j16, strict=True))
        # Vertical order along Y, feet on the lowest part of the body.
        assert B["head"][1] > B["neck"][1] > B["thorax"][1] > B["pelvis"][1] > B["r_knee"][1] > B["r_ankle"][1]
        assert B["r_ankle"][1] - v[:, 1].min() < 0.15
        # The person's left is +X, right is -X; the toes point to +Z (the body faces +Z).
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            assert B["l_" + part][0] > 0.05 > -0.05 > B["r_" + part][0], part
        assert J["l_foot"][2] > J["l_ankle"][2] + 0.05
        # T-pose: the arms are horizontal and outstretched.
        for s in "lr":
            arm = J[f"{s}_wrist"] - J[f"{s}_shoulder"]
            assert abs(arm[1]) < 0.03 and abs(arm[0]) > 0.4
        # Every joint lies inside the body's bounding box.
        assert np.all(j24 > v.min(0) - 1e-3) and np.all(j24 < v.max(0) + 1e-3)


def test_upright_facing_an_opencv_camera(open_model):
    """global_orient = (π, 0, 0) makes the body stand upright (head at -y) and face the camera (-z)."""
    m = BodyModel(open_model, torch.float64)
    out = _pose(m, np.zeros((1, 10)), global_orient=[[np.pi, 0.0, 0.0]])
    J = dict(zip(SMPL_JOINT_NAMES, out.joints[0].numpy(), strict=True))
    assert J["head"][1] < J["pelvis"][1] - 0.5  # y down: the head is above
    assert J["l_foot"][2] < J["l_ankle"][2] - 0.05  # the toes point at the camera
    assert J["l_shoulder"][0] > 0  # the person's left appears on the image's right
