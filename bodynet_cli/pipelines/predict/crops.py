"""Where the network looks: letterboxed whole images, square person crops, user-given boxes.

Every crop is a ``bodynet_cli.geometry.space.Crop`` in original-image pixels (possibly reaching
outside the image; the outside is filled with the network's mean colour). Boxes are ``(x0, y0, x1,
y1)`` corners in the same pixels, continuous coordinates (pixel i covers [i, i+1)).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.images import FILL_RGB, LoadedImage

# Crop side / person-box side: the mean framing of the training crops (``bodynet synth`` draws
# 1.2 × box × U(0.95, 1.15), see data/synth/camera.py).
DEFAULT_MARGIN = 1.25


def letterbox_crop(width: int, height: int, size: int) -> Crop:
    """The square crop holding the whole ``width`` x ``height`` image, centred (padding the short side)."""
    side = float(max(width, height))
    return Crop(x0=(width - side) / 2, y0=(height - side) / 2, side=side, size=size)


def square_crop(box, margin: float, size: int) -> Crop:
    """A square crop centred on ``box`` (4,) ``x0, y0, x1, y1``, side = margin · its longer side."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64).ravel())
    side = max(x1 - x0, y1 - y0, 1.0) * margin
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Crop(x0=cx - side / 2, y0=cy - side / 2, side=side, size=size)


def crop_pixels(image: LoadedImage, crop: Crop) -> np.ndarray:
    """Resample ``crop`` of ``image`` to uint8 (size, size, 3), antialiased, outside = mean colour.

    Output pixel i's centre i + 0.5 samples original pixel ``crop.x0 + (i + 0.5) · side / size``.
    Memory is bounded by the image and the output, whatever the crop: a crop reaching far beyond the
    image (a huge box, a large margin) is resampled by ``_crop_far``, one wholly outside is the fill colour.
    """
    from PIL import Image

    k = image.scale
    x0, y0, side = crop.x0 / k, crop.y0 / k, crop.side / k  # in pixels of image.rgb
    h, w = image.rgb.shape[:2]
    # Pad by the filter's reach beyond the crop too: the resampling then sees the fill colour outside
    # the image whether or not the crop touches its border (the same crop of the same pixels always
    # gives the same result, wherever the image lies in a larger canvas).
    m = int(np.ceil(side / crop.size)) + 1
    if x0 - m >= w or y0 - m >= h or x0 + side + m <= 0 or y0 + side + m <= 0:
        return np.full((crop.size, crop.size, 3), FILL_RGB, dtype=np.uint8)  # nothing of the image in reach
    pl, pt = max(0, int(np.ceil(m - x0))), max(0, int(np.ceil(m - y0)))
    pr, pb = max(0, int(np.ceil(x0 + side + m - w))), max(0, int(np.ceil(y0 + side + m - h)))
    if (w + pl + pr) * (h + pt + pb) > _MAX_CANVAS * max(w, h, crop.size) ** 2:
        return _crop_far(image.rgb, x0, y0, side, crop.size)
    img = Image.fromarray(image.rgb)
    if pl or pt or pr or pb:
        canvas = Image.new("RGB", (w + pl + pr, h + pt + pb), FILL_RGB)
        canvas.paste(img, (pl, pt))
        img = canvas
    box = (x0 + pl, y0 + pt, x0 + pl + side, y0 + pt + side)
    out = img.resize((crop.size, crop.size), Image.Resampling.BILINEAR, box=box)
    return np.asarray(out, dtype=np.uint8)


# A padded canvas up to this many times the square of the image's longer side (or of the output) is
# made whole: every letterbox and person crop of an ordinary image stays on that exact path.
_MAX_CANVAS = 4


def _block_sums(a: np.ndarray, start: int, q: int, n: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums (int64) of ``a`` over the blocks [start + b·q, start + (b+1)·q), b = 0..n-1, along ``axis``, and
    how many positions of each block lie inside ``a`` (the rest is outside the image). Every block must
    overlap ``a``."""
    lo = np.clip(start + np.arange(n) * q, 0, a.shape[axis])
    hi = np.clip(start + np.arange(1, n + 1) * q, 0, a.shape[axis])
    assert np.all(hi > lo), "every block overlaps the array"
    part = np.take(a, np.arange(lo[0], hi[-1]), axis=axis)
    return np.add.reduceat(part, lo - lo[0], axis=axis, dtype=np.int64), hi - lo


def _crop_far(rgb: np.ndarray, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """A crop much larger than the image (x0, y0, side in pixels of ``rgb``), in memory proportional to the
    image plus the output: the canvas is first reduced by an integer factor q (exact block means, the
    outside counting as the fill colour), so the final bilinear resample works on a canvas of a few
    output sizes. Two filters instead of one: results differ slightly from the one-pass path, which
    would need a canvas of the crop's full size.
    """
    from PIL import Image

    s = side / size  # image pixels per output pixel
    q = max(1, int(s // 2))  # the final resample then reduces by s / q in [2, 4)
    m = int(np.ceil(s)) + 1  # the bilinear filter's reach, as in crop_pixels
    bx, by = int(np.floor(x0)) - m, int(np.floor(y0)) - m  # canvas origin, image pixels
    nx, ny = int(np.ceil((side + 2 * m + 2) / q)), int(np.ceil((side + 2 * m + 2) / q))  # canvas in blocks
    h, w = rgb.shape[:2]
    # Only the blocks that overlap the image need its pixels.
    bx0, bx1 = max(0, (0 - bx) // q), min(nx, -(-(w - bx) // q))
    by0, by1 = max(0, (0 - by) // q), min(ny, -(-(h - by) // q))
    canvas = np.empty((ny, nx, 3), np.float64)
    canvas[:] = FILL_RGB
    if bx0 < bx1 and by0 < by1:
        cols, ncols = _block_sums(rgb, bx + bx0 * q, q, bx1 - bx0, 1)
        sums, nrows = _block_sums(cols, by + by0 * q, q, by1 - by0, 0)
        inside = (nrows[:, None] * ncols[None, :])[..., None].astype(np.float64)
        canvas[by0:by1, bx0:bx1] = (sums + (q * q - inside) * np.asarray(FILL_RGB, np.float64)) / (q * q)
    box = ((x0 - bx) / q, (y0 - by) / q, (x0 - bx + side) / q, (y0 - by + side) / q)
    # Float channels: the block means keep their fractions (a small image in a huge crop is a few levels).
    out = [np.asarray(Image.fromarray(canvas[..., c].astype(np.float32), mode="F").resize(
        (size, size), Image.Resampling.BILINEAR, box=box)) for c in range(3)]  # fmt: skip
    return np.clip(np.stack(out, axis=-1) + 0.5, 0, 255).astype(np.uint8)


def read_boxes(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Per-image person boxes from a JSON or CSV file, keyed by image name (see ``box_for``).

    JSON: ``{"img.jpg": [x0, y0, x1, y1], ...}`` or ``[{"image": "img.jpg", "box": [x0, y0, x1, y1]}, ...]``.
    CSV: a header ``image,x0,y0,x1,y1`` then one row per image. Coordinates are original pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise BodyNetError(f"--boxes {path}: no such file")
    text = path.read_text(encoding="utf-8-sig")
    entries: list[tuple[str, list]] = []
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            if isinstance(data, dict):
                entries = [(str(k), v) for k, v in data.items()]
            elif isinstance(data, list):
                entries = [(str(d["image"]), d["box"]) for d in data]
            else:
                raise ValueError("top level must be an object or a list")
        elif path.suffix.lower() == ".csv":
            rows = list(csv.DictReader(text.splitlines()))
            entries = [(r["image"], [r["x0"], r["y0"], r["x1"], r["y1"]]) for r in rows]
        else:
            raise BodyNetError(f"--boxes {path}: use a .json or .csv file")
        boxes = {}
        for name, box in entries:
            b = np.asarray([float(v) for v in box], dtype=np.float64)
            if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
                raise ValueError(f"box for {name!r} must be 4 numbers x0, y0, x1, y1 with x1 > x0 and y1 > y0")
            boxes[name] = b
    except BodyNetError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise BodyNetError(f"--boxes {path}: malformed ({e}); see `bodynet predict --help` for the format") from None
    return boxes


def box_for(boxes: dict[str, np.ndarray], path: Path, rel: Path) -> np.ndarray | None:
    """The box of one image: looked up by its output-relative path with suffix, its file name, or its stem."""
    rel_with_suffix = (rel.parent / path.name).as_posix()
    for key in (rel_with_suffix, path.as_posix(), path.name, rel.as_posix(), path.stem):
        if key in boxes:
            return boxes[key]
    return None
