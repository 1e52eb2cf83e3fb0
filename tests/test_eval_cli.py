import json
import subprocess
import sys

import numpy as np
import pytest
from eval_synthetic import make_pair
from typer.testing import CliRunner

from bodynet_cli.cli.app import app
from bodynet_cli.io.npz import read_npz, write_npz


@pytest.fixture
def folders(tmp_path, rng):
    make_pair(tmp_path, "a.npz", rng)
    make_pair(tmp_path, "sub/b.npz", rng)
    make_pair(tmp_path, "gt_only.npz", rng)
    (tmp_path / "pred" / "gt_only.npz").unlink()
    return tmp_path


def test_cli_scores_lists_unpaired_and_writes_report(folders):
    t = folders
    r = CliRunner().invoke(app, ["eval", str(t / "pred"), "--gt", str(t / "gt"), "--fits", str(t / "fits"),
                                 "--out", str(t / "rep")])
    assert r.exit_code == 0, r.output
    assert "voxel_iou" in r.output and "surface_error_mm" in r.output and "per-vertex" in r.output
    assert "1 ground-truth files have no prediction" in r.output and "gt_only.npz" in r.output
    m = json.loads((t / "rep" / "metrics.json").read_text())
    assert m["pairs"] == 2 and m["surface_error_mm"]["mean"] == pytest.approx(10.0, abs=1e-3)
    assert m["unpaired"]["ground_truth_only"] == ["gt_only.npz"]
    assert (t / "rep" / "per_sample.csv").is_file()


def test_cli_malformed_file_exits_3_and_names_it(folders):
    t = folders
    z = read_npz(t / "pred" / "a.npz")
    z["joints2d"] = np.zeros((15, 2), np.float32)
    write_npz(t / "pred" / "a.npz", **z)
    r = CliRunner().invoke(app, ["eval", str(t / "pred"), "--gt", str(t / "gt")])
    assert r.exit_code == 3, r.output
    assert "pred/a.npz: key 'joints2d' has shape (15, 2)" in r.output
    assert "1 of 2 pairs failed" in r.output


def test_cli_user_errors_exit_2(folders, tmp_path):
    t = folders
    r = CliRunner().invoke(app, ["eval", str(t / "pred"), "--gt", str(tmp_path / "nowhere")])
    assert r.exit_code == 2, r.output
    assert "no such folder" in r.output
    r = CliRunner().invoke(app, ["eval", str(t / "pred"), "--gt", str(t / "fits"), "--plots"])
    assert r.exit_code == 2, r.output
    assert "--plots needs --out" in r.output
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(app, ["eval", str(t / "pred"), "--gt", str(tmp_path / "empty")])
    assert r.exit_code == 2, r.output
    assert "has a ground truth of the same relative path" in r.output


def test_cli_subprocess_with_plots(folders):
    from PIL import Image

    t = folders
    r = subprocess.run([sys.executable, "-m", "bodynet_cli", "eval", str(t / "pred"), "--gt", str(t / "gt"),
                        "--fits", str(t / "fits"), "--out", str(t / "rep"), "--plots", "--worst", "2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "voxel_iou" in r.stdout
    for name in ("hist_voxel_iou.png", "hist_surface_error_mm.png", "worst_cases.png"):
        with Image.open(t / "rep" / name) as im:
            assert im.format == "PNG" and im.width > 100
    with Image.open(t / "rep" / "worst_cases.png") as im:  # two rows of seven 128-px tiles
        assert im.width == 7 * 132 + 4 and im.height == 2 * (128 + 32) + 4
