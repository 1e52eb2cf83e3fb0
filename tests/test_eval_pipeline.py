import json
import math

import numpy as np
import pytest
from eval_synthetic import CAM, CROP, R, make_pair, write_fit

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.npz import read_npz, write_npz
from bodynet_cli.io.sample import Sample, load_sample, save_sample
from bodynet_cli.metrics.catalog import METRICS
from bodynet_cli.metrics.iou import segmentation_miou
from bodynet_cli.metrics.joints import pckh
from bodynet_cli.pipelines.evaluate import align_segmentation, evaluate, pair_files, write_report


def naive_iou(p, g):
    return np.sum(p & g) / np.sum(p | g)


def test_scores_match_the_constructed_truth(tmp_path, rng):
    truths = {name: make_pair(tmp_path, name, rng, fit=fit)
              for name, fit in (("a.npz", "same"), ("sub/b.npz", "same"), ("sub/deep/c.npz", "other"))}
    report = evaluate(tmp_path / "pred", tmp_path / "gt", tmp_path / "fits", workers=2)
    assert [s.name for s in report.samples] == sorted(truths)
    assert not report.failures
    for s in report.samples:
        t = truths[s.name]
        p, g = load_sample(tmp_path / "pred" / s.name), load_sample(tmp_path / "gt" / s.name)
        assert s.voxel_iou == pytest.approx(naive_iou(t.pred_voxels, t.gt_voxels), rel=1e-12)
        # nearest resize 16 -> 8 samples the source pixel under each target centre: index 2i + 1
        assert s.segmentation_miou == pytest.approx(segmentation_miou(t.pred_seg[None, 1::2, 1::2], t.gt_seg[None])[0])
        assert s.pckh == pytest.approx(pckh(p.joints2d[None].astype(float), g.joints2d[None].astype(float))[0])
        assert s.joint3d_error_mm == pytest.approx(t.joint3d_error_mm, abs=1e-3)
        assert s.surface_error_mm == pytest.approx(t.surface_error_mm, abs=1e-3)
        assert s.surface_method == ("point-to-surface" if s.name.endswith("c.npz") else "per-vertex")
        assert 0 < s.part_voxel_iou < 1
    summary = report.summaries["surface_error_mm"]
    assert summary.n == 3 and summary.method == "mixed"
    assert report.summaries["joint3d_error_mm"].mean == pytest.approx(50 / 16, abs=1e-3)
    notes = report.notes()
    assert notes["joints3d: the prediction has no camera; used the ground truth's"] == 3
    assert notes["segmentation: prediction resized 16x16 -> 8x8 (nearest)"] == 3


def test_report_files(tmp_path, rng):
    make_pair(tmp_path, "a.npz", rng)
    make_pair(tmp_path, "b.npz", rng)
    save_sample(tmp_path / "pred" / "only_pred.npz", Sample(crop=CROP))
    report = evaluate(tmp_path / "pred", tmp_path / "gt", None)
    write_report(report, tmp_path / "rep")
    m = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    for key in METRICS:
        assert {"mean", "median", "n"} <= m[key].keys()
    assert m["voxel_iou"]["n"] == 2 and m["voxel_iou"]["mean"] == pytest.approx(report.summaries["voxel_iou"].mean)
    assert sum(m["voxel_iou"]["histogram"]["counts"]) == 2
    assert m["surface_error_mm"] == {"mean": None, "median": None, "n": 0, "reason": "no --fits folder given",
                                     "skipped": 0}
    assert m["unpaired"]["prediction_only"] == ["only_pred.npz"]
    assert set(m["pckh"]["per_joint"]) >= {"head", "r_ankle"} and len(m["part_voxel_iou"]["per_part"]) == 6
    rows = (tmp_path / "rep" / "per_sample.csv").read_text().splitlines()
    assert rows[0].split(",")[:7] == ["sample", *METRICS]
    assert [r.split(",")[0] for r in rows[1:]] == ["a.npz", "b.npz"]
    assert rows[1].split(",")[6] == ""  # no surface error without --fits
    assert not list((tmp_path / "rep").glob("*.tmp"))


def test_missing_optional_keys_give_reasons(tmp_path, rng):
    make_pair(tmp_path, "a.npz", rng, fit=None)
    z = read_npz(tmp_path / "pred" / "a.npz")
    del z["part_voxels"]
    write_npz(tmp_path / "pred" / "a.npz", **z)
    (tmp_path / "fits").mkdir()
    report = evaluate(tmp_path / "pred", tmp_path / "gt", tmp_path / "fits")
    assert not report.failures  # an absent optional key is not an error
    part = report.summaries["part_voxel_iou"]
    assert part.n == 0 and "the prediction has no 'part_voxels'" in part.reason and "a.npz" in part.reason
    assert "no fitted body" in report.summaries["surface_error_mm"].reason
    assert report.pairing.fits_missing == ["a.npz"]


def test_fit_not_in_camera_frame_is_skipped(tmp_path, rng):
    make_pair(tmp_path, "a.npz", rng, fit=None)
    write_fit(tmp_path / "fits" / "a.npz", np.zeros((42, 3)), frame="grid")
    report = evaluate(tmp_path / "pred", tmp_path / "gt", tmp_path / "fits")
    assert "not in camera metres" in report.summaries["surface_error_mm"].reason


def test_pairing_errors_and_unpaired(tmp_path, rng):
    with pytest.raises(BodyNetError, match="--gt .*: no such folder"):
        pair_files(tmp_path, tmp_path / "nope")
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    save_sample(tmp_path / "pred" / "x.npz", Sample(crop=CROP))
    save_sample(tmp_path / "gt" / "sub" / "x.npz", Sample(crop=CROP))
    with pytest.raises(BodyNetError, match="no file of .* has a ground truth of the same relative path"):
        pair_files(tmp_path / "pred", tmp_path / "gt")
    save_sample(tmp_path / "gt" / "x.npz", Sample(crop=CROP))
    p = pair_files(tmp_path / "pred", tmp_path / "gt")
    assert p.names == ["x.npz"] and p.gt_only == ["sub/x.npz"] and p.pred_only == []


def test_malformed_and_mismatched_inputs_name_file_and_key(tmp_path, rng):
    for n in ("good.npz", "res.npz", "labels.npz", "trunc.npz"):
        make_pair(tmp_path, n, rng, fit=None)
    s = load_sample(tmp_path / "pred" / "res.npz")
    s.voxels, s.part_voxels = np.zeros((8, 8, 8), bool), None
    save_sample(tmp_path / "pred" / "res.npz", s)
    z = read_npz(tmp_path / "gt" / "labels.npz")
    z["segmentation"][0, 0] = 20
    write_npz(tmp_path / "gt" / "labels.npz", **z)
    (tmp_path / "pred" / "trunc.npz").write_bytes((tmp_path / "pred" / "good.npz").read_bytes()[:100])
    report = evaluate(tmp_path / "pred", tmp_path / "gt")
    errors = {f.item: f.reason for f in report.failures}
    assert set(errors) == {"res.npz", "labels.npz", "trunc.npz"}
    want = f"pred/res.npz: key 'voxel_shape' is (8, 8, 8) but {tmp_path}/gt/res.npz has ({R}, {R}, {R})"
    assert want in errors["res.npz"]
    assert "gt/labels.npz: key 'segmentation' has label 20" in errors["labels.npz"]
    assert "pred/trunc.npz: not a readable .npz" in errors["trunc.npz"]
    by_name = {s.name: s for s in report.samples}
    assert not math.isnan(by_name["good.npz"].voxel_iou)
    assert math.isnan(by_name["res.npz"].voxel_iou) and not math.isnan(by_name["res.npz"].pckh)  # the rest is scored
    # A malformed file (labels.npz: a label out of range) is refused whole when it is read; a mismatched
    # pair (res.npz) still scores what matches.
    assert report.summaries["voxel_iou"].n == 1


def test_voxel_probs_are_thresholded(tmp_path, rng):
    t = make_pair(tmp_path, "a.npz", rng, fit=None)
    probs = rng.random((R, R, R)).astype(np.float16)
    s = load_sample(tmp_path / "pred" / "a.npz")
    s.voxel_probs = probs
    save_sample(tmp_path / "pred" / "a.npz", s)
    report = evaluate(tmp_path / "pred", tmp_path / "gt", threshold=0.7)
    assert report.samples[0].voxel_iou == pytest.approx(naive_iou(probs >= 0.7, t.gt_voxels))
    with pytest.raises(BodyNetError, match="--threshold"):
        evaluate(tmp_path / "pred", tmp_path / "gt", threshold=1.0)


def test_align_segmentation_hand_checked():
    seg = np.arange(100, dtype=np.uint8).reshape(10, 10)
    src = Crop(0, 0, 100, 256)
    # the right half of the source crop, sampled at half the pixel count: columns 5..9
    np.testing.assert_array_equal(align_segmentation(seg, src, Crop(50, 0, 50, 256), (5, 5)), seg[:5, 5:])
    # a crop entirely outside: background
    assert not align_segmentation(seg, src, Crop(150, 0, 50, 256), (5, 5)).any()
    # unknown crops: a plain nearest resize (target centre i + 0.5 -> source index 2i + 1)
    np.testing.assert_array_equal(align_segmentation(seg, None, None, (5, 5)), seg[1::2, 1::2])


def test_crop_mismatch_warps_segmentation(tmp_path, rng):
    make_pair(tmp_path, "a.npz", rng, fit=None)
    g = load_sample(tmp_path / "gt" / "a.npz")
    p = load_sample(tmp_path / "pred" / "a.npz")
    # the prediction covers a crop twice as large, centred the same: the ground truth is its middle half
    big = Crop(CROP[0] - CROP[2] / 2, CROP[1] - CROP[2] / 2, 2 * CROP[2], 128)
    p.crop = big.to_array()
    p.segmentation = np.zeros((16, 16), np.uint8)
    p.segmentation[4:12, 4:12] = g.segmentation
    p.camera = CAM.to_array()
    save_sample(tmp_path / "pred" / "a.npz", p)
    report = evaluate(tmp_path / "pred", tmp_path / "gt")
    assert report.samples[0].segmentation_miou == pytest.approx(1.0)
    assert "segmentation: prediction warped from its crop to the ground truth's (nearest)" in report.notes()


def test_pred_on_gt_crops_maps_into_the_ground_truth_frame(tmp_path):
    """A prediction equal to the ground truth but made on the crop image scores perfectly once mapped."""
    from bodynet_cli.geometry.space import Crop
    from bodynet_cli.io.sample import Sample, save_sample
    from bodynet_cli.pipelines.evaluate import score_pair

    rng = np.random.default_rng(3)
    crop = Crop(40.0, -10.0, 200.0, 128)
    j2 = rng.uniform(60, 180, (16, 2)).astype(np.float32)
    j2[9] = j2[8] + [0, -30]  # a head segment of 30 px
    j3 = np.concatenate([j2, rng.normal(0, 0.1, (16, 1))], 1).astype(np.float32)
    j3[6, 2] = 0
    seg = rng.integers(0, 15, (32, 32)).astype(np.uint8)
    camera = np.array([600, 160, 120, 6.0], np.float32)
    gt = Sample(joints2d=j2, joints3d=j3, segmentation=seg, crop=crop.to_array(), camera=camera)
    in_crop = crop.image_to_crop(j2.astype(np.float64)).astype(np.float32)
    j3c = j3.copy()
    j3c[:, :2] = in_crop
    pred = Sample(joints2d=in_crop, joints3d=j3c, segmentation=seg, crop=np.array([0, 0, 128, 128], np.float32))
    save_sample(tmp_path / "gt.npz", gt)
    save_sample(tmp_path / "pred.npz", pred)
    mapped = score_pair("x", tmp_path / "pred.npz", tmp_path / "gt.npz", pred_on_gt_crops=True)
    assert mapped.pckh == 1.0
    assert mapped.joint3d_error_mm < 1e-3
    assert mapped.segmentation_miou == 1.0
    unmapped = score_pair("x", tmp_path / "pred.npz", tmp_path / "gt.npz")
    assert unmapped.joint3d_error_mm > 10
