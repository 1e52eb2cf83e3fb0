"""The fitted-body NPZ and the OBJ writer: round trips and readable errors."""

import numpy as np
import pytest
import trimesh

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.fitted_body import FittedBody, read_fitted_body, write_fitted_body
from bodynet_cli.io.mesh import write_obj
from bodynet_cli.io.npz import write_npz


def _body(rng):
    return FittedBody(
        betas=rng.normal(size=10).astype(np.float32), global_orient=rng.normal(size=3).astype(np.float32),
        body_pose=rng.normal(size=69).astype(np.float32), transl=rng.normal(size=3).astype(np.float32),
        scale=1.25, joints=rng.normal(size=(24, 3)).astype(np.float32),
        vertices=rng.normal(size=(40, 3)).astype(np.float32), model="open@0123456789ab",
        loss={"chamfer": 1e-5, "joints": 2e-4}, meta={"frame": "camera", "voxel_size_m": 0.01},
    )


def test_fitted_body_round_trip_loads_without_pickle(tmp_path, rng):
    body = _body(rng)
    path = tmp_path / "a" / "img.npz"
    write_fitted_body(path, body)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) >= {"betas", "global_orient", "body_pose", "transl", "scale", "joints", "vertices",
                                "model", "loss"}
        assert z["scale"].shape == ()
    back = read_fitted_body(path)
    for k in ("betas", "global_orient", "body_pose", "transl", "joints", "vertices"):
        np.testing.assert_array_equal(getattr(back, k), getattr(body, k))
    assert back.scale == 1.25 and back.model == body.model and back.loss == body.loss and back.meta == body.meta
    assert [p.name for p in path.parent.iterdir()] == ["img.npz"]  # no temporary file left behind


def test_read_fitted_body_names_the_problem(tmp_path, rng):
    path = tmp_path / "bad.npz"
    write_npz(path, betas=np.zeros(10, np.float32))
    with pytest.raises(BodyNetError, match="bad.npz: missing key 'global_orient'"):
        read_fitted_body(path)
    body = _body(rng)
    write_fitted_body(path, body)
    z = dict(np.load(path, allow_pickle=False))
    z["body_pose"] = np.zeros(72, np.float32)
    write_npz(path, **z)
    with pytest.raises(BodyNetError, match="'body_pose' has shape"):
        read_fitted_body(path)


def test_obj_round_trip_through_trimesh(tmp_path, rng):
    verts = rng.normal(size=(7, 3))
    faces = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 0, 3]])
    write_obj(tmp_path / "m.obj", verts, faces)
    mesh = trimesh.load(tmp_path / "m.obj", process=False)
    np.testing.assert_allclose(mesh.vertices, verts, atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, faces)
