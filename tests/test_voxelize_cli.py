"""``bodynet voxelize`` through CliRunner and as a real subprocess."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import trimesh
from synth_toy_body import save_toy_body_model
from typer.testing import CliRunner

from bodynet_cli.body.load import read_body_model_file
from bodynet_cli.body.model import BodyModel
from bodynet_cli.cli.app import app
from bodynet_cli.geometry.space import Camera, Crop
from bodynet_cli.geometry.voxelize import FitTransform, fit_transform, voxelize_camera, voxelize_grid
from bodynet_cli.io.npz import write_npz
from bodynet_cli.io.sample import load_sample

runner = CliRunner()


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "toy.npz"
    save_toy_body_model(path, step=0.04)
    return path


def _params(rng) -> dict:
    return {
        "betas": (rng.normal(size=10) * 0.5).astype(np.float32),
        "global_orient": np.array([np.pi, 0.0, 0.0], np.float32),  # upright in front of an OpenCV camera
        "body_pose": (rng.normal(size=69) * 0.1).astype(np.float32),
        "transl": np.array([0.05, -0.95, 5.5], np.float32),  # the pelvis near the optical axis
    }


def test_mesh_files_in_fit_mode(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    meshes = {
        "ball.obj": trimesh.creation.icosphere(subdivisions=3, radius=0.7),
        "sub/box.stl": trimesh.creation.box(extents=[1.0, 2.0, 0.5]),
        "sub/ring.ply": trimesh.creation.torus(1.0, 0.3),
        "can.off": trimesh.creation.cylinder(radius=0.4, height=1.5),
    }
    for name, m in meshes.items():
        m.export(src / name)
    r = runner.invoke(app, ["voxelize", str(src), "--out", str(tmp_path / "out"), "--res", "24"])
    assert r.exit_code == 0, r.output
    for name, m in meshes.items():
        s = load_sample(tmp_path / "out" / name.replace(name.rsplit(".", 1)[1], "npz"))
        assert s.meta["alignment"] == "fit" and s.meta["mesh"]["watertight"]
        t = FitTransform.from_array(s.fit_transform)
        want = fit_transform(m.vertices, 24)
        np.testing.assert_allclose(s.fit_transform, want.to_array())
        np.testing.assert_array_equal(s.voxels, voxelize_grid(torch.tensor(want.apply(m.vertices)).float(), m.faces,
                                                              24).numpy())
        # The stored transform maps occupied centres back into the mesh's bounding box.
        pts = t.invert(np.argwhere(s.voxels)[:, ::-1] + 0.5)
        assert np.all(pts >= m.bounds[0] - 1e-4) and np.all(pts <= m.bounds[1] + 1e-4)


def test_bad_inputs_are_skipped_with_exit_3(tmp_path):
    trimesh.creation.icosphere().export(tmp_path / "good.obj")
    (tmp_path / "garbage.ply").write_bytes(b"ply\nthis is not a mesh\n")
    (tmp_path / "empty.obj").write_text("")
    write_npz(tmp_path / "nothing.npz", x=np.zeros(3))
    write_npz(tmp_path / "nocrop.npz", vertices=np.zeros((3, 3)), faces=np.array([[0, 1, 2]]),
              camera=np.array([600, 160, 120, 5], np.float32))
    args = ["voxelize", *(str(tmp_path / n) for n in ("good.obj", "garbage.ply", "empty.obj", "nothing.npz",
                                                       "nocrop.npz", "missing.obj")), "-o", str(tmp_path / "out"),
            "--res", "16"]
    r = runner.invoke(app, args)
    assert r.exit_code == 3, r.output
    assert (tmp_path / "out" / "good.npz").is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.npz"]
    for name, why in (("garbage.ply", "mesh"), ("empty.obj", "no triangles"), ("nothing.npz", "neither"),
                      ("nocrop.npz", "no 'crop'"), ("missing.obj", "no such file")):
        line = next(li for li in r.output.splitlines() if name in li and "failed" in li)
        assert why in line, r.output
    assert "5 of 6 inputs failed" in r.output


def test_open_mesh_warns_naming_the_file(tmp_path):
    m = trimesh.creation.icosphere(subdivisions=3)
    m.update_faces(np.arange(len(m.faces)) >= 2)
    m.export(tmp_path / "holey.obj")
    r = runner.invoke(app, ["voxelize", str(tmp_path / "holey.obj"), "-o", str(tmp_path / "out"), "--res", "32"])
    assert r.exit_code == 0, r.output
    assert "warning" in r.output and "holey.obj" in r.output and "not closed" in r.output
    s = load_sample(tmp_path / "out" / "holey.npz")
    assert s.meta["inside_test"].startswith("3-axis ray voting")
    k = np.arange(32) + 0.5
    z, y, x = np.meshgrid(k, k, k, indexing="ij")
    ball = np.sqrt((x - 16) ** 2 + (y - 16) ** 2 + (z - 16) ** 2) < 15.0 * 0.99
    assert (s.voxels & ball).sum() / (s.voxels | ball).sum() > 0.95


def test_body_parameters_in_bodynet_space_with_parts(tmp_path, toy_model, rng):
    params = _params(rng)
    camera = np.array([600.0, 160.0, 120.0, 5.5], np.float32)
    crop = np.array([30.0, -10.0, 260.0, 256.0], np.float32)
    write_npz(tmp_path / "person.npz", **params, camera=camera, crop=crop)
    r = runner.invoke(app, ["voxelize", str(tmp_path / "person.npz"), "-o", str(tmp_path / "out"), "--res", "48",
                            "--parts", "--body-model", str(toy_model), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    s = load_sample(tmp_path / "out" / "person.npz")
    assert s.meta["alignment"] == "camera" and s.meta["mesh"]["watertight"]
    np.testing.assert_array_equal(s.camera, camera)
    np.testing.assert_array_equal(s.crop, crop)
    data = read_body_model_file(toy_model)
    body = BodyModel(data, dtype=torch.float64)
    out = body(**{k: torch.as_tensor(v)[None].double() for k, v in params.items()})
    want = voxelize_camera(out.vertices[0].float(), data.faces, Camera.from_array(camera), Crop.from_array(crop), 48)
    np.testing.assert_array_equal(s.voxels, want.numpy())
    assert s.voxels.sum() > 300
    np.testing.assert_array_equal(s.part_voxels > 0, s.voxels)
    assert set(np.unique(s.part_voxels)) == {0, 1, 2, 3, 4, 5, 6}
    # Upright in front of the camera: the head (part 1) is above (smaller grid y than) the legs (5, 6).
    y_of = {p: np.argwhere(s.part_voxels == p)[:, 1].mean() for p in (1, 5, 6)}
    assert y_of[1] < y_of[5] and y_of[1] < y_of[6]


def test_body_parameters_without_camera_use_fit_mode(tmp_path, toy_model, rng):
    write_npz(tmp_path / "p.npz", **_params(rng), model=np.asarray("smpl_neutral@0123456789abcdef"))
    r = runner.invoke(app, ["voxelize", str(tmp_path / "p.npz"), "-o", str(tmp_path / "out"), "--res", "24",
                            "--body-model", str(toy_model)])
    assert r.exit_code == 0, r.output
    s = load_sample(tmp_path / "out" / "p.npz")
    assert s.meta["alignment"] == "fit" and s.camera is None and s.fit_transform is not None
    assert s.meta["body_model"].startswith("toy@")
    assert "smpl_neutral@0123456789abcdef" in r.output and "--body-model" in r.output  # fitted with another model
    zyx = np.argwhere(s.voxels)
    assert zyx[:, 1].max() - zyx[:, 1].min() >= 18  # the body's height is the longest side


def test_obj_with_body_topology_gets_parts(tmp_path, toy_model):
    # What `fit-smpl` writes beside its NPZ: an OBJ of the body model's topology. Vertex order survives
    # reading, so the model's part labels apply.
    from bodynet_cli.io.mesh import write_obj

    data = read_body_model_file(toy_model)
    write_obj(tmp_path / "fitted.obj", data.v_template * [1, -1, -1], data.faces)
    r = runner.invoke(app, ["voxelize", str(tmp_path / "fitted.obj"), "-o", str(tmp_path / "out"), "--parts",
                            "--body-model", str(toy_model), "--res", "32"])
    assert r.exit_code == 0, r.output
    s = load_sample(tmp_path / "out" / "fitted.npz")
    np.testing.assert_array_equal(s.part_voxels > 0, s.voxels)
    assert set(np.unique(s.part_voxels)) == set(range(7))


def test_parts_need_body_topology(tmp_path, toy_model):
    trimesh.creation.icosphere().export(tmp_path / "ball.obj")
    r = runner.invoke(app, ["voxelize", str(tmp_path / "ball.obj"), "-o", str(tmp_path / "out"), "--parts",
                            "--body-model", str(toy_model), "--res", "16"])
    assert r.exit_code == 3, r.output
    assert "--parts needs per-vertex part labels" in r.output


def test_subprocess(tmp_path):
    ball = trimesh.creation.icosphere(subdivisions=2)
    ball.export(tmp_path / "ball.obj")
    cmd = [sys.executable, "-m", "bodynet_cli", "voxelize", str(tmp_path / "ball.obj"), "--out",
           str(tmp_path / "out"), "--res", "16", "--conservative"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    s = load_sample(tmp_path / "out" / "ball.npz")
    assert s.meta["conservative"] and s.voxels.shape == (16, 16, 16)
    v = torch.tensor(fit_transform(ball.vertices, 16).apply(ball.vertices)).float()
    np.testing.assert_array_equal(s.voxels, voxelize_grid(v, ball.faces, 16, conservative=True).numpy())
    assert s.voxels.sum() > voxelize_grid(v, ball.faces, 16).sum()


def test_no_inputs_is_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["voxelize", str(tmp_path / "empty"), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "no .obj" in r.output, r.output
