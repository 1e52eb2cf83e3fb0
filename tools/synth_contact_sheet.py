"""Contact sheet of ``bodynet synth`` samples: what the synthetic training data look like.

    python tools/synth_contact_sheet.py [--out docs/synth_contact_sheet.png] [--n 12] [--config small] [--seed 0]

Generates samples in memory (the same ones ``bodynet synth --seed S`` writes as indices 0..n-1) and
draws, per sample: the image with its 2D skeleton and a caption (framing, pose family, hair, "+1"
when another person is in the image), the segmentation overlay, the person mask (white; the
segmentation's outline in red, so hair and loose clothing show as white beyond it), and the part
voxels seen from the front (max over depth, nearest part shown) and from the side (depth grows to the
right).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

TITLES = ("image + joints2d", "segmentation", "person mask", "voxels: front", "voxels: side")
_SHORT = {"full": "full", "three_quarter": "3/4", "upper_body": "upper", "close_up": "close", "edge": "edge"}


def _nearest_part(part_voxels: np.ndarray, axis: int) -> np.ndarray:
    """Label of the first occupied voxel along ``axis`` (0 where the column is empty)."""
    occ = part_voxels > 0
    first = np.argmax(occ, axis=axis)
    lab = np.take_along_axis(part_voxels, np.expand_dims(first, axis), axis).squeeze(axis)
    return np.where(occ.any(axis), lab, 0)


def _parts_rgb(labels: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    from bodynet_cli.viz.draw import SEG_COLORS

    # colour a voxel part like the first segmentation class it merges
    part_to_seg = np.array([0, 1, 2, 3, 6, 9, 12])
    rgb = SEG_COLORS[part_to_seg[labels]].copy()
    rgb[labels == 0] = 30
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.NEAREST))


def _mask_tile(sample, size: int) -> np.ndarray:
    from PIL import Image

    mask = sample.person_mask if sample.person_mask is not None else (sample.segmentation > 0)
    body = sample.segmentation > 0
    edge = body & ~(np.roll(body, 1, 0) & np.roll(body, -1, 0) & np.roll(body, 1, 1) & np.roll(body, -1, 1))
    rgb = np.repeat((mask > 0)[..., None] * np.uint8(255), 3, 2)
    rgb[edge] = (220, 30, 30)
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.NEAREST))


def caption(sample) -> str:
    m = sample.meta
    others = "+1" if m.get("other_people") else ""
    hair = m.get("outfit", {}).get("hair", "")
    return f"{_SHORT.get(m.get('framing'), '?')} {m.get('pose_family', '')} {hair}{others}"


def sample_tiles(image: np.ndarray, sample, size: int) -> list[np.ndarray]:
    from PIL import Image, ImageDraw

    from bodynet_cli.geometry.space import Crop
    from bodynet_cli.viz.draw import draw_skeleton, overlay_segmentation

    crop = Crop.from_array(sample.crop)
    img = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
    skel = Image.fromarray(draw_skeleton(img, crop.image_to_crop(sample.joints2d.astype(np.float64), size)))
    draw = ImageDraw.Draw(skel)
    text = caption(sample)
    draw.rectangle((0, 0, 6 * len(text) + 4, 11), fill=(0, 0, 0))
    draw.text((2, 0), text, fill=(255, 255, 255))
    return [np.asarray(skel), overlay_segmentation(img, sample.segmentation), _mask_tile(sample, size),
            _parts_rgb(_nearest_part(sample.part_voxels, 0), size),
            _parts_rgb(_nearest_part(sample.part_voxels, 2).T, size)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/synth_contact_sheet.png")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--per-row", type=int, default=2, help="samples per row")
    ap.add_argument("--config", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tile", type=int, default=112)
    ap.add_argument("--body-model", default=None)
    args = ap.parse_args()

    from PIL import Image, ImageDraw

    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.data.synth.generate import SynthGenerator, SynthSettings
    from bodynet_cli.io.npz import atomic_write_bytes
    from bodynet_cli.models.config import get_config

    gen = SynthGenerator(load_body_model(args.body_model),
                         SynthSettings.for_config(get_config(args.config), seed=args.seed))
    T, head = args.tile, 16
    cols = args.per_row * len(TITLES)
    rows = -(-args.n // args.per_row)
    sheet = Image.new("RGB", (cols * T, head + rows * T), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c in range(cols):
        draw.text((c * T + 4, 2), TITLES[c % len(TITLES)], fill=(0, 0, 0))
    for i in range(args.n):
        item = gen.generate(i)
        x0, y0 = (i % args.per_row) * len(TITLES) * T, head + (i // args.per_row) * T
        for k, tile in enumerate(sample_tiles(item.image, item.sample, T)):
            sheet.paste(Image.fromarray(tile), (x0 + k * T, y0))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    atomic_write_bytes(Path(args.out), buf.getvalue())
    print(f"wrote {args.out}: {args.n} samples, config {args.config}, seed {args.seed}")


if __name__ == "__main__":
    main()
