"""``bodynet fit-smpl`` through CliRunner and as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import trimesh
from fit_helpers import make_sample
from typer.testing import CliRunner

from bodynet_cli.body.load import load_body_model
from bodynet_cli.body.model import BodyModel
from bodynet_cli.cli.app import app
from bodynet_cli.io.fitted_body import read_fitted_body
from bodynet_cli.io.sample import Sample, save_sample

runner = CliRunner()
FAST = ["--iters", "15", "--joint-iters", "15", "--points", "500", "--device", "cpu"]


@pytest.fixture(scope="module")
def samples():
    model = BodyModel(load_body_model(), dtype=torch.float64)
    return model, [make_sample(model, seed) for seed in (1, 2)]


def test_batch_with_bad_items_writes_the_good_ones_and_exits_3(tmp_path, samples):
    model, (a, b) = samples
    inp = tmp_path / "preds"
    save_sample(inp / "a.npz", a)
    save_sample(inp / "sub" / "b.npz", b)
    empty = Sample(voxels=np.zeros((16, 16, 16), bool), joints3d=a.joints3d, crop=a.crop, camera=a.camera)
    save_sample(inp / "empty.npz", empty)
    (inp / "junk.npz").write_bytes(b"not a zip")
    out = tmp_path / "fits"
    r = runner.invoke(app, ["fit-smpl", str(inp), "--out", str(out), "-b", "2", *FAST])
    assert r.exit_code == 3, r.output
    assert "empty.npz: the voxel grid is empty" in r.output
    assert "junk.npz" in r.output and "2 of 4 inputs failed" in r.output
    for rel, gt in (("a", a), ("sub/b", b)):
        fit = read_fitted_body(out / f"{rel}.npz")
        assert fit.vertices.shape == (model.num_vertices, 3) and fit.model == model.data.model_id
        assert fit.meta["frame"] == "camera" and fit.meta["input"].endswith(f"{rel}.npz")
        # 15 + 15 iterations from the torso initialisation already land the body (loose bound; the
        # accuracy is tested in test_fitting_optimize.py)
        assert np.linalg.norm(fit.vertices - gt.vertices, axis=1).mean() < 0.1
        mesh = trimesh.load(out / f"{rel}.obj", process=False)
        np.testing.assert_allclose(mesh.vertices, fit.vertices, atol=1e-5)
        np.testing.assert_array_equal(mesh.faces, model.data.faces)
    assert not (out / "empty.npz").exists() and not (out / "junk.npz").exists()


def test_user_errors_exit_2(tmp_path):
    (tmp_path / "nothing").mkdir()
    r = runner.invoke(app, ["fit-smpl", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert "no .npz files found" in r.output
    r = runner.invoke(app, ["fit-smpl", str(tmp_path), "--out", str(tmp_path / "o"), "--device", "tpu"])
    assert r.exit_code == 2, r.output


def test_subprocess_without_camera(tmp_path, samples):
    _, (a, _) = samples
    a = Sample(voxels=a.voxels, joints3d=a.joints3d, crop=a.crop)  # a photo: no camera
    save_sample(tmp_path / "photo.npz", a)
    cmd = [sys.executable, "-m", "bodynet_cli", "fit-smpl", str(tmp_path / "photo.npz"), "--out",
           str(tmp_path / "out"), *FAST, "--no-flip"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    fit = read_fitted_body(tmp_path / "out" / "photo.npz")
    assert fit.meta["frame"] == "grid" and fit.meta["flipped"] is False
    assert 0.005 < fit.meta["voxel_size_m"] < 0.05
    assert (tmp_path / "out" / "photo.obj").is_file()
