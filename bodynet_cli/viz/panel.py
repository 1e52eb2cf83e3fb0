"""The per-image picture ``predict --viz`` writes: look before you read."""

from __future__ import annotations

import numpy as np

from bodynet_cli.geometry.space import Crop, front_view, side_view
from bodynet_cli.viz.draw import draw_skeleton, overlay_segmentation, shaded_view

PANEL_TITLES = ("input + joints2d", "segmentation", "voxels: front", "voxels: side", "surface (turned 35°)")


def _gray_tile(a: np.ndarray, tile: int) -> np.ndarray:
    """float/bool (h, w) in [0, 1] -> uint8 (tile, tile, 3), nearest-neighbour upscaled."""
    from PIL import Image

    img = Image.fromarray((np.clip(np.asarray(a, dtype=np.float32), 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.asarray(img.resize((tile, tile), Image.Resampling.NEAREST).convert("RGB"))


def render_panel(
    crop_rgb: np.ndarray,
    crop: Crop,
    joints2d: np.ndarray,
    segmentation: np.ndarray,
    voxel_probs: np.ndarray,
    level: float = 0.5,
) -> np.ndarray:
    """Five tiles side by side, uint8 (T + 16, 5·T, 3), T = ``crop_rgb``'s side.

    crop_rgb: uint8 (T, T, 3), the network's crop resampled to T pixels.
    crop: that crop in original pixels; joints2d (J, 2): original pixels (mapped into the tile here).
    segmentation: (h, w) classes over the crop. voxel_probs: float (R, R, R) ``[z, y, x]``.
    Tiles: the crop with the skeleton, the segmentation overlay, the front and side silhouettes of the
    thresholded grid, and a shaded view of its ``level`` isosurface turned 35° about the vertical.
    """
    from PIL import Image, ImageDraw

    tile = crop_rgb.shape[0]
    uv = crop.image_to_crop(np.asarray(joints2d, dtype=np.float64), size=tile)
    occupied = np.asarray(voxel_probs) > level
    tiles = [
        draw_skeleton(crop_rgb, uv, width=max(1, tile // 128)),
        overlay_segmentation(crop_rgb, segmentation),
        _gray_tile(front_view(occupied), tile),
        _gray_tile(side_view(occupied), tile),
        _gray_tile(shaded_view(voxel_probs, 35.0, level), tile),
    ]
    header = 16
    panel = Image.new("RGB", (tile * len(tiles), tile + header), (24, 24, 24))
    draw = ImageDraw.Draw(panel)
    for i, (t, title) in enumerate(zip(tiles, PANEL_TITLES, strict=True)):
        panel.paste(Image.fromarray(t), (i * tile, header))
        draw.text((i * tile + 4, 2), title, fill=(230, 230, 230))
    return np.asarray(panel)
