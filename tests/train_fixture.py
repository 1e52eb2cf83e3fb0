"""A tiny dataset in the ``bodynet synth`` layout with self-consistent labels, and a tiny model config,
for the training tests (they must not depend on the real generator's speed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import NUM_JOINTS, NUM_SEG, SEG_TO_VOXEL_PART
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.sample import Sample, save_sample
from bodynet_cli.models.config import get_config

TINY = get_config("small").replace(name="tiny", input_size=32, heatmap_size=8, voxel_res=16, features=16, depth=2,
                                   stem_channels=(16, 16))  # fmt: skip

# A fixed layout of the 16 joints inside the body ellipse (unit-ellipse coordinates, x right, y down).
_JOINT_LAYOUT = np.array([
    [-0.3, 0.9], [-0.3, 0.5], [-0.25, 0.1], [0.25, 0.1], [0.3, 0.5], [0.3, 0.9], [0.0, 0.1], [0.0, -0.4],
    [0.0, -0.6], [0.0, -0.85], [-0.7, 0.0], [-0.6, -0.25], [-0.4, -0.45], [0.4, -0.45], [0.6, -0.25], [0.7, 0.0],
])  # fmt: skip
_PALETTE = np.random.default_rng(123).integers(0, 256, size=(NUM_SEG, 3))


def make_dataset(root: Path, n: int = 24, n_val: int = 4, cfg=TINY, seed: int = 0) -> Path:
    """Write ``n`` samples (the last ``n_val`` form the val split) under ``root``; returns ``root``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    size, res = cfg.input_size, cfg.voxel_res
    names = [f"s{i:04d}" for i in range(n)]
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name in names:
        cam = np.array([600.0, 160.0, 120.0, rng.uniform(5, 8)], dtype=np.float32)
        crop = Crop(x0=float(rng.uniform(80, 120)), y0=float(rng.uniform(40, 80)), side=float(rng.uniform(120, 160)),
                    size=size)  # fmt: skip
        centre = rng.uniform(0.4, 0.6, 2) * size
        radii = np.array([rng.uniform(0.15, 0.25), rng.uniform(0.3, 0.4)]) * size
        yy, xx = np.mgrid[:size, :size] + 0.5
        u, v = (xx - centre[0]) / radii[0], (yy - centre[1]) / radii[1]
        inside = u**2 + v**2 <= 1
        # Parts by position inside the ellipse: a horizontal band per class, so every class appears.
        band = np.clip(((v + 1) / 2 * (NUM_SEG - 1)).astype(int) + 1, 1, NUM_SEG - 1)
        seg = np.where(inside, band, 0).astype(np.uint8)
        rgb = _PALETTE[seg] + rng.integers(-20, 21, size=(size, size, 3))
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(root / "images" / f"{name}.png")
        joints_crop = centre + _JOINT_LAYOUT * radii
        joints2d = crop.crop_to_image(joints_crop).astype(np.float32)
        depth = rng.uniform(-0.3, 0.3, NUM_JOINTS).astype(np.float32)
        depth[6] = 0.0
        # Voxels: the silhouette (at grid resolution) extruded over a band of depths around the centre.
        k = size // res
        sil = seg.reshape(res, k, res, k).max(axis=(1, 3))
        occ = np.zeros((res, res, res), dtype=bool)
        occ[res // 2 - 3 : res // 2 + 3] = sil > 0
        parts = np.where(occ, SEG_TO_VOXEL_PART[sil][None], 0).astype(np.uint8)
        sample = Sample(voxels=occ, part_voxels=parts, joints2d=joints2d,
                        joints3d=np.concatenate([joints2d, depth[:, None]], axis=1), segmentation=seg,
                        crop=crop.to_array(), camera=cam)  # fmt: skip
        save_sample(root / "labels" / f"{name}.npz", sample)
    index = {"splits": {"train": names[: n - n_val], "val": names[n - n_val :], "test": []}}
    (root / "index.json").write_text(json.dumps(index))
    return root
