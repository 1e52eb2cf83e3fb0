"""Synthetic data: the ground truth is self-consistent, and the writer is reproducible and resumable.

Runs on a small toy body (tests/synth_toy_body.py) so it stays fast; the pipeline is the same for any
SMPL-format body model.
"""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from synth_toy_body import save_toy_body_model, toy_body_model
from typer.testing import CliRunner

from bodynet_cli.body.load import load_body_model
from bodynet_cli.cli.app import app
from bodynet_cli.data.synth.appearance import face_majority
from bodynet_cli.data.synth.generate import SynthGenerator, SynthSettings, render_fragments
from bodynet_cli.geometry.space import Camera, Crop, camera_to_grid, project
from bodynet_cli.io.npz import write_npz
from bodynet_cli.io.sample import load_sample
from bodynet_cli.pipelines.synth import sample_name, split_of, write_dataset

SMALL = dict(input_size=64, voxel_res=64)  # the small config's grid, half its image size: faster


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("toy") / "toy.npz"
    save_toy_body_model(p)
    return p


@pytest.fixture(scope="module", params=["toy", "open"])
def generator(request, toy_path):
    """The toy body, and the bundled open body model that ``bodynet synth`` uses by default."""
    body = load_body_model(toy_path if request.param == "toy" else None)
    return SynthGenerator(body, SynthSettings(seed=3, **SMALL))


@pytest.fixture(scope="module")
def items(generator):
    return [generator.generate(i) for i in range(8)]


def test_joints_project_to_joints2d(items):
    for it in items:
        s = it.sample
        cam = Camera.from_array(s.camera)
        # joints3d -> camera metres: depth from z + Z0, x and y back through the intrinsics
        Z = s.joints3d[:, 2].astype(np.float64) + cam.z0
        X = (s.joints3d[:, 0] - cam.cx) * Z / cam.f
        Y = (s.joints3d[:, 1] - cam.cy) * Z / cam.f
        np.testing.assert_allclose(project(np.stack([X, Y, Z], 1), cam), s.joints2d, atol=0.5)
        assert abs(s.joints3d[6, 2]) < 1e-5  # pelvis: z relative to itself
        assert np.isfinite(s.joints3d).all()


def test_pelvis_at_grid_centre_and_body_inside_crop(items, generator):
    R = generator.settings.voxel_res
    full = 0
    for it in items:
        s = it.sample
        cam, crop = Camera.from_array(s.camera), Crop.from_array(s.crop)
        body = torch.from_numpy(s.vertices).double()
        model = generator.model
        out = model(torch.from_numpy(s.betas)[None], torch.from_numpy(s.global_orient)[None],
                    torch.from_numpy(s.body_pose)[None], torch.from_numpy(s.transl)[None])
        # the stored body parameters reproduce the stored mesh (camera frame)
        assert (out.vertices[0].double() - body).abs().max() < 1e-4
        pelvis = camera_to_grid(out.joints16[0, 6].double(), cam, crop, R)
        assert abs(float(pelvis[2]) - R / 2) < 1e-3
        g = camera_to_grid(body, cam, crop, R)
        if s.meta["framing"] == "full":  # the other framings cut the body off at the crop's edge
            assert g[:, :2].min() > 0 and g[:, :2].max() < R and g[:, 2].min() > 0 and g[:, 2].max() < R
            full += 1
        assert crop.size == generator.settings.input_size and it.image.shape == (crop.size, crop.size, 3)
    assert full >= 1


def test_voxel_front_view_matches_rendered_silhouette(items, generator):
    R = generator.settings.voxel_res
    for it in items:
        s = it.sample
        cam, crop = Camera.from_array(s.camera), Crop.from_array(s.crop)
        frag = render_fragments(torch.from_numpy(s.vertices)[None], torch.from_numpy(s.faces).long(), cam, crop, R)
        sil = frag.mask[0].numpy()
        front = s.voxels.any(0)  # max over depth; [y, x]
        iou = (sil & front).sum() / (sil | front).sum()
        assert iou >= 0.9, iou
        # part voxels label exactly the occupied voxels
        assert ((s.part_voxels > 0) == s.voxels).all() and set(np.unique(s.part_voxels)) <= set(range(7))


def test_segmentation_is_the_label_buffer(items, generator):
    seen = set()
    for it in items:
        s = it.sample
        assert s.segmentation.shape == (generator.settings.input_size,) * 2 and s.segmentation.dtype == np.uint8
        seen |= set(np.unique(s.segmentation).tolist())
        # the silhouette at input size is the rendered body, and not hidden by occluders
        cam, crop = Camera.from_array(s.camera), Crop.from_array(s.crop)
        frag = render_fragments(torch.from_numpy(s.vertices)[None], torch.from_numpy(s.faces).long(), cam, crop,
                                crop.size, cull_backfaces=False)
        assert ((s.segmentation > 0) == frag.mask[0].numpy()).all()
    assert seen == set(range(15))


def test_face_majority():
    labels = np.array([1, 1, 2, 3, 3])
    faces = np.array([[0, 1, 2], [2, 3, 4], [0, 2, 3], [2, 0, 1]])
    assert face_majority(labels, faces).tolist() == [1, 3, 1, 1]


def test_same_seed_same_sample_other_seed_differs(generator, items):
    again = SynthGenerator(generator.body, SynthSettings(seed=3, **SMALL)).generate(5)
    assert (again.image == items[5].image).all()
    assert (again.sample.voxels == items[5].sample.voxels).all()
    other = SynthGenerator(generator.body, SynthSettings(seed=4, **SMALL)).generate(5)
    assert not np.array_equal(other.sample.betas, items[5].sample.betas)
    assert not np.array_equal(items[4].sample.betas, items[5].sample.betas)


def test_npz_bytes_do_not_depend_on_the_clock(tmp_path):
    write_npz(tmp_path / "a.npz", x=np.arange(5))
    with zipfile.ZipFile(tmp_path / "a.npz") as z:
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())
    assert np.load(tmp_path / "a.npz", allow_pickle=False)["x"].tolist() == list(range(5))


def test_splits_are_deterministic_and_roughly_90_5_5():
    s = [split_of(i) for i in range(4000)]
    assert s == [split_of(i) for i in range(4000)]
    frac = {k: s.count(k) / len(s) for k in ("train", "val", "test")}
    assert 0.87 < frac["train"] < 0.93 and 0.03 < frac["val"] < 0.07 and 0.03 < frac["test"] < 0.07


def _files(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_writer_reproducible_resumable_and_worker_independent(tmp_path, toy_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_dataset(a, 6, "small", seed=7, workers=1, body_model=toy_path, **SMALL)
    files_a = _files(a)
    assert len([k for k in files_a if k.startswith("images/")]) == 6 and "index.json" in files_a
    # two workers, and in two goes (resume): the same bytes
    write_dataset(b, 3, "small", seed=7, workers=2, body_model=toy_path, **SMALL)
    (b / "labels" / f"{sample_name(1)}.npz").unlink()  # as if interrupted
    rep = write_dataset(b, 6, "small", seed=7, workers=2, body_model=toy_path, **SMALL)
    assert rep.skipped == 2 and rep.written == 4 and not rep.failures
    assert _files(b) == files_a
    index = json.loads(files_a["index.json"])
    assert sorted(sum(index["splits"].values(), [])) == [sample_name(i) for i in range(6)]
    s = load_sample(a / "labels" / f"{sample_name(0)}.npz", required=("voxels", "joints2d", "segmentation"))
    assert s.meta["image"] == f"images/{sample_name(0)}.png" and s.meta["seed"] == 7
    # another seed into the same folder is refused
    with pytest.raises(Exception, match="other settings"):
        write_dataset(a, 6, "small", seed=8, workers=1, body_model=toy_path, **SMALL)


def test_cli_runner_and_subprocess(tmp_path, toy_path):
    res = CliRunner().invoke(app, ["synth", "--n", "2", "--out", str(tmp_path / "r"), "--body-model",
                                   str(toy_path), "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "r" / "labels").glob("*.npz"))) == 2
    res = CliRunner().invoke(app, ["synth", "--n", "2", "--out", str(tmp_path / "r"), "--config", "huge"])
    assert res.exit_code == 2, res.output
    proc = subprocess.run([sys.executable, "-m", "bodynet_cli", "synth", "--n", "1", "--out", str(tmp_path / "s"),
                           "--body-model", str(toy_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "s" / "index.json").read_text())["n"] == 1


def test_toy_body_is_closed():
    from bodynet_cli.geometry.voxelize import check_watertight

    m = toy_body_model()
    assert check_watertight(m.faces, m.v_template).closed


def test_failed_sample_is_reported_and_exit_3(tmp_path, toy_path, monkeypatch):
    original = SynthGenerator.generate

    def flaky(self, index):
        if index == 1:
            raise RuntimeError("boom")
        return original(self, index)

    monkeypatch.setattr(SynthGenerator, "generate", flaky)
    out = tmp_path / "f"
    res = CliRunner().invoke(app, ["synth", "--n", "3", "--out", str(out), "--body-model", str(toy_path)])
    assert res.exit_code == 3, res.output
    assert "boom" in res.output and sample_name(1) in res.output
    index = json.loads((out / "index.json").read_text())
    assert index["failed"] == [sample_name(1)] and sample_name(1) not in sum(index["splits"].values(), [])
    monkeypatch.setattr(SynthGenerator, "generate", original)  # a rerun fills the gap
    res = CliRunner().invoke(app, ["synth", "--n", "3", "--out", str(out), "--body-model", str(toy_path)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "index.json").read_text())["failed"] == []


def test_no_mesh_option(tmp_path, toy_path):
    res = CliRunner().invoke(app, ["synth", "--n", "1", "--out", str(tmp_path / "m"), "--body-model", str(toy_path),
                                   "--no-mesh"])
    assert res.exit_code == 0, res.output
    s = load_sample(tmp_path / "m" / "labels" / f"{sample_name(0)}.npz")
    assert s.vertices is None and s.faces is None and s.betas is not None and s.voxels is not None


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker processes")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    """kill -9 of `bodynet synth` must not leave worker processes running (they would hold the CPU)."""
    import os
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "bodynet_cli", "synth", "--n", "400", "--out",
                             str(tmp_path / "d"), "--workers", "2", "--no-mesh"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((tmp_path / "d" / "labels").glob("*.npz")):
            time.sleep(0.2)  # the workers are up once the first sample exists
        workers = [k for k in _children(proc.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
        assert workers, "no worker processes found"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 20
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.5)
        alive = [w for w in workers if Path(f"/proc/{w}").exists()
                 and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their parent"
