"""The metrics ``eval`` reports (docs/formats.md, metrics), in report order, and their units ("" for ratios)."""

from __future__ import annotations

METRICS = ("voxel_iou", "part_voxel_iou", "segmentation_miou", "pckh", "joint3d_error_mm", "surface_error_mm")
UNITS = {"voxel_iou": "", "part_voxel_iou": "", "segmentation_miou": "", "pckh": "",
         "joint3d_error_mm": "mm", "surface_error_mm": "mm"}  # fmt: skip
