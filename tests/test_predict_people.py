"""``bodynet predict`` with the person front end: one output per person (``--people all``), the largest
person (default), photos with nobody, the front end's joints and mask in every output, and a proxy model
fed by them. Real BlazePose networks on real photos (skimage's astronaut), a tiny random BodyNet."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bodynet_cli.cli.app import app
from bodynet_cli.io.sample import load_sample
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.checkpoint import save_checkpoint
from bodynet_cli.models.config import ModelConfig

TINY = ModelConfig(name="tiny", input_size=64, heatmap_size=16, voxel_res=32, features=16, depth=2)
TINY_PROXY = TINY.replace(name="tiny_proxy", pose2d_inputs=(), segm_inputs=("joints", "mask"),
                          pose3d_inputs=("segm", "joints", "mask"),
                          voxels_inputs=("segm", "joints", "mask", "pose3d"))  # fmt: skip
runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt"), BodyNet(TINY).eval(), TINY)


@pytest.fixture(scope="module")
def proxy_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("pckpt"), BodyNet(TINY_PROXY).eval(), TINY_PROXY)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """astronaut.png (one person), pair.png (two astronauts side by side, the right one smaller), wall.png."""
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    one = data.astronaut()
    Image.fromarray(one).save(root / "astronaut.png")
    small = np.asarray(Image.fromarray(one).resize((384, 384), Image.Resampling.BILINEAR))
    pair = np.full((512, 512 + 384, 3), 128, np.uint8)
    pair[:, :512] = one
    pair[64:448, 512:] = small
    Image.fromarray(pair).save(root / "pair.png")
    Image.fromarray(np.full((300, 400, 3), (180, 170, 160), np.uint8)).save(root / "wall.png")
    return root


def _run(*args):
    result = runner.invoke(app, ["predict", *map(str, args)])
    return result, result.output


def test_people_all_writes_one_output_per_person_largest_first(tmp_path, ckpt, photos):
    out = tmp_path / "out"
    result, text = _run(photos / "pair.png", "--out", out, "-c", ckpt, "--people", "all", "--viz")
    assert result.exit_code == 0, text
    p0, p1 = load_sample(out / "pair_p0.npz"), load_sample(out / "pair_p1.npz")
    assert not (out / "pair_p2.npz").exists() and (out / "pair_p0.viz.png").is_file()
    # each crop covers one astronaut: the larger (left, x < 512) first, then the smaller (right)
    for s, (lo, hi) in ((p0, (0, 512)), (p1, (512, 896))):
        x0, y0, side = s.crop[:3]
        centre = x0 + side / 2
        assert lo < centre < hi, s.crop
        face = s.joints2d_detected[9]  # the head joint of the front end lies inside that astronaut
        assert lo < face[0] < hi and s.joints2d_detected_score[9] > 0.5
        assert s.meta["people_found"] == 2 and s.person_mask.shape == (TINY.input_size,) * 2
    assert p0.meta["person_index"] == 0 and p1.meta["person_index"] == 1
    assert p0.crop[2] > p1.crop[2]  # ordered by size
    doc = json.loads((out / "joints.json").read_text())["images"]["pair.png"]
    assert [p["output"] for p in doc["people"]] == ["pair_p0.npz", "pair_p1.npz"]
    np.testing.assert_allclose(doc["people"][1]["joints2d"], p1.joints2d, atol=1e-3)
    # resuming: person 0's file marks the image done
    result, text = _run(photos / "pair.png", "--out", out, "-c", ckpt, "--people", "all", "--viz", "--skip-existing")
    assert result.exit_code == 0 and "0 written" in text and "1 already there" in text, text


def test_largest_person_by_default_and_nobody_is_a_recorded_failure(tmp_path, ckpt, photos):
    out = tmp_path / "out"
    result, text = _run(photos / "pair.png", photos / "wall.png", "--out", out, "-c", ckpt)
    assert result.exit_code == 3, text
    s = load_sample(out / "pair.npz")
    assert s.crop[0] + s.crop[2] / 2 < 512  # the larger, left astronaut
    assert not (out / "wall.npz").exists()
    rows = list(csv.DictReader((out / "failures.csv").open()))
    assert [r["image"].endswith("wall.png") for r in rows] == [True]
    assert "no person found" in rows[0]["reason"] and "wall.png" in text


def test_people_all_needs_crop_auto(tmp_path, ckpt, photos):
    result, text = _run(photos / "pair.png", "--out", tmp_path / "o", "-c", ckpt, "--people", "all", "--crop", "full")
    assert result.exit_code == 2 and "--people all needs --crop auto" in text, text


def test_proxy_model_reads_the_front_end(tmp_path, proxy_ckpt, photos, monkeypatch):
    """A proxy model gets the front end's joints and mask, whatever the crop mode: its joints2d are the
    detected joints, the mask it reads is binary (as in training), joints guessed outside the photo are
    missing, and an image without a person fails even with --crop full."""
    from bodynet_cli.pipelines.predict.infer import Predictor

    seen = []
    real = Predictor.predict
    monkeypatch.setattr(Predictor, "predict", lambda self, px, crops, proxies=None:
                        seen.append(proxies) or real(self, px, crops, proxies))  # fmt: skip
    out = tmp_path / "out"
    result, text = _run(photos / "astronaut.png", photos / "wall.png", "--out", out, "-c", proxy_ckpt,
                        "--crop", "full")  # fmt: skip
    assert result.exit_code == 3, text
    s = load_sample(out / "astronaut.npz", required=("joints2d_detected", "person_mask", "voxels"))
    np.testing.assert_allclose(s.joints2d, s.joints2d_detected, atol=1e-3)
    assert s.crop[2] == 512 and s.person_mask.mean() > 0.2  # the whole photo; she fills much of it
    assert "front end found no person" in (out / "failures.csv").read_text()
    (prox,) = [p for p in seen if p is not None]
    assert set(np.unique(prox.mask)) <= {0.0, 1.0} and prox.mask.mean() > 0.2
    outside = ((prox.joints2d < 0) | (prox.joints2d >= 512)).any(axis=-1)
    assert outside.any() and np.all(prox.scores[outside] == 0)  # her legs are below the photo


def test_detector_windows_by_default_only_for_people_all(tmp_path, ckpt, photos, monkeypatch):
    """--people largest: the whole-photo pass (it finds the largest person); --people all: also the windows
    that find smaller people; --tiles/--no-tiles override."""
    from bodynet_cli.people import frontend

    seen = []
    real = frontend.detector_windows
    monkeypatch.setattr(frontend, "detector_windows", lambda w, h, tiles, **kw: seen.append(tiles) or real(w, h, tiles))
    for extra, want in (((), False), (("--people", "all"), True), (("--tiles",), True),
                        (("--people", "all", "--no-tiles"), False)):  # fmt: skip
        seen.clear()
        out = tmp_path / f"o{len(extra)}{want}"
        result, text = _run(photos / "astronaut.png", "--out", out, "-c", ckpt, *extra)
        assert result.exit_code == 0, text
        assert seen == [want], (extra, seen)
        assert len(list(out.glob("astronaut*.npz"))) == 1
