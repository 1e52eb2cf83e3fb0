"""UP-3D and MPII in their published formats (written here) read into our schema; the MPII head box in
`eval`'s PCKh; MPII in training (segmentation loss masked, 3D stages refused)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from dataset_fixtures import MPII_JOINTS, body_model_file, write_mpii_json, write_mpii_mat, write_up3d
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from bodynet_cli.body.conventions import SMPL_TO_BODYNET
from bodynet_cli.body.load import load_body_model
from bodynet_cli.body.model import BodyModel
from bodynet_cli.cli.app import app
from bodynet_cli.data.datasets.frames import make_sample
from bodynet_cli.data.datasets.mpii import Mpii
from bodynet_cli.data.datasets.up3d import Up3d
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.sample import Sample, load_sample, save_sample
from bodynet_cli.models import losses as L

runner = CliRunner()


def test_up3d_body_joints_and_params(tmp_path):
    written = write_up3d(tmp_path)
    reader = Up3d(tmp_path, "train", body_model=body_model_file())
    assert len(reader) == 2 and reader.name(1) == "00001"
    f = reader.frame(1)
    b = written["00001"]
    # Hand computation: SMPL in the fit's frame, then X_cam = R(rt)·(X + trans) + t, u = f·X/Z + image centre.
    m = BodyModel(load_body_model(body_model_file()), dtype=torch.float64)
    out = m(torch.from_numpy(b["betas"][None]), torch.from_numpy(b["pose"][None, :3]),
            torch.from_numpy(b["pose"][None, 3:]))  # fmt: skip
    r = Rotation.from_rotvec(b["rt"]).as_matrix()
    joints = (out.joints[0].numpy() + b["trans"]) @ r.T + b["t"]
    verts = (out.vertices[0].numpy() + b["trans"]) @ r.T + b["t"]
    np.testing.assert_allclose(f.body.vertices, verts, atol=1e-9)
    j16 = joints[SMPL_TO_BODYNET]
    # The fit image is rows 50..350, columns 40..300 of the image at half size (130 x 150, centre (65, 75)).
    fit_uv = 500 * j16[:, :2] / j16[:, 2:] + [65, 75]
    np.testing.assert_allclose(f.joints2d, fit_uv / 0.5 + [40, 50], atol=1e-6)
    assert (f.f, f.cx, f.cy) == pytest.approx((1000, 170, 200))
    f0 = reader.frame(0)  # the whole image: the principal point is its centre
    assert (f0.f, f0.cx, f0.cy) == pytest.approx((500, 180, 200))
    # No mirror: facing the camera, the person's right hip (SMPL's right) is on the image's left.
    assert f.joints2d[2, 0] < f.joints2d[3, 0]
    # The stored camera-frame parameters rebuild the same body.
    p = f.params
    again = m(torch.from_numpy(p["betas"][None]), torch.from_numpy(p["global_orient"][None]),
              torch.from_numpy(p["body_pose"][None]), transl=torch.from_numpy(p["transl"][None]))  # fmt: skip
    np.testing.assert_allclose(again.vertices[0].numpy(), verts, atol=1e-9)
    s = make_sample(f, 64, 32).sample
    assert s.voxels.any() and set(np.unique(s.segmentation)) >= {0, 1, 2, 9, 12}
    save_sample(tmp_path / "s.npz", s)  # schema-valid


def test_up3d_pickle_is_never_unpickled_freely(tmp_path):
    write_up3d(tmp_path, n=1)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "00000_body.pkl").write_bytes(pickle.dumps({"pose": Evil()}))
    with pytest.raises(BodyNetError, match="00000_body.pkl: refused to load the pickled global builtins.print"):
        Up3d(tmp_path, "train", body_model=body_model_file()).frame(0)
    (tmp_path / "00000_body.pkl").write_bytes(pickle.dumps({"pose": np.zeros(72)}))
    with pytest.raises(BodyNetError, match="00000_body.pkl: missing betas"):
        Up3d(tmp_path, "train", body_model=body_model_file()).frame(0)
    write_up3d(tmp_path, n=1)
    (tmp_path / "00000_fit_crop_info.txt").write_text("400 360 0 400\n")
    with pytest.raises(BodyNetError, match="00000_fit_crop_info.txt: expected six numbers"):
        Up3d(tmp_path, "train", body_model=body_model_file()).frame(0)
    write_up3d(tmp_path, n=1)
    with pytest.raises(BodyNetError, match="no neutral SMPL file"):
        Up3d(tmp_path, "train", body_model=tmp_path).frame(0)


@pytest.mark.parametrize("fmt", ["json", "mat"])
def test_mpii_joints_visibility_head_box_crop(tmp_path, fmt):
    path = write_mpii_json(tmp_path) if fmt == "json" else write_mpii_mat(tmp_path)
    reader = Mpii(path, "train" if fmt == "mat" else "val")
    assert len(reader) == 1
    f = reader.frame(0)
    shift = [20, 0] if fmt == "json" else [0, 0]
    np.testing.assert_allclose(f.joints2d[:15], MPII_JOINTS[:15] + shift - 0.5)  # MPII order = ours; 1-based
    assert f.visible.tolist() == [True] * 15 + [False]
    np.testing.assert_allclose(f.head_box, [100.5, 59.5, 140.5, 117.5])
    s = make_sample(f, 64, 32).sample
    c = [121, 190] if fmt == "mat" else [141, 190]
    # centre 15·scale below MPII's, side 1.25·200·scale (scale 1.2)
    np.testing.assert_allclose(s.crop, [c[0] - 0.5 - 150, c[1] - 0.5 + 18 - 150, 300, 64])
    assert s.segmentation is None and s.voxels is None and s.joints2d_visible.tolist() == [1] * 15 + [0]


def test_mpii_errors_name_the_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"image": "x.jpg", "joints": [[1, 2]]}]))
    with pytest.raises(BodyNetError, match="a.json: entry 0 is not an MPII person"):
        Mpii(tmp_path / "a.json", "train")
    (tmp_path / "b.mat").write_bytes(b"junk")
    with pytest.raises(BodyNetError, match="b.mat: not a readable MATLAB file"):
        Mpii(tmp_path / "b.mat", "train")
    with pytest.raises(BodyNetError, match="no MPII annotation for split 'test'"):
        Mpii(tmp_path, "test")


def test_eval_pckh_uses_the_head_box_and_annotated_joints(tmp_path):
    from bodynet_cli.pipelines.evaluate import score_pair

    gt = MPII_JOINTS.astype(np.float32)
    crop = np.array([0, 0, 300, 64], np.float32)
    save_sample(tmp_path / "gt.npz", Sample(joints2d=gt, crop=crop, head_box=np.array([0, 0, 30, 40], np.float32),
                                            joints2d_visible=np.array([1] * 15 + [0], np.uint8)))  # fmt: skip
    pred = gt.copy()
    pred[0] += [14.0, 0]  # head box size 0.6·50 = 30 px: 14 <= 15 counts
    pred[1] += [16.0, 0]  # 16 > 15 misses
    pred[15] += [100.0, 0]  # not annotated: not counted
    save_sample(tmp_path / "pred.npz", Sample(joints2d=pred, crop=crop))
    s = score_pair("x", tmp_path / "pred.npz", tmp_path / "gt.npz")
    assert s.pckh == pytest.approx(14 / 15) and np.isnan(s.pckh_joints[15])
    # Without a head box: ||head - neck|| = 35 px, so both 14 and 16 px count.
    save_sample(tmp_path / "gt2.npz", Sample(joints2d=gt, crop=crop))
    s = score_pair("x", tmp_path / "pred.npz", tmp_path / "gt2.npz")
    assert s.pckh == pytest.approx(15 / 16)


def test_segmentation_loss_mask_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 15, 4, 4, generator=g)
    labels = torch.randint(0, 15, (3, 4, 4), generator=g)
    mask = torch.tensor([True, False, True])
    got = L.segmentation_ce(logits, labels, mask)
    want = torch.stack([torch.stack([torch.nn.functional.cross_entropy(logits[b, s][None], labels[b][None])
                                     for b in (0, 2)]).mean() for s in range(2)])  # fmt: skip
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(L.segmentation_ce(logits, labels, torch.ones(3, dtype=torch.bool)),
                               L.segmentation_ce(logits, labels))  # fmt: skip
    assert torch.all(L.segmentation_ce(logits, labels, torch.zeros(3, dtype=torch.bool)) == 0)


def test_train_mixes_mpii_into_the_2d_stage_only(tmp_path):
    from train_fixture import TINY, make_dataset

    synth = make_dataset(tmp_path / "synth", n=6, n_val=2)
    mpii = write_mpii_json(tmp_path / "mpii")
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY.to_dict()))
    base = ["train", str(synth), "--data", f"mpii:{mpii}", "--config", str(cfg), "--steps", "2", "--log-every", "1",
            "--batch-size", "4", "--workers", "0", "--device", "cpu"]  # fmt: skip
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "run"), "--stage", "2d"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train = [row["loss"] for row in rows if row.get("kind") == "train"]
    assert len(train) == 2 and all(np.isfinite(t["segm"]) and np.isfinite(t["pose2d"]) for t in train)
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "run3d"), "--stage", "3d"])
    assert r.exit_code == 2 and "2D joints only" in r.output, r.output


def test_mixed_batches_mark_samples_without_segmentation(tmp_path):
    from train_fixture import TINY, make_dataset

    from bodynet_cli.data.dataset import collate
    from bodynet_cli.data.datasets import DataSource
    from bodynet_cli.data.datasets.training import make_dataset as make_mixed

    synth = make_dataset(tmp_path / "synth", n=6, n_val=2)
    mpii = write_mpii_json(tmp_path / "mpii")
    ds = make_mixed([DataSource("synth", synth), DataSource("mpii", mpii)], "train", TINY, needs_3d=False)
    assert len(ds) == 4 + 3
    batch = collate([ds[(0, i)] for i in range(len(ds))])
    assert batch.has_segmentation.tolist() == [True] * 4 + [False] * 3
    # MPII's unannotated joint lies outside every crop (an empty heatmap target).
    from bodynet_cli.models.targets import joints_visible

    vis = joints_visible(batch.joints_hm, TINY.heatmap_size)
    assert not vis[5, 15] and vis[4:].sum() > 30


def test_convert_mpii_then_load(tmp_path):
    mpii = write_mpii_json(tmp_path / "mpii")
    r = runner.invoke(app, ["convert", "mpii", str(mpii), "--split", "train", "--out", str(tmp_path / "gt")])
    assert r.exit_code == 0, r.output
    s = load_sample(tmp_path / "gt" / "labels" / "000001_p1.npz")
    assert s.head_box is not None and s.joints2d_visible[15] == 0 and s.voxels is None
