"""SURREAL: a two-clip sequence written here (scipy .mat files, a PyAV .mp4) read into our schema, by
hand-computed joints, crops and classes (SURREAL's mirror swaps left and right), through `convert` and
`train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from dataset_fixtures import body_model_file, write_surreal  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from bodynet_cli.cli.app import app  # noqa: E402
from bodynet_cli.data.datasets.frames import make_sample  # noqa: E402
from bodynet_cli.data.datasets.surreal import Surreal  # noqa: E402
from bodynet_cli.errors import BodyNetError  # noqa: E402
from bodynet_cli.geometry.space import Camera, Crop, camera_to_grid  # noqa: E402
from bodynet_cli.io.sample import load_sample  # noqa: E402

runner = CliRunner()
# Our 16 joints (right ankle, right knee, ... see docs/formats.md) from SURREAL's SMPL-labelled 24, written
# out by hand: the frame is a mirror image, so our right ankle is SMPL's left ankle (7), and so on.
MIRRORED = [7, 4, 1, 2, 5, 8, 0, 6, 12, 15, 20, 18, 16, 17, 19, 21]


@pytest.fixture(scope="module")
def surreal(tmp_path_factory):
    root = tmp_path_factory.mktemp("surreal")
    return root, write_surreal(root)


def test_joints_classes_crop_and_mirror(surreal):
    root, written = surreal
    reader = Surreal(root, "test", body_model=body_model_file())
    assert len(reader) == 6 and reader.name(4) == "run0/seqA/seqA_c0002_f0001"
    info = written["seqA_c0002"]["info"]
    f = reader.frame(4)
    j2 = info["joints2D"][:, :, 1].T  # (24, 2)
    np.testing.assert_allclose(f.joints2d, j2[MIRRORED], atol=1e-6)
    # The body faces the camera: the person's right hip (ours) is on the image's left.
    assert f.joints2d[2, 0] < f.joints2d[3, 0] and f.joints2d[12, 0] < f.joints2d[13, 0]
    # Classes: segm value k is SMPL part k-1; left/right swapped. Hand-written: 1 pelvis -> torso (2),
    # 2 l_hip -> right upper leg (9), 3 r_hip -> left upper leg (12), 16 head -> head (1),
    # 17 l_shoulder -> right upper arm (3), 21 l_wrist -> right hand (5), 8 l_ankle -> right foot (11).
    segm = written["seqA_c0002"]["segm"][1]
    for k, ours in ((0, 0), (1, 2), (2, 9), (3, 12), (16, 1), (17, 3), (21, 5), (8, 11)):
        where = segm == k
        if where.any():
            assert np.all(f.segmentation[where] == ours), k
    s = make_sample(f, 64, 32).sample
    # Crop: the original BodyNet framing, by hand. Joint box (inclusive pixel counts) w, h; widened to
    # 1.5 w x 1.6 h (0.25 w each side, 0.35 h above, 0.25 h below); side = 200/240 of the longer; centre
    # one pixel on (the original's 1-based joints used as 0-based positions).
    lo, hi = j2[MIRRORED].min(0), j2[MIRRORED].max(0)
    w, h = hi - lo + 1
    side = 200 / 240 * max(1.5 * w, 1.6 * h)
    centre = [lo[0] + 1 + 0.5 * w, lo[1] + 1 + 0.45 * h]
    assert s.crop[2] == pytest.approx(side, rel=1e-5)
    np.testing.assert_allclose(s.crop[:2] + s.crop[2] / 2, centre, atol=1e-3)
    # joints3d: x, y are the projections (= joints2D), z metres from the pelvis.
    cam_j = (info["joints3D"][:, :, 1].T - info["camLoc"].ravel()) @ np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]]).T
    np.testing.assert_allclose(s.joints3d[:, :2], j2[MIRRORED], atol=1e-3)
    np.testing.assert_allclose(s.joints3d[:, 2], cam_j[MIRRORED, 2] - cam_j[0, 2], atol=1e-5)
    np.testing.assert_allclose(s.camera, [600, 160, 120, cam_j[0, 2]], rtol=1e-6)
    # Voxels: the camera-space body; the pelvis, thorax and neck voxels are inside it.
    g = camera_to_grid(cam_j[MIRRORED], Camera.from_array(s.camera), Crop(*s.crop[:3], 32), 32)
    for j in (6, 7, 8):
        x, y, z = np.floor(g[j]).astype(int)
        assert s.voxels[z, y, x], j
    # The body: exactly the fixture's world mesh in SURREAL's camera.
    v_world = written["seqA_c0002"]["vertices"][1]
    np.testing.assert_allclose(s.vertices, (v_world - info["camLoc"].ravel()) @ np.array(
        [[0, 0, -1], [0, 1, 0], [-1, 0, 0]]).T, atol=1e-5)  # fmt: skip
    # Part voxels: mirrored too, so the voxel at our right hip's joint is the right leg (5) or torso.
    x, y, z = np.floor(g[2]).astype(int)
    assert s.part_voxels[z, y, x] in (2, 5)
    # The crop's pixels come from the video frame (H.264 near-lossless).
    frame = written["seqA_c0002"]["images"][1]
    assert np.abs(f.rgb.astype(int) - frame).mean() < 3


def test_paper_protocol_middle_clip_middle_frame(surreal):
    root, _ = surreal
    reader = Surreal(root, "test", frames="paper", body_model=body_model_file())
    assert [reader.name(i) for i in range(len(reader))] == ["run0/seqA/seqA_c0001_f0001"]


def test_clip_list_picks_the_clips(surreal, tmp_path):
    root, _ = surreal
    lst = tmp_path / "namescmu.txt"
    lst.write_text("/home/x/SURREAL/data/cmu/val/run0/seqA/seqA_c0002.mp4\t\n")
    reader = Surreal(root, "val", frames="paper", clips=lst, body_model=body_model_file())
    assert [reader.name(i) for i in range(len(reader))] == ["run0/seqA/seqA_c0002_f0001"]
    assert len(Surreal(root, "val", frames="all", clips=lst)) == 3
    lst.write_text("/x/val/run0/seqA/seqA_c0009.mp4\n")
    with pytest.raises(BodyNetError, match="namescmu.txt: 1 listed clip.*seqA_c0009.*--split"):
        Surreal(root, "val", frames="paper", clips=lst)


def test_errors_name_the_file(surreal, tmp_path):
    root, _ = surreal
    bad = tmp_path / "bad" / "run0" / "s"
    bad.mkdir(parents=True)
    (bad / "s_c1_info.mat").write_bytes(b"not a mat file")
    with pytest.raises(BodyNetError, match="s_c1_info.mat"):
        Surreal(tmp_path / "bad", "test")
    with pytest.raises(BodyNetError, match="no female SMPL file"):
        Surreal(root, "test", body_model=tmp_path).frame(0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BodyNetError, match="empty: no SURREAL clips"):
        Surreal(tmp_path / "empty", "test")
    with pytest.raises(BodyNetError, match="nowhere: no such folder"):
        Surreal(tmp_path / "nowhere", "test")


def test_convert_cli_writes_resumes_and_loads(surreal, tmp_path):
    root, _ = surreal
    out = tmp_path / "gt"
    args = ["convert", "surreal", str(root), "--out", str(out), "--body-model", str(body_model_file()),
            "--frames", "paper"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    s = load_sample(out / "labels" / "run0/seqA/seqA_c0001_f0001.npz", required=("voxels", "joints3d", "camera"))
    assert s.voxels.shape == (64, 64, 64) and s.voxels.any() and s.segmentation.shape == (128, 128)
    assert (out / "images" / "run0/seqA/seqA_c0001_f0001.png").is_file()
    assert json.loads((out / "index.json").read_text())["splits"]["test"] == ["run0/seqA/seqA_c0001_f0001"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "0 written, 1 already there" in r.output, r.output
    r = runner.invoke(app, ["convert", "surreal", str(root), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--body-model" in r.output, r.output


def test_train_runs_on_surreal(surreal, tmp_path):
    from train_fixture import TINY

    root, _ = surreal
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY.to_dict()))
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--data", f"surreal:{root}", "--body-model", str(body_model_file()),
                            "--out", str(out), "--config", str(cfg), "--stage", "2d,voxels", "--steps", "2",
                            "--batch-size", "2", "--workers", "0", "--val-samples", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in log if row.get("kind") == "train"]
    assert {row["stage"] for row in log if row.get("kind") == "train"} == {"2d", "voxels"}
    assert all(np.isfinite(row["total"]) for row in losses) and any("voxels" in row for row in losses)
    assert (out / "final" / "model.safetensors").is_file()


def test_convert_records_a_broken_clip_and_goes_on(surreal, tmp_path):
    import shutil

    root, _ = surreal
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "run0" / "seqA" / "seqA_c0001.mp4").write_bytes(b"broken")
    out = tmp_path / "gt"
    r = runner.invoke(app, ["convert", "surreal", str(copy), "--out", str(out), "--body-model",
                            str(body_model_file()), "--config", "small", "--no-mesh"])  # fmt: skip
    assert r.exit_code == 3, r.output
    assert "seqA_c0001.mp4: not a readable video" in r.output and "3 of 6 samples failed" in r.output
    assert len(list((out / "labels").rglob("*.npz"))) == 3
    index = json.loads((out / "index.json").read_text())
    assert len(index["splits"]["test"]) == 3 and len(index["failed"]) == 3


def test_convert_as_a_subprocess(surreal, tmp_path):
    import os
    import subprocess
    import sys

    root, _ = surreal
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "bodynet_cli", "convert", "surreal", str(root), "--out", str(tmp_path / "gt"),
           "--frames", "paper", "--body-model", str(body_model_file())]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([*cmd[:8], "--frames", "every", *cmd[10:]], capture_output=True, text=True, env=env,
                       timeout=300)  # fmt: skip
    assert p.returncode == 2 and "frames 'every'" in (p.stdout + p.stderr), p.stdout + p.stderr
