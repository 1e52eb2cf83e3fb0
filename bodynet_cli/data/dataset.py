"""A torch Dataset over the ``bodynet synth`` layout, with augmentation that keeps every target consistent.

Layout: ``ROOT/images/NAME.png`` (the crop at the config's input size, RGB), ``ROOT/labels/NAME.npz``
(the sample schema of docs/formats.md) and ``ROOT/index.json`` (the train/val/test splits).

Items are keyed by ``(epoch, index)``: the augmentation of an item is drawn from a generator seeded by
``(seed, epoch, index)``, so a sample looks the same whatever the worker count, the rank, or whether the
run was interrupted and resumed. Dense targets (heatmaps, 3D-pose volumes) are not built here: the
batch carries the compact ground truth (joint coordinates, labels, grids) and the training loop encodes
it on the device, which keeps worker-to-loop traffic small.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from bodynet_cli.body.conventions import JOINT_FLIP, NUM_JOINTS, SEG_FLIP, VOXEL_PART_FLIP
from bodynet_cli.data.proxies import ProxyCorruption, make_proxies
from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.json_file import read_json
from bodynet_cli.io.npz import read_npz
from bodynet_cli.io.sample import sample_from_arrays
from bodynet_cli.models.config import ModelConfig

SPLITS = ("train", "val", "test")


def read_split(root: str | os.PathLike, split: str) -> list[str]:
    """Sample names (paths relative to ``images/`` and ``labels/``, without suffix) of one split, or of
    train, val and test in that order for ``split="all"`` (a set made only for testing)."""
    root = Path(root)
    path = root / "index.json"
    if not path.is_file():
        raise BodyNetError(f"{path}: no such file; DATA_DIR must be a folder written by `bodynet synth`")
    index = read_json(path, hint="; re-run `bodynet synth` to rewrite it")
    splits = index.get("splits") if isinstance(index, dict) else None
    if split == "all" and isinstance(splits, dict):
        return [name for part in SPLITS for name in read_split(root, part)]
    if not isinstance(splits, dict) or split not in splits:
        raise BodyNetError(f"{path}: has no {split!r} split under 'splits'; re-run `bodynet synth` to rewrite it")
    return [str(name) for name in splits[split]]


@dataclass(frozen=True)
class AugmentSettings:
    """Random augmentation ranges (the pose-hourglass recipe BodyNet trained with).

    colour: per-channel gain in [1 - colour, 1 + colour]. scale: zoom factor ~ N(1, scale) clipped to
    1 ± 2·scale. rotation_deg: in-plane rotation, uniform in ±rotation_deg, applied with probability
    rotation_prob. flip_prob: probability of a horizontal flip.
    """

    colour: float = 0.2
    scale: float = 0.125
    rotation_deg: float = 30.0
    rotation_prob: float = 0.4
    flip_prob: float = 0.5


@dataclass(frozen=True)
class Augment:
    """One sample's augmentation: ``gain`` (3,) per-channel colour gain, ``flip`` horizontal mirror,
    ``scale`` zoom about the crop centre, ``rotation_deg`` counter-clockwise in the image."""

    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    flip: bool = False
    scale: float = 1.0
    rotation_deg: float = 0.0

    @property
    def is_geometric(self) -> bool:
        return self.flip or self.scale != 1.0 or self.rotation_deg != 0.0

    def matrix(self) -> np.ndarray:
        """The 2×2 map of normalised crop coordinates (x, y in [-1, 1], centre 0) from the stored sample
        to the augmented one: flip first, then rotation and zoom."""
        t = math.radians(self.rotation_deg)
        c, s = math.cos(t), math.sin(t)
        rot = np.array([[c, s], [-s, c]])  # counter-clockwise as seen on screen (y points down)
        flip = np.diag([-1.0 if self.flip else 1.0, 1.0])
        return self.scale * rot @ flip


def sample_augment(rng: np.random.Generator, settings: AugmentSettings) -> Augment:
    """Draw one ``Augment`` from ``rng`` (always the same number of draws, so streams stay aligned)."""
    u = rng.random(6)
    gain = tuple(float(1 + settings.colour * (2 * g - 1)) for g in u[:3])
    scale = float(np.clip(1 + settings.scale * rng.standard_normal(), 1 - 2 * settings.scale, 1 + 2 * settings.scale))
    rotation = settings.rotation_deg * (2 * u[3] - 1) if u[4] < settings.rotation_prob else 0.0
    return Augment(gain=gain, flip=bool(u[5] < settings.flip_prob), scale=scale, rotation_deg=float(rotation))


def item_generator(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one item's randomness: a pure function of (seed, epoch, index)."""
    return np.random.default_rng([seed, epoch, index])


def warp_image(rgb: np.ndarray, m: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Resample an image so that normalised point u of the input lands at ``m @ u``.

    rgb: float32 (3, H, W); m: (2, 2) on (x, y); fill: (3,) colour outside the input. Bilinear.
    """
    from scipy.ndimage import affine_transform

    h, w = rgb.shape[1:]
    # Output pixel centre o (row, col) samples input index inv·(o + 0.5 - c) + c - 0.5, c the centre.
    inv = np.linalg.inv(m)[::-1, ::-1]  # (x, y) -> (row, col); the normalisation's scale cancels for squares
    assert h == w, "square crops only"
    c = np.array([h / 2.0, w / 2.0])
    offset = c - 0.5 - inv @ (c - 0.5)
    return np.stack([affine_transform(ch - f, inv, offset=offset, order=1, mode="constant", cval=0.0) + f
                     for ch, f in zip(rgb, fill, strict=True)])  # fmt: skip


def _nearest_source(n: int, inv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For an n×n map warped by a map whose inverse is ``inv`` (2×2, normalised coordinates): the input
    row and column each output pixel centre falls in, and whether that is inside the input."""
    c = 2.0 * (np.arange(n) + 0.5) / n - 1.0
    ux, uy = np.meshgrid(c, c)  # [y, x]
    sx = inv[0, 0] * ux + inv[0, 1] * uy
    sy = inv[1, 0] * ux + inv[1, 1] * uy
    xs, ys = np.floor((sx + 1.0) * n / 2.0), np.floor((sy + 1.0) * n / 2.0)
    ok = (xs >= 0) & (xs < n) & (ys >= 0) & (ys < n)
    return np.clip(ys, 0, n - 1).astype(np.int64), np.clip(xs, 0, n - 1).astype(np.int64), ok


def warp_labels(labels: np.ndarray, m: np.ndarray, z_scale: float | None = None) -> np.ndarray:
    """Resample label maps (H, W) or label grids (R, R, R) ``[z, y, x]`` with the map of ``warp_image``
    in (x, y) (and z scaled by ``z_scale`` about the grid centre). Nearest neighbour (the element the
    mapped-back centre falls in); outside the input is label 0 (background / empty).

    The (x, y) map is the same for every z-slice and z maps on its own, so a 3-D grid is a gather with
    separable indices (no per-voxel coordinates).
    """
    n = labels.shape[-1]
    assert labels.shape[-2] == n, "square maps only"
    ys, xs, ok = _nearest_source(n, np.linalg.inv(m))
    if labels.ndim == 2:
        return np.where(ok, labels[ys, xs], 0).astype(labels.dtype)
    r = labels.shape[0]
    zn = (2.0 * (np.arange(r) + 0.5) / r - 1.0) / (1.0 if z_scale is None else z_scale)
    zs = np.floor((zn + 1.0) * r / 2.0)
    z_ok = (zs >= 0) & (zs < r)
    zs = np.clip(zs, 0, r - 1).astype(np.int64)
    out = labels[zs[:, None, None], ys[None], xs[None]]
    return np.where(z_ok[:, None, None] & ok[None], out, 0).astype(labels.dtype)


def transform_points(uv: np.ndarray, m: np.ndarray, size: float) -> np.ndarray:
    """Continuous pixel coordinates (..., 2) of a ``size``-pixel crop -> their place after ``m``."""
    u = 2.0 * uv / size - 1.0
    return ((u @ m.T) + 1.0) * size / 2.0


@dataclass
class Batch:
    """Ground truth of B samples (one sample: B = 1 without the batch axis). I is the input size,
    h the heatmap size, R the voxel resolution; everything after augmentation except where noted.

    rgb: uint8 (B, 3, I, I). joints_hm: float32 (B, J, 2) joint x, y in heatmap pixels (continuous,
    pixel i covers [i, i+1)); outside [0, h) means outside the crop. depth_m: float32 (B, J) joint
    depth relative to the pelvis, metres. segmentation: uint8 (B, I, I) 15 classes. voxels: bool
    (B, R, R, R) ``[z, y, x]``. part_voxels: uint8 (B, R, R, R) or None. joints2d (B, J, 2),
    joints3d (B, J, 3), crop (B, 4), camera (B, 4): the sample file's own values (not augmented; used
    by validation, which never augments). index: int64 (B,) position in the split.
    proxy_joints: float32 (B, J, 2) input pixels, proxy_scores: float32 (B, J), proxy_mask: uint8 (B, I, I):
    the proxies (``data.proxies``) a proxy model reads, made after augmentation; None for other models.
    has_segmentation: bool (B,) False for samples without segmentation ground truth (MPII): their
    ``segmentation`` is a placeholder the segmentation loss skips.
    """

    rgb: torch.Tensor
    joints_hm: torch.Tensor
    depth_m: torch.Tensor
    segmentation: torch.Tensor
    voxels: torch.Tensor
    joints2d: torch.Tensor
    joints3d: torch.Tensor
    crop: torch.Tensor
    camera: torch.Tensor
    index: torch.Tensor
    part_voxels: torch.Tensor | None = None
    proxy_joints: torch.Tensor | None = None
    proxy_scores: torch.Tensor | None = None
    proxy_mask: torch.Tensor | None = None
    has_segmentation: torch.Tensor | None = None

    def proxies(self):
        """The batch's proxies as ``models.bodynet.Proxies`` (mask as float (B, 1, I, I)), or None."""
        from bodynet_cli.models.bodynet import Proxies

        if self.proxy_joints is None:
            return None
        return Proxies(self.proxy_joints.float(), self.proxy_scores.float(), self.proxy_mask.unsqueeze(1).float())

    def _map(self, fn) -> Batch:
        return Batch(**{f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
                        for f in fields(self)})

    def to(self, device, non_blocking: bool = False) -> Batch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Batch:
        """Called by ``DataLoader(pin_memory=True)``."""
        return self._map(lambda t: t.pin_memory())

    def __len__(self) -> int:
        return int(self.rgb.shape[0])


def collate(items: list[Batch]) -> Batch:
    """Stack single-sample ``Batch`` items into one batch (the DataLoader's ``collate_fn``)."""
    first = items[0]
    out = {}
    for f in fields(first):
        values = [getattr(it, f.name) for it in items]
        out[f.name] = None if values[0] is None else torch.stack(values)
    return Batch(**out)


class SynthDataset(torch.utils.data.Dataset):
    """One split of a ``bodynet synth`` folder; ``dataset[(epoch, index)]`` -> a single-sample ``Batch``.

    augment: None for validation/test (the stored sample as it is), else the random ranges.
    part_voxels: also load the 7-class part grids (only the part-voxel stage needs them).
    proxies: how to corrupt the ground truth into the proxies a proxy config reads (default for such a
    config: ``ProxyCorruption()``; ignored for a config without proxy inputs). They are drawn from the
    item's generator after its augmentation, so they are as reproducible as the rest of the item.
    """

    def __init__(self, root: str | os.PathLike, split: str, config: ModelConfig, *, seed: int = 0,
                 augment: AugmentSettings | None = None, part_voxels: bool = False,
                 proxies: ProxyCorruption | None = None):  # fmt: skip
        self.root = Path(root)
        self._setup(split, read_split(self.root, split), config, seed, augment, part_voxels, proxies)

    def _setup(self, split: str, names: list[str], config: ModelConfig, seed: int,
               augment: AugmentSettings | None, part_voxels: bool, proxies: ProxyCorruption | None) -> None:
        """What every dataset of this shape holds besides where its samples come from (see the class)."""
        self.split = split
        self.names = names
        self.config = config
        self.seed = seed
        self.augment = augment
        self.part_voxels = part_voxels
        self.proxies = (proxies or ProxyCorruption()) if config.uses_proxies else None
        self._fill = np.asarray(config.rgb_mean, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> tuple[np.ndarray, object, np.ndarray | None]:
        """The stored image uint8 (I, I, 3), its sample file, checked against the model config, and the
        label's ``person_mask`` (I, I) (the main person's silhouette with hair and clothes) or None."""
        from PIL import Image

        name = self.names[index]
        img_path = self.root / "images" / f"{name}.png"
        label_path = self.root / "labels" / f"{name}.npz"
        need = ("voxels", "joints2d", "joints3d", "segmentation", "crop", "camera")
        need += ("part_voxels",) if self.part_voxels else ()
        # Only the keys training uses: the mesh (vertices, faces) is most of the file's bytes.
        arrays = read_npz(label_path, keys=need + ("voxel_shape", "person_mask"))
        person_mask = arrays.pop("person_mask", None)
        sample = sample_from_arrays(label_path, arrays, required=need)
        try:
            with Image.open(img_path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise BodyNetError(f"{img_path}: unreadable image ({e}); re-run `bodynet synth` on this folder") from None
        size, res = self.config.input_size, self.config.voxel_res
        if rgb.shape[:2] != (size, size) or sample.segmentation.shape != (size, size):
            raise BodyNetError(f"{img_path}: image/segmentation are {rgb.shape[1]}x{rgb.shape[0]}, the model "
                               f"config {self.config.name!r} needs {size}x{size}; generate data with the same --config")
        if sample.voxels.shape != (res, res, res):
            raise BodyNetError(f"{label_path}: voxels are {sample.voxels.shape[0]}³, the model config "
                               f"{self.config.name!r} needs {res}³; generate data with the same --config")
        if person_mask is not None and person_mask.shape != (size, size):
            raise BodyNetError(f"{label_path}: person_mask is {person_mask.shape}, expected ({size}, {size}); "
                               "re-run `bodynet synth` on this folder")
        return rgb, sample, person_mask

    def __getitem__(self, key: tuple[int, int] | int) -> Batch:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rgb, s, person_mask = self.load(index)
        cfg = self.config
        crop = Crop.from_array(s.crop)
        joints_hm = np.asarray(crop.image_to_crop(s.joints2d.astype(np.float64), cfg.heatmap_size))
        image = np.ascontiguousarray(rgb.transpose(2, 0, 1))
        seg, voxels, parts = s.segmentation, s.voxels, s.part_voxels if self.part_voxels else None
        depth_m = s.joints3d[:, 2].astype(np.float32)
        person = person_mask > 0 if person_mask is not None else None
        rng = item_generator(self.seed, epoch, index)
        if self.augment is not None:
            aug = sample_augment(rng, self.augment)
            image, joints_hm, depth_m, seg, voxels, parts = apply_augment(
                aug, image, joints_hm, depth_m, seg, voxels, parts, cfg.heatmap_size, self._fill)
            if person is not None and aug.is_geometric:
                person = warp_labels(person, aug.matrix())  # the mask moves as the segmentation does
        proxy = None
        if self.proxies is not None:
            # From the augmented ground truth, so proxies and targets agree (a flip has already swapped the
            # joints' left and right, a zoom or rotation moved them with the image).
            mask = person if person is not None else seg > 0
            proxy = make_proxies(joints_hm * (cfg.input_size / cfg.heatmap_size), mask, self.proxies, rng)
        return Batch(
            rgb=torch.from_numpy(np.ascontiguousarray(image)),
            joints_hm=torch.from_numpy(joints_hm.astype(np.float32)),
            depth_m=torch.from_numpy(np.ascontiguousarray(depth_m)),
            segmentation=torch.from_numpy(np.ascontiguousarray(seg)),
            voxels=torch.from_numpy(np.ascontiguousarray(voxels)),
            joints2d=torch.from_numpy(s.joints2d),
            joints3d=torch.from_numpy(s.joints3d),
            crop=torch.from_numpy(s.crop),
            camera=torch.from_numpy(s.camera),
            index=torch.tensor(index, dtype=torch.int64),
            part_voxels=None if parts is None else torch.from_numpy(np.ascontiguousarray(parts)),
            proxy_joints=None if proxy is None else torch.from_numpy(proxy.joints),
            proxy_scores=None if proxy is None else torch.from_numpy(proxy.scores),
            proxy_mask=None if proxy is None else torch.from_numpy(proxy.mask),
            has_segmentation=torch.tensor(bool(s.meta.get("has_segmentation", True))),
        )


def apply_augment(aug: Augment, image: np.ndarray, joints_hm: np.ndarray, depth_m: np.ndarray, seg: np.ndarray,
                  voxels: np.ndarray, parts: np.ndarray | None, heatmap_size: int, fill: np.ndarray):
    """Apply one augmentation to every target of a sample, consistently (numpy: single-threaded, cheap).

    image: uint8 (3, I, I); joints_hm: (J, 2) heatmap pixels; depth_m: (J,) metres; seg: uint8 (I, I);
    voxels: bool (R, R, R); parts: uint8 (R, R, R) or None; fill: (3,) RGB in [0, 1] for pixels from
    outside the crop. The grid's x, y are the image's own pixels, so (x, y) of every z-slice move with the
    image; a zoom by s is the crop side divided by s, which in BodyNet space (docs/formats.md) also scales z
    about R/2 by s (joint depth in metres, and so the 3D-pose depth bins, does not change). A flip mirrors x and swaps
    left and right labels. The rotation is a roll of the image about the crop centre.
    """
    rgb = image.astype(np.float32) * (np.asarray(aug.gain, dtype=np.float32) / 255.0)[:, None, None]
    if aug.is_geometric:
        m = aug.matrix()
        rgb = warp_image(rgb, m, fill)
        joints_hm = transform_points(joints_hm, m, heatmap_size)
        seg = warp_labels(seg, m)
        voxels = warp_labels(voxels, m, aug.scale)
        if parts is not None:
            parts = warp_labels(parts, m, aug.scale)
        if aug.flip:
            joints_hm, depth_m = joints_hm[JOINT_FLIP], depth_m[JOINT_FLIP]
            seg = SEG_FLIP.astype(np.uint8)[seg]
            if parts is not None:
                parts = VOXEL_PART_FLIP.astype(np.uint8)[parts]
    image = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    assert joints_hm.shape == (NUM_JOINTS, 2)
    return image, joints_hm, depth_m, seg, voxels, parts
