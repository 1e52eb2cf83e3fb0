"""Model configurations are data: a dataclass serialised into every checkpoint's ``config.json``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace

from bodynet_cli.body.conventions import DEPTH_BINS, NUM_JOINTS, NUM_SEG, RGB_MEAN, RGB_STD
from bodynet_cli.errors import BodyNetError


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and input geometry of a BodyNet model.

    input_size: side of the square RGB crop the network sees (pixels).
    heatmap_size: side of the 2D heatmaps, segmentation and 3D-pose volume (input_size / 4).
    voxel_res: R, the voxel grid is R³.
    features: hourglass feature width F. stacks: hourglass stacks S per sub-network.
    depth: down-sampling levels of each hourglass.
    part_voxels: the voxel net also has the 7-class part-voxel head.
    stem_channels: (c1, c2) widths of the stems' 7×7/2 conv and first residual (the paper: 64, 128).
    heatmap_sigma: σ in heatmap pixels of the 2D-pose Gaussian targets.
    volume_sigma: σ (heatmap pixels and depth bins) of the 3D-pose Gaussian targets.
    """

    name: str
    input_size: int
    heatmap_size: int
    voxel_res: int
    features: int
    stacks: int = 2
    depth: int = 4
    num_joints: int = NUM_JOINTS
    num_seg: int = NUM_SEG
    depth_bins: int = DEPTH_BINS
    part_voxels: bool = False
    stem_channels: tuple[int, int] = (64, 128)
    heatmap_sigma: float = 1.0
    volume_sigma: float = 1.0
    rgb_mean: tuple[float, float, float] = RGB_MEAN
    rgb_std: tuple[float, float, float] = RGB_STD

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise BodyNetError(f"model config has unknown keys {sorted(unknown)}; is it from a newer bodynet?")
        d = dict(d)
        for k in ("rgb_mean", "rgb_std", "stem_channels"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    def hash(self) -> str:
        """Short, stable hash of the architecture (recorded in every output's ``meta``)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def replace(self, **changes) -> ModelConfig:
        return replace(self, **changes)


CONFIGS: dict[str, ModelConfig] = {
    # The paper: 256² input, 64² heatmaps, 256 features, 2 stacks per sub-net, 128³ voxels.
    "paper": ModelConfig(name="paper", input_size=256, heatmap_size=64, voxel_res=128, features=256),
    # CPU-trainable: same structure, a quarter of the pixels, 64³ voxels, 64 features and half-width
    # stems (the stems at 64×64 are two thirds of the FLOPs otherwise); chosen by benchmarks/bench_models.py.
    "small": ModelConfig(
        name="small", input_size=128, heatmap_size=32, voxel_res=64, features=64, stem_channels=(32, 64)
    ),
}


def get_config(name: str) -> ModelConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise BodyNetError(f"unknown model config {name!r}; choose one of {', '.join(CONFIGS)}") from None
