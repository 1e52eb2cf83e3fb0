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
from bodynet_cli.io.sample import load_sample
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
    index["splits"]["test"] = index["splits"]["train"][:5]
    (data / "index.json").write_text(json.dumps(index))
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "ckpt", BodyNet(PROXY_TINY), PROXY_TINY, {})

    # Clean proxies: the predicted 2D joints are the ground truth's, so PCKh is 1 and the mapping through the
    # crop frames (input pixels -> eval's --pred-on-gt-crops) is exact.
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

    # The default test-time corruption: reproducible, and worse 2D joints than the clean proxies.
    runs = []
    for name in ("a", "b"):
        p = _run(ckpt, data, tmp_path / name)
        assert p.returncode == 0, p.stderr[-3000:]
        runs.append(load_sample(tmp_path / name / "pred" / preds[0].name).joints2d)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], s.joints2d)

    rgb_ckpt = save_checkpoint(tmp_path / "rgb", BodyNet(TINY), TINY, {})
    p = _run(rgb_ckpt, data, tmp_path / "c")
    assert p.returncode != 0 and "eval_checkpoint.sh" in p.stderr
