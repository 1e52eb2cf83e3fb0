"""``predict`` on video files: one output per frame (or per --every'th), the frame's time in meta, panels
per frame, a broken video recorded as a failure while the batch goes on; the frame decoder itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

import torch  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from bodynet_cli.cli.app import app  # noqa: E402
from bodynet_cli.errors import BodyNetError  # noqa: E402
from bodynet_cli.io.sample import load_sample  # noqa: E402
from bodynet_cli.io.video import count_frames, iter_frames, read_video_frame, write_video  # noqa: E402
from bodynet_cli.models.bodynet import BodyNet  # noqa: E402
from bodynet_cli.models.checkpoint import save_checkpoint  # noqa: E402
from bodynet_cli.models.config import ModelConfig  # noqa: E402

TINY = ModelConfig(name="tiny", input_size=64, heatmap_size=16, voxel_res=32, features=16, depth=2)
runner = CliRunner()


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    """Frames whose mean level says their number (10, 50, 90, ...), so decoding order is checkable."""
    return [np.full((h, w, 3), 10 + 40 * i, np.uint8) for i in range(n)]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt"), BodyNet(TINY).eval(), TINY, {"note": "random weights"})


def test_decoder_frames_times_and_random_access(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, _frames(5), fps=25)
    assert count_frames(path) == 5
    got = list(iter_frames(path, every=2))
    assert [f.index for f in got] == [0, 2, 4]
    np.testing.assert_allclose([f.time_s for f in got], [0.0, 0.08, 0.16], atol=1e-6)
    np.testing.assert_allclose([f.rgb.mean() for f in got], [10, 90, 170], atol=3)
    # Out-of-order reads give the right frames (the cursor restarts or serves recent frames).
    for i in (3, 1, 4, 0, 2):
        assert abs(read_video_frame(path, i).rgb.mean() - (10 + 40 * i)) < 3
    with pytest.raises(BodyNetError, match="v.mp4: has 5 frames, frame 7"):
        read_video_frame(path, 7)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(BodyNetError, match="bad.mp4: not a readable video"):
        list(iter_frames(tmp_path / "bad.mp4"))


def test_predict_video_one_output_per_frame(tmp_path, ckpt):
    vids = tmp_path / "in"
    vids.mkdir()
    write_video(vids / "clip.mp4", _frames(4))
    (vids / "broken.mp4").write_bytes(b"not a video at all")
    out = tmp_path / "out"
    r = runner.invoke(app, ["predict", str(vids), "--out", str(out), "-c", str(ckpt), "--crop", "full", "--viz"])
    assert r.exit_code == 3, r.output  # the broken video is a failure, the clip's frames are written
    assert "broken.mp4" in r.output
    files = sorted(p.relative_to(out).as_posix() for p in (out / "clip").glob("*.npz"))
    assert files == [f"clip/{i:06d}.npz" for i in range(4)]
    assert all((out / "clip" / f"{i:06d}.viz.png").is_file() for i in range(4))
    s = load_sample(out / "clip" / "000002.npz")
    assert s.meta["frame"] == 2 and s.meta["time_s"] == pytest.approx(2 / 25) and s.meta["image_size"] == [64, 48]
    joints = json.loads((out / "joints.json").read_text())
    assert {k for k in joints["images"]} >= {f"clip.mp4#{i}" for i in range(4)}
    fails = (out / "failures.csv").read_text()
    assert "broken.mp4" in fails and "clip.mp4" not in fails


def test_predict_video_every_nth(tmp_path, ckpt):
    write_video(tmp_path / "clip.mp4", _frames(5))
    out = tmp_path / "out"
    r = runner.invoke(app, ["predict", str(tmp_path / "clip.mp4"), "--out", str(out), "-c", str(ckpt), "--crop",
                            "full", "--every", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (out / "clip").glob("*.npz")) == ["000000.npz", "000002.npz", "000004.npz"]
    # A frame's prediction equals the prediction on the same frame saved as an image.
    from PIL import Image

    frame = read_video_frame(tmp_path / "clip.mp4", 2).rgb
    Image.fromarray(frame).save(tmp_path / "f2.png")
    r = runner.invoke(app, ["predict", str(tmp_path / "f2.png"), "--out", str(tmp_path / "o2"), "-c", str(ckpt),
                            "--crop", "full"])  # fmt: skip
    assert r.exit_code == 0, r.output
    a, b = load_sample(out / "clip" / "000002.npz"), load_sample(tmp_path / "o2" / "f2.npz")
    np.testing.assert_allclose(a.joints2d, b.joints2d, atol=1e-2)  # batched with other frames: float order differs
    assert Path(a.meta["input"]).name == "clip.mp4"
