"""tools/photo_sets.py and tools/photo_eval.py on tiny made-up data, as processes (and photo_sets' RLE decoder)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bodynet_cli.body.conventions import JOINT_NAMES, PELVIS
from bodynet_cli.io.sample import Sample, save_sample
from bodynet_cli.metrics.photos import (
    depth_error_mm,
    front_view_on_photo,
    ordinal_depth,
    pck,
    person_found,
    silhouette_iou,
)

REPO = Path(__file__).resolve().parent.parent


def _run(tool: str, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "tools" / tool), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def _photo_sets():
    spec = importlib.util.spec_from_file_location("photo_sets", REPO / "tools" / "photo_sets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["photo_sets"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _rle_string(mask: np.ndarray) -> str:
    """pycocotools' ``rleToString`` (the encoder), for a column-major bool mask."""
    flat = mask.T.ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = list(np.diff(bounds))
    if flat[0]:
        counts = [0, *counts]
    out = []
    for i, x in enumerate(counts):
        x = int(x) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


def test_rle_decode_round_trip(rng):
    ps = _photo_sets()
    for h, w in ((7, 5), (30, 41), (64, 3)):
        for p in (0.02, 0.5, 0.97):
            mask = rng.random((h, w)) < p
            mask[:, w // 2] = True  # long runs too
            np.testing.assert_array_equal(ps.rle_decode(_rle_string(mask), h, w), mask)
    m = np.zeros((3, 2), bool)
    m[1:, 0] = m[0, 1] = True  # column-major: 0, 1, 1 | 1, 0, 0
    assert ps.rle_counts([1, 3, 2]) == [1, 3, 2]
    np.testing.assert_array_equal(ps.rle_decode([1, 3, 2], 3, 2), m)


def _inside_loop(x, y, poly):
    """Ray casting to the left of (x, y), edges half-open in y."""
    inside = False
    for k in range(len(poly)):
        (xa, ya), (xb, yb) = poly[k], poly[(k + 1) % len(poly)]
        if (ya <= y) != (yb <= y) and xa + (y - ya) / (yb - ya) * (xb - xa) < x:
            inside = not inside
    return inside


def test_polygon_mask_matches_the_loop(rng):
    ps = _photo_sets()
    mask = ps.polygons_mask([[2, 1, 6, 1, 6, 4, 2, 4]], 6, 8)  # pixel centres 2.5..5.5 x 1.5..3.5
    want = np.zeros((6, 8), bool)
    want[1:4, 2:6] = True
    np.testing.assert_array_equal(mask, want)
    for h, w, n in ((9, 13, 3), (20, 11, 7), (16, 16, 12)):
        polys = [rng.uniform(-2, (w + 2, h + 2), (n, 2)) for _ in range(2)]  # self-intersecting too
        want = np.array([[any(_inside_loop(u + 0.5, v + 0.5, p) for p in polys) for u in range(w)] for v in range(h)])
        np.testing.assert_array_equal(ps.polygons_mask([p.ravel().tolist() for p in polys], h, w), want)


@pytest.mark.parametrize("as_git", [False, True])
def test_photo_sets_converts_a_coco_file(tmp_path, as_git):
    data = tmp_path / "mmpose" / "tests" / "data" / "coco"
    data.mkdir(parents=True)
    Image.new("RGB", (40, 30), (90, 120, 150)).save(data / "000001.jpg")
    kp = np.zeros((17, 3))
    kp[5:17, :2] = np.arange(24).reshape(12, 2) + 3  # shoulders .. ankles
    kp[5:17, 2] = 2
    kp[9, 2] = 1  # left wrist occluded but labelled
    few = kp.copy()
    few[7:, 2] = 0  # only 2 limb joints
    ann = lambda i, k, crowd=0: {"id": i, "image_id": 1, "iscrowd": crowd, "bbox": [1.5, 2, 20, 25],  # noqa: E731
                                 "keypoints": k.ravel().tolist(), "segmentation": [[2, 1, 6, 1, 6, 4, 2, 4]]}
    doc = {"images": [{"id": 1, "file_name": "000001.jpg", "width": 40, "height": 30}],
           "annotations": [ann(7, kp), ann(8, kp, crowd=1), ann(9, few)]}  # fmt: skip
    (data / "test_coco.json").write_text(json.dumps(doc))
    root = tmp_path / "mmpose"
    if as_git:
        git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-qm", "data"], check=True)
        bare = tmp_path / "mirror"
        subprocess.run(["git", "clone", "-q", "--bare", str(root), str(bare)], check=True)
        root = bare
    p = _run("photo_sets.py", root, "--out", tmp_path / "set")
    assert p.returncode == 0, p.stderr
    assert "skipped mpii/test_mpii.json: not found" in p.stderr
    out = json.loads((tmp_path / "set" / "annotations.json").read_text())
    assert out["joints"] == list(JOINT_NAMES)
    (image,) = out["images"]
    assert image["file"] == "images/coco_000001.jpg" and (image["width"], image["height"]) == (40, 30)
    assert (tmp_path / "set" / image["file"]).read_bytes() == (data / "000001.jpg").read_bytes()
    (person,) = image["persons"]  # the crowd one and the one with 2 limb joints are left out
    assert person["id"] == "7" and person["box"] == [1.5, 2, 21.5, 27] and person["joints3d"] is None
    j = np.asarray(person["joints2d"])
    coco = kp[:, :2]
    np.testing.assert_array_equal(j[JOINT_NAMES.index("r_ankle")], coco[16])
    np.testing.assert_array_equal(j[JOINT_NAMES.index("l_wrist")], coco[9])
    np.testing.assert_array_equal(j[PELVIS], (coco[11] + coco[12]) / 2)
    np.testing.assert_array_equal(j[JOINT_NAMES.index("thorax")], (coco[5] + coco[6]) / 2)
    assert person["visible"] == [1] * 8 + [0, 0] + [1] * 6  # no neck or head from COCO
    mask = np.asarray(Image.open(tmp_path / "set" / person["mask"])) > 127
    assert mask.shape == (30, 40) and mask.sum() == 12 and mask[1:4, 2:6].all()


def _prediction(rng, crop, r=8) -> Sample:
    side = crop[2]
    return Sample(voxels=rng.random((r, r, r)) < 0.1, crop=np.asarray(crop, np.float32),
                  joints2d=rng.uniform(crop[0], crop[0] + side, (16, 2)).astype(np.float32),
                  joints3d=np.concatenate([rng.uniform(0, 50, (16, 2)), rng.normal(0, 0.2, (16, 1))], 1)
                  .astype(np.float32))  # fmt: skip


def test_photo_eval_reports_the_metric_functions(tmp_path, rng):
    set_dir, pred_dir = tmp_path / "set", tmp_path / "pred"
    (set_dir / "images").mkdir(parents=True)
    (set_dir / "masks").mkdir()
    pred_dir.mkdir()
    size = {"a": (60, 40), "b": (50, 50)}  # width, height
    for stem, (w, h) in size.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(set_dir / "images" / f"{stem}.jpg")

    def person(pid, box, mask=None, with3d=False):
        joints = rng.uniform(box[:2], box[2:], (16, 2))
        visible = (rng.random(16) < 0.8).astype(int)
        out = {"id": pid, "box": box, "box_from": "annotation", "joints2d": joints.tolist(),
               "visible": visible.tolist(), "mask": None, "joints3d": None, "visible3d": None}  # fmt: skip
        if mask is not None:
            out["mask"] = f"masks/{pid}.png"
            Image.fromarray(mask.astype(np.uint8) * 255).save(set_dir / out["mask"])
        if with3d:
            out["joints3d"] = np.concatenate([rng.normal(0, 0.3, (16, 2)), 4 + rng.normal(0, 0.3, (16, 1))], 1).tolist()
            out["visible3d"] = [1] * 16
        return out

    mask_a = np.zeros((40, 60), bool)
    mask_a[8:30, 10:25] = True
    mask_b = rng.random((50, 50)) < 0.4
    persons_a = [person("a0", [8.0, 6.0, 26.0, 32.0], mask_a), person("a1", [35.0, 5.0, 55.0, 35.0], with3d=True),
                 person("a2", [0.0, 0.0, 4.0, 4.0])]  # a2: no crop near it  # fmt: skip
    persons_b = [person("b0", [10.0, 10.0, 30.0, 40.0], mask_b, with3d=True)]
    images = [{"file": "images/a.jpg", "source": "one", "width": 60, "height": 40, "persons": persons_a},
              {"file": "images/b.jpg", "source": "two", "width": 50, "height": 50, "persons": persons_b}]
    (set_dir / "annotations.json").write_text(json.dumps({"format": "bodynet-photo-set", "version": 1,
                                                          "joints": list(JOINT_NAMES), "images": images}))
    # a_p0 covers a1 (found), a_p1 covers a0 but is too large (not found); b.npz (--people largest) finds b0.
    preds = {"a_p0.npz": _prediction(rng, [32.0, 2.0, 30.0, 128]), "a_p1.npz": _prediction(rng, [0.0, 0.0, 64.0, 128]),
             "b.npz": _prediction(rng, [5.0, 8.0, 36.0, 128])}  # fmt: skip
    b_joints = np.asarray(persons_b[0]["joints2d"])
    preds["b.npz"].joints2d_detected = (b_joints + rng.normal(0, 1, b_joints.shape)).astype(np.float32)
    for name, s in preds.items():
        save_sample(pred_dir / name, s)

    p = _run("photo_eval.py", pred_dir, set_dir, "--out", tmp_path / "report.json")
    assert p.returncode == 0, p.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    got = {r["person"]: r for r in report["persons"]}

    def expect(ann, pred, shape, mask):
        box = np.asarray(ann["box"])
        found = person_found(pred.crop, box)
        out = {"found": found}
        if not found:
            return out
        out["pck"] = pck(pred.joints2d, np.asarray(ann["joints2d"]), ann["visible"], box)
        if pred.joints2d_detected is not None:
            out["pck_front_end"] = pck(pred.joints2d_detected, np.asarray(ann["joints2d"]), ann["visible"], box)
        if mask is not None:
            out["silhouette_iou"] = silhouette_iou(front_view_on_photo(pred.voxels, pred.crop, shape), mask, pred.crop,
                                                   box)  # fmt: skip
        if ann["joints3d"]:
            gt = np.asarray(ann["joints3d"])[:, 2]
            out["depth_error_mm"] = depth_error_mm(pred.joints3d[:, 2], gt, ann["visible3d"])
            out["ordinal_depth"] = ordinal_depth(pred.joints3d[:, 2], gt, ann["visible3d"])
        return out

    want = {"a0": expect(persons_a[0], preds["a_p1.npz"], (40, 60), mask_a),
            "a1": expect(persons_a[1], preds["a_p0.npz"], (40, 60), None),
            "a2": {"found": False},
            "b0": expect(persons_b[0], preds["b.npz"], (50, 50), mask_b)}  # fmt: skip
    assert [want[k]["found"] for k in ("a0", "a1", "a2", "b0")] == [False, True, False, True]
    # a1: a_p1 covers all of its box but is too large; a_p0 covers 90 % and finds it
    assert got["a1"]["prediction"] == "a_p0.npz" and got["a0"]["prediction"] == "a_p1.npz"
    assert got["a2"]["prediction"] is None
    for pid, w in want.items():
        for key in ("pck", "pck_front_end", "silhouette_iou", "depth_error_mm", "ordinal_depth"):
            if key in w and math.isfinite(w[key]):
                assert got[pid][key] == pytest.approx(w[key], rel=1e-12), (pid, key)
            else:
                assert got[pid][key] is None, (pid, key)
        assert got[pid]["found"] == w["found"]

    s = report["summary"]
    assert s["one"]["persons"] == 3 and s["one"]["found"] == pytest.approx(1 / 3)
    assert s["all"]["found"] == 0.5 and s["all"]["pck_n"] == 2
    for key in ("pck", "depth_error_mm", "ordinal_depth"):
        assert s["all"][key] == pytest.approx((want["a1"][key] + want["b0"][key]) / 2), key
    assert s["all"]["silhouette_iou"] == pytest.approx(want["b0"]["silhouette_iou"])
    shared = _run("photo_eval.py", pred_dir, set_dir, "--shared", "--out", tmp_path / "shared.json")
    assert shared.returncode == 0, shared.stderr
    got = {r["person"]: r["prediction"] for r in json.loads((tmp_path / "shared.json").read_text())["persons"]}
    assert got == {"a0": "a_p1.npz", "a1": "a_p0.npz", "a2": "a_p1.npz", "b0": "b.npz"}
    # the printed table shows the same numbers
    row = next(line.split() for line in p.stdout.splitlines() if line.startswith("all "))
    assert row[:3] == ["all", "4", "50.0"]
    assert s["all"]["pck_front_end_n"] == 1 and s["all"]["pck_front_end"] == want["b0"]["pck_front_end"] > 0.5
    assert row[3] == f"{100 * s['all']['pck']:.1f}" and row[5] == f"{100 * s['all']['pck_front_end']:.1f}"
    assert row[7] == f"{s['all']['silhouette_iou']:.3f}" and row[8] == "(1)"
    assert row[9] == f"{s['all']['depth_error_mm']:.0f}" and row[11] == f"{100 * s['all']['ordinal_depth']:.1f}"


def test_photo_eval_refuses_a_folder_that_is_not_a_set(tmp_path):
    (tmp_path / "pred").mkdir()
    p = _run("photo_eval.py", tmp_path / "pred", tmp_path)
    assert p.returncode == 2 and "annotations.json" in p.stderr and "photo_sets.py" in p.stderr
