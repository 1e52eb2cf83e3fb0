"""Contact sheet of every keyframe of the synthetic pose library (``bodynet_cli.body.pose_library``), to
check the poses by eye: each keyframe seen from the front and from the person's left side, shaded by
depth, on the default body model.

    python tools/pose_library_sheet.py [--out /tmp/pose_library.png] [--tile 96]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _view(vertices, faces, yaw: float, tile: int) -> np.ndarray:
    import torch
    from scipy.spatial.transform import Rotation

    from bodynet_cli.geometry.rasterize import interpolate, rasterize

    # upright for an OpenCV camera (y down), then a turn about the vertical
    rot = Rotation.from_rotvec([0, yaw, 0]) * Rotation.from_rotvec([np.pi, 0, 0])
    v = vertices @ rot.as_matrix().T
    v = v - (v.max(0) + v.min(0)) / 2
    scale = 0.9 * tile / max(float(np.ptp(v[:, :2], 0).max()), 1e-6)
    screen = torch.as_tensor(np.stack([v[:, 0] * scale + tile / 2, v[:, 1] * scale + tile / 2, v[:, 2] + 5], 1),
                             dtype=torch.float32)[None]
    frag = rasterize(screen, faces, tile, tile, cull_backfaces=False)
    depth = interpolate(frag, faces, screen[..., 2:])[0, ..., 0].numpy()
    m = frag.mask[0].numpy()
    img = np.full((tile, tile), 255, np.uint8)
    if m.any():
        d = depth[m]
        img[m] = (40 + 170 * (d - d.min()) / max(float(np.ptp(d)), 1e-6)).astype(np.uint8)
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/pose_library.png")
    ap.add_argument("--tile", type=int, default=96)
    ap.add_argument("--body-model", default=None)
    args = ap.parse_args()

    import torch
    from PIL import Image, ImageDraw

    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.body.model import BodyModel
    from bodynet_cli.body.pose_library import FAMILIES

    body = load_body_model(args.body_model)
    model = BodyModel(body)
    faces = torch.as_tensor(body.faces, dtype=torch.long)
    T = args.tile
    rows = [(name, k, pose) for name, keys in FAMILIES.items() if name != "library" for k, pose in enumerate(keys)]
    per_row = 6
    sheet = Image.new("L", (per_row * 2 * T, -(-len(rows) // per_row) * (T + 12)), 255)
    draw = ImageDraw.Draw(sheet)
    for i, (name, k, pose) in enumerate(rows):
        p = torch.as_tensor(pose, dtype=torch.float32)[None]
        with torch.no_grad():
            v = model(torch.zeros(1, body.num_betas), p[:, :3], p[:, 3:]).vertices[0].double().numpy()
        x0, y0 = (i % per_row) * 2 * T, (i // per_row) * (T + 12)
        for j, yaw in enumerate((0.0, np.pi / 2)):
            sheet.paste(Image.fromarray(_view(v, faces, yaw, T)), (x0 + j * T, y0 + 12))
        draw.text((x0 + 2, y0), f"{name} {k}", fill=0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}: {len(rows)} keyframes")


if __name__ == "__main__":
    main()
