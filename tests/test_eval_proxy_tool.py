"""tools/eval_proxy_checkpoint.py on a tiny random proxy checkpoint and a tiny synth set, as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from train_fixture import TINY, make_dataset

from bodynet_cli.data.proxies import ProxyCorruption
from bodynet_cli.io.sample import load_sample, save_sample
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parent.parent
PROXY_TINY = TINY.replace(name="tiny_proxy", pose2d_inputs=(), segm_inputs=("joints", "mask"),
                          pose3d_inputs=("segm", "joints", "mask"), voxels_inputs=("segm", "joints", "mask", "pose3d"))


def _run(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, str(REPO / "tools" / "eval_proxy_checkpoint.py"), *map(str, args), "--threads", "1"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_eval_proxy_checkpoint_tool(tmp_path):
    data = make_dataset(tmp_path / "data", n=8, n_val=2)
    index = json.loads((data / "index.json").read_text())
    original = json.dumps(index)
    index["splits"]["test"] = index["splits"]["train"][:5]
    (data / "index.json").write_text(json.dumps(index))
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "ckpt", BodyNet(PROXY_TINY), PROXY_TINY, {})

    # Clean proxies: the predicted 2D joints are the ground truth's, so PCKh is 1 and the mapping through the
    # crop frames (input pixels -> the label's original pixels -> the crop the network sees) is exact.
    (tmp_path / "clean.json").write_text(json.dumps({f.name: 0 for f in fields(ProxyCorruption)}))
    p = _run(ckpt, data, tmp_path / "clean", "--corruption", tmp_path / "clean.json")
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-2000:]
    metrics = json.loads((tmp_path / "clean" / "report" / "metrics.json").read_text())
    assert metrics["pairs"] == 5 and not metrics["failures"]
    for key in ("voxel_iou", "segmentation_miou", "joint3d_error_mm"):
        assert metrics[key]["n"] == 5 and np.isfinite(metrics[key]["mean"]), key
    assert metrics["pckh"]["mean"] == 1.0, metrics["pckh"]
    side = json.loads((tmp_path / "clean" / "report" / "proxy_eval.json").read_text())
    assert side["samples"] == 5 and 0.0 <= side["side_view_iou"] <= 1.0
    preds = sorted((tmp_path / "clean" / "pred").glob("*.npz"))
    assert [q.stem for q in preds] == index["splits"]["test"]
    s = load_sample(preds[0])
    assert s.voxels.shape == (16, 16, 16) and s.meta["config"] == "tiny_proxy" and s.meta["proxy_seed"] == 0x7E57
    label = load_sample(data / "labels" / preds[0].name)  # the prediction is in the label's frame
    np.testing.assert_array_equal(s.camera, label.camera)
    np.testing.assert_allclose(s.crop[:3], label.crop[:3], rtol=1e-6)

    # The default test-time corruption: reproducible, and worse 2D joints than the clean proxies.
    runs = []
    for name in ("a", "b"):
        p = _run(ckpt, data, tmp_path / name)
        assert p.returncode == 0, p.stderr[-3000:]
        runs.append(load_sample(tmp_path / name / "pred" / preds[0].name).joints2d)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], s.joints2d)

    # Every split, with fitted bodies scored against a ground-truth mesh (a box around the pelvis, in camera
    # metres) where the label has one.
    (data / "index.json").write_text(original)
    names = [n for part in ("train", "val", "test") for n in json.loads(original)["splits"][part]]
    for name in names[:3]:
        g = load_sample(data / "labels" / f"{name}.npz")
        corners = np.array([[x, y, z] for x in (-0.2, 0.2) for y in (-0.8, 0.8) for z in (-0.15, 0.15)])
        g.vertices = (corners + [0.0, 0.0, float(g.camera[3])]).astype(np.float32)
        g.faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],
                            [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], dtype=np.int32)  # fmt: skip
        save_sample(data / "labels" / f"{name}.npz", g)
    p = _run(ckpt, data, tmp_path / "all", "--split", "all", "--fit", "4", "--corruption", tmp_path / "clean.json")
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-2000:]
    metrics = json.loads((tmp_path / "all" / "report" / "metrics.json").read_text())
    fits = sorted(q.stem for q in (tmp_path / "all" / "fits").glob("*.npz"))
    assert metrics["pairs"] == len(names) == 8 and len(fits) == 4 and fits[0] == names[0] and fits[-1] == names[-1]
    with_mesh = len(set(fits) & set(names[:3]))
    surface = metrics["surface_error_mm"]
    assert with_mesh >= 1 and surface["n"] == with_mesh and 0 < surface["mean"] < 5000, surface
    side = json.loads((tmp_path / "all" / "report" / "proxy_eval.json").read_text())
    assert side["fitted"] == 4 and sorted(side["side_view_ious"]) == sorted(names)

    # The model card's table reads these reports: its means are eval's and the tool's.
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "seed1").symlink_to(tmp_path / "all")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    table = subprocess.run([sys.executable, str(REPO / "tools" / "model_card_table.py"), str(tmp_path / "card")],
                           capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert table.returncode == 0, table.stderr[-2000:]
    assert "| unseen seed 1 | 8 |" in table.stdout
    card = json.loads((tmp_path / "card" / "card.json").read_text())["unseen seed 1"]
    assert abs(card["voxel_iou"] - metrics["voxel_iou"]["mean"]) < 1e-5
    assert abs(card["side_view_iou"] - side["side_view_iou"]) < 1e-9 and card["fitted"] == with_mesh

    rgb_ckpt = save_checkpoint(tmp_path / "rgb", BodyNet(TINY), TINY, {})
    p = _run(rgb_ckpt, data, tmp_path / "c")
    assert p.returncode != 0 and "eval_checkpoint.sh" in p.stderr
