"""``bodynet predict`` end to end with a small random checkpoint: schema, failures, resuming, mapping
back to original pixels, a real subprocess, two torchrun ranks, Ctrl-C."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bodynet_cli.body.conventions import NUM_JOINTS
from bodynet_cli.cli.app import app
from bodynet_cli.io.images import FILL_RGB, discover_images
from bodynet_cli.io.sample import load_sample
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.checkpoint import load_checkpoint, save_checkpoint
from bodynet_cli.models.config import ModelConfig

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "images"
TINY = ModelConfig(name="tiny", input_size=64, heatmap_size=16, voxel_res=32, features=16, depth=2)
runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = BodyNet(TINY).eval()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt"), model, TINY, {"note": "random weights for tests"})


def _run(*args):
    result = runner.invoke(app, ["predict", *map(str, args)])
    return result, result.output


def _photos(folder: Path, rng, n: int, w: int, h: int, name: str = "im{i}.png") -> Path:
    """``n`` random photos (w × h) in a new ``folder``; returns it."""
    folder.mkdir()
    for i in range(n):
        Image.fromarray(_photo(rng, w, h)).save(folder / name.format(i=i))
    return folder


def _photo(rng, w, h):
    """A smooth random picture (so resampling at different offsets agrees closely)."""
    small = rng.integers(0, 256, size=(h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def _sub(env_threads=True):
    env = dict(os.environ)
    if env_threads:
        env["OMP_NUM_THREADS"] = "1"
    return env


def test_examples_end_to_end_every_output_validates(tmp_path, ckpt):
    out = tmp_path / "out"
    result, text = _run(EXAMPLES, "--out", out, "-c", ckpt, "--viz", "--mesh", "ply", "--save-probs", "-b", "2")
    assert result.exit_code == 0, text
    items = discover_images([EXAMPLES])
    assert items
    sha = load_checkpoint(ckpt).sha256
    for item in items:
        s = load_sample(out / f"{item.rel}.npz", required=(
            "voxels", "voxel_probs", "joints2d", "joints2d_score", "joints3d", "segmentation", "crop"))  # fmt: skip
        r = TINY.voxel_res
        assert s.voxels.shape == (r, r, r) and s.voxel_probs.dtype == np.float16
        np.testing.assert_array_equal(s.voxels, s.voxel_probs > 0.5)
        assert s.joints2d.shape == (NUM_JOINTS, 2) and s.joints3d.shape == (NUM_JOINTS, 3)
        assert s.segmentation.shape == (TINY.heatmap_size,) * 2 and s.segmentation.max() < 15
        assert s.joints3d[6, 2] == 0  # z is relative to the pelvis
        assert s.crop[3] == TINY.input_size
        assert s.meta["checkpoint_sha256"] == sha and s.meta["model"] == "tiny"
        assert s.meta["config_hash"] == TINY.hash() and s.meta["input"] == str(item.path)
        assert (out / f"{item.rel}.ply").stat().st_size > 0
        assert Image.open(out / f"{item.rel}.viz.png").size == (5 * 256, 256 + 16)
    doc = json.loads((out / "joints.json").read_text())
    assert len(doc["images"]) == len(items) and len(doc["joint_names"]) == NUM_JOINTS
    first = doc["images"][(items[0].rel.parent / items[0].path.name).as_posix()]
    s = load_sample(out / f"{items[0].rel}.npz")
    np.testing.assert_allclose(first["joints2d"], s.joints2d, atol=1e-3)
    assert (out / "failures.csv").read_text() == "image,reason\n"


def test_bad_files_are_recorded_and_the_rest_processed(tmp_path, ckpt, rng):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(_photo(rng, 80, 60)).save(src / "good.jpg")
    Image.fromarray(_photo(rng, 50, 70)).save(src / "sub" / "good2.png")
    good = (src / "good.jpg").read_bytes()
    (src / "corrupt.jpg").write_bytes(good[: len(good) // 3])
    (src / "text.png").write_text("this is not a picture")
    Image.new("RGB", (1, 1)).save(src / "sub" / "tiny.png")
    Image.fromarray(_photo(rng, 40, 40)).save(src / "good.bmp")  # same output name as good.jpg
    out = tmp_path / "out"
    result, text = _run(src, "--out", out, "-c", ckpt, "-b", "2", "--crop", "full")
    assert result.exit_code == 3, text
    rows = list(csv.DictReader((out / "failures.csv").open()))
    bad = {Path(r["image"]).name: r["reason"] for r in rows}
    assert set(bad) == {"corrupt.jpg", "text.png", "tiny.png", "good.jpg"}, rows  # .bmp sorts first
    assert "same output name" in bad["good.jpg"]
    for name in bad:
        assert name in text
    assert "4 of 6 images failed" in text
    load_sample(out / "good.npz", required=("voxels", "joints2d"))
    load_sample(out / "sub" / "good2.npz", required=("voxels", "joints2d"))
    assert sorted(p.name for p in out.rglob("*.npz")) == ["good.npz", "good2.npz"]
    assert not list(out.rglob("*.tmp"))


def test_skip_existing_redoes_nothing(tmp_path, ckpt, rng):
    src = _photos(tmp_path / "in", rng, 3, 64, 48)
    out = tmp_path / "out"
    result, text = _run(src, "--out", out, "-c", ckpt, "--viz", "--crop", "full")
    assert result.exit_code == 0, text
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("im*")}
    assert len(stamps) == 6
    result, text = _run(src, "--out", out, "-c", ckpt, "--viz", "--skip-existing", "--crop", "full")
    assert result.exit_code == 0, text
    assert "0 written, 3 already there" in text
    assert {p: p.stat().st_mtime_ns for p in out.rglob("im*")} == stamps
    (out / "im1.viz.png").unlink()  # an image missing one of its outputs is redone
    result, text = _run(src, "--out", out, "-c", ckpt, "--viz", "--skip-existing", "--crop", "full")
    assert result.exit_code == 0 and "1 written, 2 already there" in text, text
    assert len(json.loads((out / "joints.json").read_text())["images"]) == 3


def test_outputs_map_back_to_original_pixels(tmp_path, ckpt, rng):
    """The same person pixels, once as a tight (letterboxed) image and once shifted inside a larger
    canvas with a box: the network sees identical crops, so every output is the same, shifted."""
    w, h, dx, dy = 60, 90, 137, 41
    tight = _photo(rng, w, h)
    canvas = np.empty((260, 330, 3), np.uint8)
    canvas[:] = FILL_RGB  # what letterboxing pads with
    canvas[dy : dy + h, dx : dx + w] = tight
    Image.fromarray(tight).save(tmp_path / "tight.png")
    Image.fromarray(canvas).save(tmp_path / "canvas.png")
    side = max(w, h)
    box = [dx + (w - side) / 2, dy + (h - side) / 2, dx + (w + side) / 2, dy + (h + side) / 2]
    (tmp_path / "boxes.json").write_text(json.dumps({"canvas.png": box}))
    result, text = _run(tmp_path / "tight.png", "--out", tmp_path / "a", "-c", ckpt, "--crop", "full")
    assert result.exit_code == 0, text
    result, text = _run(tmp_path / "canvas.png", "--out", tmp_path / "b", "-c", ckpt,
                        "--boxes", tmp_path / "boxes.json", "--margin", "1")  # fmt: skip
    assert result.exit_code == 0, text
    a, b = load_sample(tmp_path / "a" / "tight.npz"), load_sample(tmp_path / "b" / "canvas.npz")
    shift = np.array([dx, dy], np.float32)
    np.testing.assert_allclose(b.crop[:3], a.crop[:3] + [dx, dy, 0], atol=1e-4)
    np.testing.assert_allclose(b.joints2d, a.joints2d + shift, atol=1e-3)
    np.testing.assert_allclose(b.joints3d[:, :2], a.joints3d[:, :2] + shift, atol=1e-3)
    np.testing.assert_allclose(b.joints3d[:, 2], a.joints3d[:, 2], atol=1e-5)
    np.testing.assert_array_equal(b.voxels, a.voxels)
    np.testing.assert_array_equal(b.segmentation, a.segmentation)


def test_no_default_checkpoint_is_a_clear_user_error(tmp_path, monkeypatch):
    from bodynet_cli.models import checkpoint

    monkeypatch.setattr(checkpoint, "DEFAULT_CHECKPOINT", tmp_path / "nothing")
    result, text = _run(EXAMPLES, "--out", tmp_path / "o")
    assert result.exit_code == 2, text
    assert "no default checkpoint" in text and "--checkpoint" in text
    result, text = _run(tmp_path / "missing.png", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "no such file" in text, text


def test_interrupt_leaves_only_complete_files(tmp_path, ckpt, rng, monkeypatch):
    """Ctrl-C during the second batch: the first batch's files are whole, nothing else exists."""
    from bodynet_cli.pipelines.predict import infer
    from bodynet_cli.pipelines.predict.run import PredictOptions, run_predict

    src = _photos(tmp_path / "in", rng, 6, 64, 64)
    loaded = load_checkpoint(ckpt)
    predictor = infer.Predictor(loaded.model, torch.device("cpu"))
    real, calls = predictor.predict, []

    def flaky(pixels, crops, proxies=None):
        calls.append(len(crops))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(pixels, crops, proxies)

    monkeypatch.setattr(predictor, "predict", flaky)
    out = tmp_path / "out"
    opts = PredictOptions(out=out, crop_mode="full", batch_size=2, viz=True, mesh="obj")
    report = run_predict(discover_images([src]), predictor, opts, {"model": "tiny"})
    assert report.interrupted and report.done == 2
    assert sorted(p.name for p in out.iterdir()) == ["im0.npz", "im0.obj", "im0.viz.png",
                                                     "im1.npz", "im1.obj", "im1.viz.png"]  # fmt: skip
    for i in (0, 1):
        load_sample(out / f"im{i}.npz", required=("voxels",))


def test_real_subprocess_and_sigint(tmp_path, ckpt, rng):
    src = _photos(tmp_path / "in", rng, 40, 64, 64, "im{i:02d}.png")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bodynet_cli", "predict", str(src / "im00.png"), "--out", str(out), "-c", str(ckpt),
           "--crop", "full"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_sub(), timeout=120)
    assert done.returncode == 0, done.stderr
    load_sample(out / "im00.npz", required=("voxels", "joints2d"))
    # Ctrl-C in the middle of a run: exit 130, every file present is whole, none half-written.
    cmd = [sys.executable, "-m", "bodynet_cli", "predict", str(src), "--out", str(out), "-c", str(ckpt),
           "--mesh", "obj", "--viz", "-b", "1", "--crop", "full"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_sub())
    deadline = time.time() + 120
    while not (out / "im02.npz").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before Ctrl-C arrived")
    assert proc.returncode == 130, err
    assert "--skip-existing" in err
    assert not [p for p in out.iterdir() if p.name.startswith(".")], list(out.iterdir())
    for p in out.glob("*.npz"):
        load_sample(p, required=("voxels",))
    npz = sorted(p.stem for p in out.glob("*.npz"))
    assert npz == sorted(p.name[: -len(".viz.png")] for p in out.glob("*.viz.png"))
    assert 0 < len(npz) < 40


def test_torchrun_two_gloo_ranks_share_the_work(tmp_path, ckpt, rng):
    src = _photos(tmp_path / "in", rng, 5, 64, 80)
    (src / "broken.png").write_text("not an image")
    one, two = tmp_path / "one", tmp_path / "two"
    result, text = _run(src, "--out", one, "-c", ckpt, "-b", "2", "--crop", "full")
    assert result.exit_code == 3, text
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "bodynet_cli", "predict", str(src), "--out", str(two), "-c", str(ckpt), "-b", "2",
           "--device", "cpu", "--crop", "full"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=_sub(), timeout=300)
    assert done.returncode != 0, done.stderr  # a rank exiting 3 fails the torchrun job
    assert "exitcode  : 3" in done.stderr or "exit code 3" in done.stderr.lower() or done.returncode == 3, done.stderr
    rows = list(csv.DictReader((two / "failures.csv").open()))
    assert [Path(r["image"]).name for r in rows] == ["broken.png"]
    doc_one = json.loads((one / "joints.json").read_text())["images"]
    doc_two = json.loads((two / "joints.json").read_text())["images"]
    assert sorted(doc_two) == sorted(doc_one) == [f"im{i}.png" for i in range(5)]
    for name in doc_one:
        np.testing.assert_allclose(doc_two[name]["joints2d"], doc_one[name]["joints2d"], atol=2e-3)


def test_progress_counts_every_image_once(tmp_path, ckpt, rng):
    from bodynet_cli.pipelines.predict.infer import Predictor
    from bodynet_cli.pipelines.predict.run import PredictOptions, run_predict

    for i in range(5):
        Image.fromarray(_photo(rng, 48, 64)).save(tmp_path / f"im{i}.png")
    (tmp_path / "bad.png").write_text("no")
    predictor = Predictor(load_checkpoint(ckpt).model, torch.device("cpu"))
    items = discover_images([tmp_path])
    ticks = []
    opts = PredictOptions(out=tmp_path / "out", crop_mode="full", batch_size=2)
    report = run_predict(items[:3], predictor, opts, {}, on_progress=ticks.append)
    assert sum(ticks) == 3 and report.done + len(report.failures) == 3
    ticks.clear()
    opts = PredictOptions(out=tmp_path / "out", crop_mode="full", batch_size=2, skip_existing=True)
    report = run_predict(items, predictor, opts, {}, on_progress=ticks.append)
    assert sum(ticks) == 6 and (report.done, report.skipped, len(report.failures)) == (3, 2, 1)


def test_part_voxels_are_written_when_the_model_has_them(tmp_path, rng):
    cfg = TINY.replace(name="tiny-parts", part_voxels=True)
    torch.manual_seed(1)
    ckpt = save_checkpoint(tmp_path / "ckpt", BodyNet(cfg).eval(), cfg)
    Image.fromarray(_photo(rng, 64, 64)).save(tmp_path / "p.png")
    result, text = _run(tmp_path / "p.png", "--out", tmp_path / "out", "-c", ckpt, "--crop", "full")
    assert result.exit_code == 0, text
    s = load_sample(tmp_path / "out" / "p.npz", required=("part_voxels", "voxels"))
    assert s.part_voxels.shape == (cfg.voxel_res,) * 3 and s.part_voxels.max() < 7
