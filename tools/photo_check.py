"""Look at a checkpoint on real photos: every person found, with their panels, on one contact sheet.

    python tools/photo_check.py --out runs/photo_check [--checkpoint CKPT] [--photos DIR ...] [--ultralytics]

Collects the photos with people that this machine can reach: scikit-image's astronaut and camera man
(always), two astronauts side by side (made from the first), any ``--photos`` folders, and with
``--ultralytics`` the ``bus.jpg`` and ``zidane.jpg`` of the ``ultralytics`` wheel (fetched with ``pip
download`` into the work folder; this is a development tool, the package itself never downloads). Runs
``bodynet predict --people all --viz`` on them, prints how many people each photo gave, and writes
``OUT/sheet.png``: every person's panel (input with joints, segmentation, front and side views of the
voxels, surface), one per row, to look at. There are no annotations here: the numbers are counts, the
judgement is the picture.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def collect_photos(folder: Path, extra: list[Path], ultralytics: bool) -> list[Path]:
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    one = data.astronaut()
    Image.fromarray(one).save(folder / "astronaut.png")
    Image.fromarray(data.camera()).convert("RGB").save(folder / "camera.png")
    small = np.asarray(Image.fromarray(one).resize((384, 384), Image.Resampling.BILINEAR))
    pair = np.full((512, 896, 3), 128, np.uint8)
    pair[:, :512], pair[64:448, 512:] = one, small
    Image.fromarray(pair).save(folder / "two_astronauts.png")
    for d in extra:
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
                (folder / f.name).write_bytes(f.read_bytes())
    if ultralytics:
        wheels = folder.parent / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "ultralytics", "-d", str(wheels)],
                       check=True)  # fmt: skip
        wheel = sorted(wheels.glob("ultralytics-*.whl"))[-1]
        with zipfile.ZipFile(wheel) as z:
            for name in ("bus.jpg", "zidane.jpg"):
                (folder / name).write_bytes(z.read(f"ultralytics/assets/{name}"))
    return sorted(folder.iterdir())


def contact_sheet(panels: list[Path], width: int = 960) -> Image.Image:
    rows = []
    for p in panels:
        im = Image.open(p).convert("RGB")
        rows.append(im.resize((width, round(im.height * width / im.width)), Image.Resampling.BILINEAR))
    sheet = Image.new("RGB", (width, sum(r.height for r in rows) or 1), (24, 24, 24))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="work folder (photos/, pred/, sheet.png)")
    ap.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: the bundled one)")
    ap.add_argument("--photos", type=Path, nargs="*", default=[], help="more folders of photos")
    ap.add_argument("--ultralytics", action="store_true", help="also the ultralytics wheel's bus and zidane photos")
    args = ap.parse_args(argv)

    photos = collect_photos(args.out / "photos", args.photos, args.ultralytics)
    pred = args.out / "pred"
    cmd = [sys.executable, "-m", "bodynet_cli", "predict", str(args.out / "photos"), "--out", str(pred),
           "--people", "all", "--viz"]  # fmt: skip
    cmd += ["--checkpoint", str(args.checkpoint)] if args.checkpoint else []
    done = subprocess.run(cmd)
    if done.returncode not in (0, 3):
        return done.returncode
    doc = json.loads((pred / "joints.json").read_text())["images"]
    print(f"{'photo':<28} people")
    for p in photos:
        entry = doc.get(p.name)
        print(f"{p.name:<28} {len(entry['people']) if entry else 0}")
    panels = sorted(pred.glob("*.viz.png"))
    contact_sheet(panels).save(args.out / "sheet.png")
    print(f"{len(panels)} panels -> {args.out / 'sheet.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
