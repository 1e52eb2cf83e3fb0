"""Pictures of an ``eval`` run: one histogram per metric and a gallery of the worst pairs.

Drawn with Pillow (no plotting library is a dependency). Images are uint8 (H, W, 3).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from bodynet_cli.io.npz import atomic_write_bytes

_BG, _FG, _BAR, _MEAN, _MEDIAN = (255, 255, 255), (30, 30, 30), (90, 130, 200), (210, 50, 50), (40, 150, 60)


def _png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def histogram_image(counts, edges, title: str, mean: float | None = None, median: float | None = None,
                    size: tuple[int, int] = (560, 320)) -> np.ndarray:
    """A bar chart of ``counts`` (K,) over bin ``edges`` (K + 1,), with the mean and median marked.

    Returns uint8 (H, W, 3) with (W, H) = ``size``.
    """
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", (w, h), _BG)
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 50, w - 15, 30, h - 40
    counts = np.asarray(counts, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    lo, hi = float(edges[0]), float(edges[-1])
    span = hi - lo if hi > lo else 1.0
    cmax = max(float(counts.max()) if counts.size else 0.0, 1.0)

    def x_of(v: float) -> float:
        return left + (v - lo) / span * (right - left)

    for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        if c > 0:
            x0, x1 = x_of(a) + 1, max(x_of(b) - 1, x_of(a) + 1)
            d.rectangle([x0, bottom - c / cmax * (bottom - top), x1, bottom], fill=_BAR)
    d.line([left, bottom, right, bottom], fill=_FG)
    d.line([left, top, left, bottom], fill=_FG)
    for v in (lo, (lo + hi) / 2, hi):
        d.line([x_of(v), bottom, x_of(v), bottom + 4], fill=_FG)
        d.text((x_of(v) - 12, bottom + 6), _fmt(v), fill=_FG)
    d.text((5, top - 5), f"{int(cmax)}", fill=_FG)
    d.text((5, bottom - 10), "0", fill=_FG)
    d.text((left, 8), title, fill=_FG)
    legend_y = bottom + 22
    for label, v, color, x in (("mean", mean, _MEAN, left), ("median", median, _MEDIAN, left + 160)):
        if v is not None and math.isfinite(v):
            d.line([x_of(v), top, x_of(v), bottom], fill=color, width=2)
            d.text((x, legend_y), f"{label} {_fmt(v)}", fill=color)
    return np.asarray(img)


def write_histogram(path: str | Path, counts, edges, title: str, mean=None, median=None) -> None:
    """``histogram_image`` written atomically as a PNG."""
    atomic_write_bytes(path, _png_bytes(histogram_image(counts, edges, title, mean, median)))


def _tile(a: np.ndarray | None, tile: int, label: str) -> np.ndarray:
    """Any picture (bool/float (h, w) in [0, 1], or uint8 (h, w, 3)) as a labelled (tile + 14, tile, 3) tile."""
    from PIL import Image, ImageDraw

    if a is None:
        img = Image.new("RGB", (tile, tile), (200, 200, 200))
        ImageDraw.Draw(img).text((6, tile // 2 - 6), "not available", fill=_FG)
    else:
        a = np.asarray(a)
        if a.ndim == 2:
            a = (np.clip(a.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
        img = Image.fromarray(np.ascontiguousarray(a)).convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)
    out = Image.new("RGB", (tile, tile + 14), _BG)
    out.paste(img, (0, 14))
    ImageDraw.Draw(out).text((2, 1), label, fill=_FG)
    return np.asarray(out)


def gallery_image(rows: list[tuple[str, list[tuple[str, np.ndarray | None]]]], tile: int = 128) -> np.ndarray:
    """Rows of labelled tiles under a caption each: ``[(caption, [(label, picture or None), ...]), ...]``.

    Returns uint8 (H, W, 3); a missing picture is a grey "not available" tile.
    """
    from PIL import Image, ImageDraw

    ncols = max(len(tiles) for _, tiles in rows)
    row_h, gap = tile + 14 + 18, 4
    img = Image.new("RGB", (ncols * (tile + gap) + gap, len(rows) * row_h + gap), _BG)
    d = ImageDraw.Draw(img)
    for r, (caption, tiles) in enumerate(rows):
        y = r * row_h + gap
        d.text((gap, y), caption, fill=_FG)
        for c, (label, pic) in enumerate(tiles):
            img.paste(Image.fromarray(_tile(pic, tile, label)), (gap + c * (tile + gap), y + 16))
    return np.asarray(img)


def _input_crop(meta: dict, crop: np.ndarray | None, tile: int) -> np.ndarray | None:
    """The prediction's input image (``meta["input"]``, written by ``predict``) cut to its crop."""
    from PIL import Image

    path = meta.get("input")
    if not path or crop is None or not Path(path).is_file():
        return None
    try:
        with Image.open(path) as im:
            x0, y0, side = (float(v) for v in crop[:3])
            return np.asarray(im.convert("RGB").crop((x0, y0, x0 + side, y0 + side)).resize((tile, tile)))
    except OSError:
        return None


def worst_cases_image(pairs: list[tuple[str, str, Path, Path]], tile: int = 128) -> np.ndarray:
    """A gallery of the given pairs ``(name, caption, pred_path, gt_path)``, one row each.

    Each row: the input crop with the predicted joints2d, then the front (camera) and side
    silhouettes of the predicted and ground-truth voxels, then both segmentations.
    """
    from bodynet_cli.geometry.space import Crop, front_view, side_view
    from bodynet_cli.io.sample import load_sample
    from bodynet_cli.viz.draw import SEG_COLORS, draw_skeleton

    def seg_rgb(seg):
        return None if seg is None else SEG_COLORS[np.clip(seg, 0, len(SEG_COLORS) - 1)]

    rows = []
    for _name, caption, pred_path, gt_path in pairs:
        p, g = load_sample(pred_path), load_sample(gt_path)
        rgb = _input_crop(p.meta, p.crop, tile)
        if rgb is not None and p.joints2d is not None:
            rgb = draw_skeleton(rgb, Crop.from_array(p.crop).image_to_crop(p.joints2d.astype(np.float64), tile))
        rows.append((caption, [
            ("input", rgb),
            ("pred front", None if p.voxels is None else front_view(p.voxels.astype(bool))),
            ("gt front", None if g.voxels is None else front_view(g.voxels.astype(bool))),
            ("pred side", None if p.voxels is None else side_view(p.voxels.astype(bool))),
            ("gt side", None if g.voxels is None else side_view(g.voxels.astype(bool))),
            ("pred segm", seg_rgb(p.segmentation)),
            ("gt segm", seg_rgb(g.segmentation)),
        ]))  # fmt: skip
    return gallery_image(rows, tile)


def write_worst_cases(path: str | Path, pairs: list[tuple[str, str, Path, Path]], tile: int = 128) -> None:
    """``worst_cases_image`` written atomically as a PNG."""
    atomic_write_bytes(path, _png_bytes(worst_cases_image(pairs, tile)))


def worst_pairs(report, k: int = 8) -> list[tuple[str, str, Path, Path]]:
    """The ``k`` worst pairs of an ``EvalReport`` by its first metric that was scored: the lowest voxel
    IoU (else part IoU, segmentation mIoU, PCKh) or the largest error (3D joints, surface)."""
    from bodynet_cli.metrics.catalog import METRICS, UNITS

    for metric in METRICS:
        scored = [s for s in report.samples if not math.isnan(getattr(s, metric))]
        if scored:
            worse_is_larger = bool(UNITS[metric])
            scored.sort(key=lambda s: getattr(s, metric), reverse=worse_is_larger)
            pred_dir, gt_dir = Path(report.dirs["pred_dir"]), Path(report.dirs["gt_dir"])
            return [(s.name, f"{s.name}   {metric} = {_fmt(getattr(s, metric))}", pred_dir / s.name,
                     gt_dir / s.name) for s in scored[:k]]
    return []


def write_eval_plots(report, out_dir: str | Path, k: int = 8) -> list[Path]:
    """``hist_<metric>.png`` for every metric scored and ``worst_cases.png``; returns the paths written."""
    from bodynet_cli.metrics.catalog import METRICS, UNITS

    out_dir = Path(out_dir)
    written = []
    for metric in METRICS:
        s = report.summaries[metric]
        if s.n and s.histogram:
            path = out_dir / f"hist_{metric}.png"
            unit = f" ({UNITS[metric]})" if UNITS[metric] else ""
            write_histogram(path, s.histogram["counts"], s.histogram["edges"], f"{metric}{unit}, n = {s.n}",
                            s.mean, s.median)
            written.append(path)
    worst = worst_pairs(report, k)
    if worst:
        path = out_dir / "worst_cases.png"
        write_worst_cases(path, worst)
        written.append(path)
    return written
