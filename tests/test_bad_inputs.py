"""The pieces behind "bad input never crashes a batch", one by one: the output-folder rule and input
discovery, load-time validation of sample and mesh files, image decoding edge cases, bounded crops,
complete-output detection. ``test_fuzz.py`` runs the commands end to end."""

from __future__ import annotations

import pickle
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io import images
from bodynet_cli.io.images import FILL_RGB, LoadedImage, load_image
from bodynet_cli.io.inputs import InputFile, check_out_dir, discover_inputs, same_path, unreadable_reason
from bodynet_cli.io.mesh import check_mesh, load_mesh
from bodynet_cli.io.npz import npz_complete, write_npz
from bodynet_cli.io.sample import Sample, load_sample, save_sample
from bodynet_cli.pipelines.predict import crops
from bodynet_cli.pipelines.predict.outputs import output_paths

# ------------------------------------------------------------------------------------ --out and discovery


def test_check_out_dir(tmp_path):
    assert check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"  # created later, by writes
    assert not (tmp_path / "new").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(BodyNetError, match=r"--out .*f is a file; give a folder"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(BodyNetError, match=r"--out .*f/a/b: .*f is a file, so no folder can be made below it"):
        check_out_dir(tmp_path / "f" / "a" / "b")
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with pytest.raises(BodyNetError, match="broken symbolic link"):
        check_out_dir(tmp_path / "link", option="--report")
    (tmp_path / "dirlink").symlink_to(tmp_path)
    assert check_out_dir(tmp_path / "dirlink" / "x") == tmp_path / "dirlink" / "x"


def test_discovery_keeps_broken_links_and_skips_the_output_folder(tmp_path):
    src = tmp_path / "in"
    (src / "out" / "sub").mkdir(parents=True)
    for rel in ("a.npz", "out/old.npz", "out/sub/older.npz"):
        (src / rel).write_bytes(b"x")
    (src / "dangling.npz").symlink_to(src / "nothing.npz")
    (src / "loop1.npz").symlink_to("loop2.npz")
    (src / "loop2.npz").symlink_to("loop1.npz")
    (src / "dangling.txt").symlink_to(src / "nothing.txt")  # not a wanted suffix: not an input
    items = discover_inputs([src], (".npz",), out=src / "out")
    assert [str(i.rel) for i in items] == ["a", "dangling", "loop1", "loop2"]
    assert unreadable_reason(src / "dangling.npz").startswith("broken symbolic link")
    assert unreadable_reason(src / "loop1.npz").startswith("symbolic link loop")
    assert unreadable_reason(src / "missing.npz") == "no such file"
    # globs follow the same rule; a file inside --out named explicitly is still taken
    items = discover_inputs([str(src / "**" / "*.npz"), src / "out" / "old.npz"], (".npz",), out=src / "out")
    assert sorted(str(i.rel) for i in items) == ["a", "dangling", "loop1", "loop2", "old"]
    with pytest.raises(BodyNetError, match="lies in --out"):
        discover_inputs([src / "out"], (".npz",), out=src)
    with pytest.raises(BodyNetError, match="lies in --out"):
        discover_inputs([src], (".npz",), out=src)
    with pytest.raises(BodyNetError, match="broken symbolic link"):
        discover_inputs([src / "dangling.npz"], (".npz",))  # named explicitly, not missing_ok: exit 2
    assert same_path(src / "loop1.npz", src / "loop1.npz") and not same_path(src / "a.npz", src / "loop1.npz")


# ------------------------------------------------------------------------------------ sample validation


def _good() -> Sample:
    return Sample(voxels=np.ones((4, 4, 4), bool), joints3d=np.zeros((16, 3), np.float32),
                  joints2d=np.zeros((16, 2), np.float32), crop=np.float32([0, 0, 100, 64]),
                  camera=np.float32([500, 50, 50, 5]), segmentation=np.zeros((8, 8), np.uint8),
                  vertices=np.zeros((3, 3), np.float32), faces=np.int32([[0, 1, 2]]))  # fmt: skip


@pytest.mark.parametrize("key,value,message", [
    ("crop", [np.nan, 0, 100, 64], "'crop' holds NaN"),
    ("crop", [0, 0, 0, 64], "'crop' is .* side > 0"),
    ("crop", [0, 0, 100, 0], "'crop' is .* size >= 1"),
    ("camera", [500, np.inf, 50, 5], "'camera' holds NaN or infinite"),
    ("camera", [0, 50, 50, 5], "'camera' is .* f > 0"),
    ("camera", [500, 50, 50, -1], "'camera' is .* Z0 > 0"),
    ("joints3d", np.full((16, 3), -np.inf), "'joints3d' holds NaN"),
    ("joints2d", np.full((16, 2), np.nan), "'joints2d' holds NaN"),
    ("voxel_probs", np.full((4, 4, 4), np.nan, np.float16), "'voxel_probs' holds NaN"),
    ("voxel_probs", np.full((4, 4, 4), 1.5, np.float16), "'voxel_probs' has values outside 0..1"),
    ("segmentation", np.full((8, 8), 15), "'segmentation' has label 15, expected 0..14"),
    ("segmentation", np.full((8, 8), -1), "'segmentation' has label -1"),
    ("part_voxels", np.full((4, 4, 4), 7), "'part_voxels' has label 7, expected 0..6"),
    ("faces", [[0, 1, 3]], r"'faces' index vertices 0..3, but there are 3 vertices"),
    ("faces", [[0, -1, 2]], r"'faces' index vertices -1..2"),
])  # fmt: skip
def test_sample_values_are_checked_when_read(tmp_path, key, value, message):
    arrays = {"voxels": np.packbits(np.ones(64, bool)), "voxel_shape": np.int32([4, 4, 4])}
    s = _good()
    for k in ("joints3d", "joints2d", "crop", "camera", "segmentation", "vertices", "faces"):
        arrays[k] = getattr(s, k)
    arrays[key] = np.asarray(value)
    write_npz(tmp_path / "s.npz", **arrays)
    with pytest.raises(BodyNetError, match=f"s.npz: key {message}"):
        load_sample(tmp_path / "s.npz")
    save_sample(tmp_path / "ok.npz", _good())
    assert load_sample(tmp_path / "ok.npz").crop[2] == 100  # the good sample passes every rule


def test_check_mesh():
    v = np.zeros((4, 3))
    check_mesh("m.obj", v, np.int64([[0, 1, 3]]))
    check_mesh("m.obj", v, np.float64([[0, 1, 3]]))  # whole numbers stored as floats are indices
    for faces, message in (([[0, 1, 4]], "index vertices 0..4, but there are 4"), ([[0, 1, 2.5]], "whole vertex")):
        with pytest.raises(BodyNetError, match=message):
            check_mesh("m.obj", v, np.asarray(faces))
    with pytest.raises(BodyNetError, match="NaN or infinite"):
        check_mesh("m.obj", np.full((4, 3), np.nan), np.int64([[0, 1, 2]]))


def test_load_mesh_text_encodings_and_binary_data(tmp_path):
    text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    (tmp_path / "latin.obj").write_bytes(b"# \xe9t\xe9\n" + text.encode())
    m = load_mesh(tmp_path / "latin.obj")
    assert m.vertices.shape == (3, 3) and m.faces.tolist() == [[0, 1, 2]]
    (tmp_path / "p.obj").write_bytes(pickle.dumps({"v": np.zeros(3)}))
    with pytest.raises(BodyNetError, match="binary data, not text .obj"):
        load_mesh(tmp_path / "p.obj")
    (tmp_path / "r.stl").write_bytes(bytes(range(256)) * 3)
    with pytest.raises(BodyNetError, match="binary data, not a binary STL of the right length or ASCII text"):
        load_mesh(tmp_path / "r.stl")
    (tmp_path / "gone.obj").symlink_to(tmp_path / "nothing.obj")
    with pytest.raises(BodyNetError, match="broken symbolic link"):
        load_mesh(tmp_path / "gone.obj")


# ------------------------------------------------------------------------------------------------ images


def test_images_float_gif_multiframe_and_large(tmp_path, rng, monkeypatch):
    gray = rng.integers(0, 256, (40, 48)).astype(np.float64)
    Image.fromarray(gray.astype(np.int32), mode="I").save(tmp_path / "i.tif")
    for scale, name in ((1.0, "f255.tif"), (1 / 255, "f1.tif")):
        Image.fromarray((gray * scale).astype(np.float32), mode="F").save(tmp_path / name)
        np.testing.assert_array_equal(load_image(tmp_path / name).rgb, load_image(tmp_path / "i.tif").rgb)
    nan = (gray / 255).astype(np.float32)
    nan[0, 0] = np.nan
    Image.fromarray(nan, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(BodyNetError, match="NaN"):
        load_image(tmp_path / "nan.tif")
    rgb = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "one.gif")
    assert load_image(tmp_path / "one.gif").rgb.shape == (40, 48, 3)
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(tmp_path / "two.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "two.tif", save_all=True, append_images=frames[1:])
    for name in ("two.gif", "two.tif"):
        with pytest.raises(BodyNetError, match="holds 2 images"):
            load_image(tmp_path / name)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40 x 48 = 1920: above the limit, below twice it
    with warnings.catch_warnings(record=True) as caught:
        loaded = load_image(tmp_path / "one.gif")
    assert not caught, caught  # Pillow's DecompressionBombWarning does not escape
    assert loaded.warnings and "very large image (48x40 pixels)" in loaded.warnings[0]


# ------------------------------------------------------------------------------------------------- crops


def _smooth(rng, w, h):
    small = rng.integers(0, 256, size=(h // 4 + 2, w // 4 + 2, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


@pytest.mark.parametrize("crop", [Crop(-300.3, -250.7, 700, 16), Crop(-100, -100, 300, 32), Crop(-20.5, -3, 90, 16),
                                  Crop(40, 30, 500, 32), Crop(-5, -5, 60, 64)])  # fmt: skip
def test_far_crops_agree_with_the_one_pass_resampling(rng, crop, monkeypatch):
    """The bounded path (block means, then bilinear) against the padded one-pass path on crops where both
    fit in memory: within a few levels, well under one on average."""
    for rgb in (_smooth(rng, 56, 40), rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)):
        image = LoadedImage(rgb=rgb, scale=1.0, width=rgb.shape[1], height=rgb.shape[0])
        monkeypatch.setattr(images, "_MAX_CANVAS", 10**9)
        one_pass = images.crop_pixels(image, crop).astype(np.int64)
        far = images._crop_far(rgb, crop.x0, crop.y0, crop.side, crop.size).astype(np.int64)
        assert np.abs(far - one_pass).max() <= 8 and np.abs(far - one_pass).mean() < 0.6


def test_far_crops_map_points_and_stay_small(rng):
    rgb = np.zeros((200, 300, 3), np.uint8)
    rgb[116:128, 66:78] = 255  # centre (72, 122)
    for side in (1000.0, 4000.0):
        crop = Crop(72 - side / 2 + 13.0, 122 - side / 2 - 7.0, side, 64)
        image = LoadedImage(rgb=rgb, scale=1.0, width=300, height=200)
        black = LoadedImage(rgb=np.zeros_like(rgb), scale=1.0, width=300, height=200)
        out = images.crop_pixels(image, crop)[..., 0].astype(np.float64) - images.crop_pixels(black, crop)[..., 0]
        ys, xs = np.mgrid[:64, :64] + 0.5
        centroid = np.array([(xs * out).sum(), (ys * out).sum()]) / out.sum()
        # within a quarter of an output pixel (62 image pixels each at side 4000; the dot covers a fifth of one)
        np.testing.assert_allclose(centroid, crop.image_to_crop(np.array([72.0, 122.0])), atol=0.25)
    image = LoadedImage(rgb=rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), scale=1.0, width=256, height=256)
    tracemalloc.start()
    for box, margin in (([-5000, -5000, 90000, 90000], 1.25), ([0, 0, 256, 256], 60.0), ([10, 10, 11, 11], 1e5)):
        out = images.crop_pixels(image, crops.square_crop(box, margin, 128))
        assert out.shape == (128, 128, 3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 2**20, peak  # the one-pass canvases would be 42 GB, 1.4 GB and 0.9 GB
    outside = images.crop_pixels(image, Crop(1e6, -1e6, 10.0, 64))
    assert (outside == np.asarray(FILL_RGB, np.uint8)).all()


# ------------------------------------------------------------------------------------- complete outputs


def test_truncated_outputs_are_not_done(tmp_path):
    save_sample(tmp_path / "a.npz", _good())
    assert npz_complete(tmp_path / "a.npz")
    paths = output_paths(tmp_path, InputFile(Path("a.png"), Path("a")), None, False)
    assert paths.done()
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "a.npz").write_bytes(data[: len(data) // 2])
    assert not npz_complete(tmp_path / "a.npz") and not paths.done()
    assert not npz_complete(tmp_path / "missing.npz")
