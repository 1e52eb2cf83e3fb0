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
