"""Crops for ``predict``: letterbox and person-box geometry, resampling against a per-pixel loop,
the --boxes file."""

from pathlib import Path

import numpy as np
import pytest

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.images import FILL_RGB, LoadedImage, crop_pixels
from bodynet_cli.pipelines.predict.crops import box_for, letterbox_crop, read_boxes, square_crop


def _loaded(rgb, scale=1.0):
    h, w = rgb.shape[:2]
    return LoadedImage(rgb=rgb, scale=scale, width=round(w * scale), height=round(h * scale))


def _bilinear_reference(rgb, crop: Crop):
    """Per-pixel loop: output pixel (i, j) samples continuous (x0 + j + 0.5, y0 + i + 0.5) bilinearly
    between pixel centres; pixels outside the image have the fill colour (scale 1 crops only)."""
    h, w = rgb.shape[:2]

    def px(r, c):
        return rgb[r, c].astype(np.float64) if 0 <= r < h and 0 <= c < w else np.asarray(FILL_RGB, np.float64)

    out = np.zeros((crop.size, crop.size, 3))
    for i in range(crop.size):
        for j in range(crop.size):
            u, v = crop.x0 + j, crop.y0 + i  # index space: pixel k's centre is k
            c0, r0 = int(np.floor(u)), int(np.floor(v))
            fu, fv = u - c0, v - r0
            out[i, j] = ((1 - fv) * ((1 - fu) * px(r0, c0) + fu * px(r0, c0 + 1))
                         + fv * ((1 - fu) * px(r0 + 1, c0) + fu * px(r0 + 1, c0 + 1)))  # fmt: skip
    return out


@pytest.mark.parametrize("x0,y0", [(3.25, 5.5), (-4.75, 2.0), (20.5, -6.25), (-3.0, -2.0)])
def test_crop_pixels_matches_loop_at_unit_scale(rng, x0, y0):
    rgb = rng.integers(0, 256, size=(23, 31, 3), dtype=np.uint8)
    crop = Crop(x0, y0, 16.0, 16)
    got = crop_pixels(_loaded(rgb), crop).astype(np.float64)
    np.testing.assert_allclose(got, _bilinear_reference(rgb, crop), atol=1.0)  # uint8 rounding


def test_crop_pixels_maps_points_through_the_crop(rng):
    """A bright dot lands where ``Crop.image_to_crop`` says, at any scale, also on a downscaled image."""
    for scale in (1.0, 2.0):
        rgb = np.zeros((200, 300, 3), np.uint8)
        rgb[120:124, 70:74] = 255  # centre (72, 122) in the pixels of rgb
        dot = np.array([72.0, 122.0]) * scale  # original pixels
        crop = Crop(-30.0 * scale, 40.0 * scale, 180.0 * scale, 64)
        out = crop_pixels(_loaded(rgb, scale), crop)[..., 0].astype(np.float64)
        out -= crop_pixels(_loaded(np.zeros_like(rgb), scale), crop)[..., 0]  # the padding's fill colour
        ys, xs = np.mgrid[: out.shape[0], : out.shape[1]] + 0.5
        centroid = np.array([(xs * out).sum(), (ys * out).sum()]) / out.sum()
        np.testing.assert_allclose(centroid, crop.image_to_crop(dot), atol=0.05)


def test_letterbox_and_square_crops():
    c = letterbox_crop(300, 200, 128)
    assert (c.x0, c.y0, c.side, c.size) == (0.0, -50.0, 300.0, 128)
    c = letterbox_crop(100, 160, 64)
    assert (c.x0, c.y0, c.side) == (-30.0, 0.0, 160.0)
    c = square_crop([10, 20, 50, 120], 1.25, 128)  # centre (30, 70), longer side 100
    assert (c.x0, c.y0, c.side, c.size) == (30 - 62.5, 70 - 62.5, 125.0, 128)


def test_read_boxes_json_csv_and_lookup(tmp_path):
    (tmp_path / "b.json").write_text('{"a.jpg": [1, 2, 30, 40], "sub/c.png": [0, 0, 5, 5]}')
    (tmp_path / "l.json").write_text('[{"image": "a.jpg", "box": [1, 2, 30, 40]}]')
    (tmp_path / "b.csv").write_text("image,x0,y0,x1,y1\na.jpg,1,2,30,40\n")
    for name in ("b.json", "l.json", "b.csv"):
        boxes = read_boxes(tmp_path / name)
        np.testing.assert_array_equal(boxes["a.jpg"], [1, 2, 30, 40])
    boxes = read_boxes(tmp_path / "b.json")
    np.testing.assert_array_equal(box_for(boxes, Path("/data/a.jpg"), Path("a")), [1, 2, 30, 40])
    np.testing.assert_array_equal(box_for(boxes, Path("in/sub/c.png"), Path("sub/c")), [0, 0, 5, 5])
    assert box_for(boxes, Path("in/d.png"), Path("d")) is None
    for bad in ('{"a.jpg": [1, 2, 3]}', '{"a.jpg": [5, 2, 1, 40]}', "[1, 2]", "{not json"):
        (tmp_path / "x.json").write_text(bad)
        with pytest.raises(BodyNetError, match="--boxes"):
            read_boxes(tmp_path / "x.json")
    (tmp_path / "x.csv").write_text("name,a\n1,2\n")
    with pytest.raises(BodyNetError, match="malformed"):
        read_boxes(tmp_path / "x.csv")
