"""Image decoding (modes, EXIF, 16-bit, downscaling, bad files) and input discovery for ``predict``."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.images import FILL_RGB, discover_images, load_image


def _photo(rng, w=48, h=32):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_formats_round_trip(tmp_path, rng, suffix):
    a = _photo(rng)
    kwargs = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(a).save(tmp_path / f"x{suffix}", **kwargs)
    img = load_image(tmp_path / f"x{suffix}")
    np.testing.assert_array_equal(img.rgb, a)
    assert (img.width, img.height, img.scale) == (48, 32, 1.0)


def test_jpeg_decodes_like_pillow(tmp_path, rng):
    Image.fromarray(_photo(rng)).save(tmp_path / "x.jpg", quality=90)
    np.testing.assert_array_equal(load_image(tmp_path / "x.jpg").rgb, np.asarray(Image.open(tmp_path / "x.jpg")))


def test_grayscale_16bit_and_rgba(tmp_path, rng):
    g = rng.integers(0, 256, size=(20, 30), dtype=np.uint8)
    Image.fromarray(g).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png").rgb, np.repeat(g[..., None], 3, -1))
    g16 = g.astype(np.uint16) * 257  # full 16-bit range
    Image.fromarray(g16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    np.testing.assert_array_equal(load_image(tmp_path / "g16.png").rgb[..., 0], g)
    a = _photo(rng, 30, 20)
    alpha = np.zeros((20, 30), np.uint8)
    alpha[:, :10] = 255
    Image.fromarray(np.dstack([a, alpha])).save(tmp_path / "a.png")
    rgb = load_image(tmp_path / "a.png").rgb
    np.testing.assert_array_equal(rgb[:, :10], a[:, :10])  # opaque: unchanged
    np.testing.assert_array_equal(rgb[:, 10:], np.broadcast_to(FILL_RGB, (20, 20, 3)))  # transparent: mean colour


def test_exif_rotation_gives_upright_image(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:4, :4] = 255  # marker at the stored top-left
    img = Image.fromarray(a)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    img.save(tmp_path / "r.png", exif=exif.tobytes())
    out = load_image(tmp_path / "r.png")
    assert out.rgb.shape == (40, 20, 3) and (out.width, out.height) == (20, 40)
    assert out.rgb[:4, -4:].min() == 255 and out.rgb[-4:, :4].max() == 0  # marker now top-right


def test_large_images_are_downscaled_with_their_scale(tmp_path):
    a = np.zeros((300, 500, 3), np.uint8)
    a[100:200, 200:300] = 255
    for name in ("big.png", "big.jpg"):
        Image.fromarray(a).save(tmp_path / name)
        out = load_image(tmp_path / name, max_side=100)
        assert out.rgb.shape == (60, 100, 3) and out.scale == pytest.approx(5.0)
        assert (out.width, out.height) == (500, 300)
        # the white square maps back to original pixels through the scale
        ys, xs = np.nonzero(out.rgb[..., 0] > 128)
        assert abs(xs.min() * out.scale - 200) <= 5 and abs((ys.max() + 1) * out.scale - 200) <= 5


def test_bad_files_raise_user_errors(tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    Image.new("RGB", (1, 1)).save(tmp_path / "one.png")
    buf = tmp_path / "ok.jpg"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf)
    (tmp_path / "cut.jpg").write_bytes(buf.read_bytes()[: buf.stat().st_size // 2])
    for name, words in (("text.png", "not an image"), ("one.png", "1x1"), ("cut.jpg", "truncated")):
        with pytest.raises(BodyNetError, match=words):
            load_image(tmp_path / name)


def test_discover_folders_files_globs(tmp_path):
    for rel in ("a.png", "sub/b.JPG", "sub/deep/c.webp", "sub/notes.txt", "x.v2.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    items = discover_images([tmp_path])
    assert [i.rel.as_posix() for i in items] == ["a", "sub/b", "sub/deep/c", "x.v2"]
    items = discover_images([str(tmp_path / "sub" / "**" / "*.webp"), tmp_path / "a.png", tmp_path / "a.png"])
    assert [i.rel.as_posix() for i in items] == ["a", "deep/c"]  # glob rel starts after its fixed folder
    with pytest.raises(BodyNetError, match="no such file"):
        discover_images([tmp_path / "missing"])
    with pytest.raises(BodyNetError, match="matches no image"):
        discover_images([str(tmp_path / "*.gif")])
    assert Path(items[0].path).name == "a.png"


def test_16bit_rgb_png_keeps_the_high_byte(tmp_path):
    """Pillow cannot write 16-bit RGB PNGs, so this one is written by hand (IHDR bit depth 16, colour type 2)."""
    import struct
    import zlib

    h, w = 16, 20
    a = (np.arange(h * w * 3).reshape(h, w, 3) * 60).astype(">u2")
    raw = b"".join(b"\x00" + a[i].tobytes() for i in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip
    (tmp_path / "rgb16.png").write_bytes(png)
    np.testing.assert_array_equal(load_image(tmp_path / "rgb16.png").rgb, (a >> 8).astype(np.uint8))
