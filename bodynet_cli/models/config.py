"""Model configurations are data: a dataclass serialised into every checkpoint's ``config.json``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

from bodynet_cli.body.conventions import DEPTH_BINS, NUM_JOINTS, NUM_SEG, RGB_MEAN, RGB_STD
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.json_file import read_json


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
    pose2d_inputs, segm_inputs, pose3d_inputs, voxels_inputs: what each sub-net reads, from
        ``INPUT_NAMES``; a sub-net with no inputs is not built. The defaults are the paper's RGB chain.
    proxy_sigma: σ in input pixels of the Gaussians rendered from the proxy 2D joints (``joints``).
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
    pose2d_inputs: tuple[str, ...] = ("rgb",)
    segm_inputs: tuple[str, ...] = ("rgb",)
    pose3d_inputs: tuple[str, ...] = ("rgb", "heatmaps", "segm")
    voxels_inputs: tuple[str, ...] = ("rgb", "heatmaps", "segm", "pose3d")
    proxy_sigma: float = 4.0

    def __post_init__(self) -> None:
        for name in INPUT_FIELDS:
            object.__setattr__(self, name, tuple(getattr(self, name)))
        check_inputs(self)

    def inputs(self, subnet: str) -> tuple[str, ...]:
        """The inputs of sub-net ``subnet`` ('pose2d', 'segm', 'pose3d' or 'voxels')."""
        return getattr(self, f"{subnet}_inputs")

    def has(self, subnet: str) -> bool:
        """Whether the sub-net is built (it has inputs)."""
        return bool(self.inputs(subnet))

    @property
    def uses_proxies(self) -> bool:
        """Some sub-net reads the proxy joints or mask, so ``BodyNet.forward`` needs ``Proxies``."""
        return any(n in PROXY_INPUTS for f in INPUT_FIELDS for n in getattr(self, f))

    def to_dict(self) -> dict:
        """Every field, except the fields added with the proxy inputs while they keep their defaults: the
        dict, and so ``hash()``, of a configuration from before them is unchanged."""
        d = asdict(self)
        for f in fields(self):
            if f.name in _OMIT_WHEN_DEFAULT and f.default is not MISSING and d[f.name] == f.default:
                del d[f.name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise BodyNetError(f"model config has unknown keys {sorted(unknown)}; is it from a newer bodynet?")
        d = dict(d)
        for k in ("rgb_mean", "rgb_std", "stem_channels", *INPUT_FIELDS):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    def hash(self) -> str:
        """Short, stable hash of the architecture (recorded in every output's ``meta``)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def replace(self, **changes) -> ModelConfig:
        return replace(self, **changes)


# Sub-net inputs. Image-level inputs are concatenated in this order at the input size: rgb (3 ch, normalised),
# heatmaps (J, pose2d's last stack), segm (P, segm's softmax), joints (J, Gaussians of the proxy 2D joints
# weighted by their scores), mask (1, the proxy person mask); pose3d (J·D, the 3D-pose volume) is fused by
# the voxel net at heatmap resolution.
IMAGE_INPUTS = ("rgb", "heatmaps", "segm", "joints", "mask")
PROXY_INPUTS = ("joints", "mask")
INPUT_NAMES = (*IMAGE_INPUTS, "pose3d")
INPUT_FIELDS = ("pose2d_inputs", "segm_inputs", "pose3d_inputs", "voxels_inputs")
_OMIT_WHEN_DEFAULT = (*INPUT_FIELDS, "proxy_sigma")
# What each sub-net may read: only outputs of sub-nets that run before it.
_ALLOWED = {
    "pose2d": ("rgb", "joints", "mask"),
    "segm": ("rgb", "heatmaps", "joints", "mask"),
    "pose3d": ("rgb", "heatmaps", "segm", "joints", "mask"),
    "voxels": INPUT_NAMES,
}
_PRODUCER = {"heatmaps": "pose2d", "segm": "segm", "pose3d": "pose3d"}


def check_inputs(cfg: ModelConfig) -> None:
    """Refuse unknown, repeated or unavailable sub-net inputs (``BodyNetError``)."""
    for subnet, allowed in _ALLOWED.items():
        names = cfg.inputs(subnet)
        bad = [n for n in names if n not in allowed]
        if bad or len(set(names)) != len(names):
            raise BodyNetError(f"model config {cfg.name!r}: {subnet}_inputs {list(names)} may hold each of "
                               f"{', '.join(allowed)} once")
        for n in names:
            if n in _PRODUCER and not cfg.inputs(_PRODUCER[n]):
                raise BodyNetError(f"model config {cfg.name!r}: {subnet} reads {n!r} but the {_PRODUCER[n]} "
                                   "sub-net has no inputs (is not built)")
    for subnet in ("pose3d", "voxels"):
        if not [n for n in cfg.inputs(subnet) if n in IMAGE_INPUTS]:
            raise BodyNetError(f"model config {cfg.name!r}: {subnet}_inputs needs at least one of "
                               f"{', '.join(IMAGE_INPUTS)}")


def input_channels(cfg: ModelConfig, names: tuple[str, ...]) -> int:
    """Channels of the image-level inputs among ``names`` (pose3d, fused later, is not counted)."""
    per = {"rgb": 3, "heatmaps": cfg.num_joints, "segm": cfg.num_seg, "joints": cfg.num_joints, "mask": 1}
    return sum(per[n] for n in names if n in per)


_SMALL = ModelConfig(name="small", input_size=128, heatmap_size=32, voxel_res=64, features=64, stem_channels=(32, 64))
# Model v2 (STRAPS-style): the 3D sub-nets read only proxies a real-photo person detector supplies (16 2D joints
# with scores, a person mask), never RGB, so synthetic training transfers to photos; no pose2d net.
_PROXY = _SMALL.replace(
    name="proxy", pose2d_inputs=(), segm_inputs=("joints", "mask"), pose3d_inputs=("segm", "joints", "mask"),
    voxels_inputs=("segm", "joints", "mask", "pose3d"),
)  # fmt: skip

CONFIGS: dict[str, ModelConfig] = {
    # The paper: 256² input, 64² heatmaps, 256 features, 2 stacks per sub-net, 128³ voxels.
    "paper": ModelConfig(name="paper", input_size=256, heatmap_size=64, voxel_res=128, features=256),
    # CPU-trainable: same structure, a quarter of the pixels, 64³ voxels, 64 features and half-width
    # stems (the stems at 64×64 are two thirds of the FLOPs otherwise); chosen by benchmarks/bench_models.py.
    "small": _SMALL,
    "proxy": _PROXY,
    "proxy128": _PROXY.replace(name="proxy128", voxel_res=128),
}


def get_config(name: str) -> ModelConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise BodyNetError(f"unknown model config {name!r}; choose one of {', '.join(CONFIGS)}") from None


def load_config(text: str) -> ModelConfig:
    """``--config``: a configuration name, or a JSON file (a ``ModelConfig`` dict or a checkpoint's config.json)."""
    if text in CONFIGS:
        return get_config(text)
    path = Path(text)
    if not path.is_file():
        raise BodyNetError(f"--config {text!r}: neither a config name ({', '.join(CONFIGS)}) nor a JSON file")
    doc = read_json(path, f"--config {path}")
    if isinstance(doc, dict) and isinstance(doc.get("config"), dict):
        doc = doc["config"]
    try:
        return ModelConfig.from_dict(doc)
    except TypeError as e:
        raise BodyNetError(f"--config {path}: not a model configuration ({e})") from None
