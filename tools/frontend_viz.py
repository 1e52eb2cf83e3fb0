"""Draw what the person front end finds: per person its mask, box and 16-joint skeleton.

    python tools/frontend_viz.py IMAGES... --out DIR [--device cpu] [--min-score 0.5]

``IMAGES`` are image files, or ``skimage:NAME`` for scikit-image's bundled photos (e.g.
``skimage:astronaut``, ``skimage:camera``). Writes ``DIR/<name>.png`` and prints one line per image
(people found, their scores and boxes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bodynet_cli.geometry.space import Crop  # noqa: E402
from bodynet_cli.people import FrontEnd  # noqa: E402
from bodynet_cli.viz.draw import draw_skeleton  # noqa: E402

PALETTE = np.array([[255, 200, 0], [0, 220, 255], [255, 80, 200], [120, 255, 80], [255, 120, 40], [160, 120, 255]])


def load(spec: str) -> tuple[str, np.ndarray]:
    if spec.startswith("skimage:"):
        import skimage.data

        name = spec.split(":", 1)[1]
        rgb = getattr(skimage.data, name)()
    else:
        from bodynet_cli.io.images import load_image

        name, rgb = Path(spec).stem, load_image(spec).rgb
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    return name, np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)


def render(rgb: np.ndarray, people) -> np.ndarray:
    """rgb (H, W, 3) with each person's mask tinted, its box and its skeleton drawn."""
    from PIL import Image, ImageDraw

    h, w = rgb.shape[:2]
    side = max(h, w)
    out = rgb.astype(np.float32)
    for i, p in enumerate(people):
        # The whole image as one square crop of `side` pixels at 1 pixel per pixel.
        mask = p.mask_in(Crop(0.0, 0.0, float(side), side))[:h, :w, None]
        out = out * (1 - 0.45 * mask) + PALETTE[i % len(PALETTE)] * 0.45 * mask
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    for p in people:
        out = draw_skeleton(out, p.joints2d, width=max(2, side // 300))
    img = Image.fromarray(out)
    draw = ImageDraw.Draw(img)
    for i, p in enumerate(people):
        color = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
        draw.rectangle([float(v) for v in p.box], outline=color, width=max(2, side // 300))
        draw.text((float(p.box[0]) + 4, float(p.box[1]) + 4), f"{i}: {p.score:.2f}", fill=color)
    return np.asarray(img)


def main() -> None:
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--min-score", type=float, default=0.5)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    front = FrontEnd(device=args.device, min_score=args.min_score)
    for spec in args.images:
        name, rgb = load(spec)
        people = front.detect([rgb])[0]
        Image.fromarray(render(rgb, people)).save(out / f"{name}.png")
        boxes = "; ".join(f"{p.score:.2f} [{', '.join(f'{v:.0f}' for v in p.box)}]" for p in people)
        print(f"{name}: {len(people)} people  {boxes}")


if __name__ == "__main__":
    main()
