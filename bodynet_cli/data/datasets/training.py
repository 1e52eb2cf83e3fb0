"""The datasets of ``bodynet train --data``: readers of published datasets as ``SynthDataset``s, and a mix.

A ``ReaderDataset`` makes each item's ground truth on the fly (``frames.make_sample``: crop, resample,
voxelize) and hands it to ``SynthDataset``'s augmentation, so batches are the same compact ``Batch``
whatever the source. Samples without segmentation or 3D ground truth (MPII) carry
``has_segmentation = False`` and empty placeholders; the segmentation loss skips them, and stages that
need 3D ground truth refuse such a source.
"""

from __future__ import annotations

import numpy as np
import torch

from bodynet_cli.data.dataset import Batch, SynthDataset
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.sample import Sample
from bodynet_cli.models.config import ModelConfig

# Where joints without a ground-truth position go: far outside every crop, so their heatmap target is empty.
ABSENT_JOINT = -1.0e4


class ReaderDataset(SynthDataset):
    """One split of a published dataset (``datasets.open_reader``) as a training dataset."""

    def __init__(self, reader, split: str, config: ModelConfig, *, seed: int = 0, augment=None,
                 part_voxels: bool = False, proxies=None):  # fmt: skip
        self.reader = reader
        self.root = getattr(reader, "root", None)
        self._setup(split, [reader.name(i) for i in range(len(reader))], config, seed, augment, part_voxels, proxies)

    @property
    def has_3d(self) -> bool:
        return getattr(self.reader, "has_3d", True)

    def load(self, index: int) -> tuple[np.ndarray, Sample, None]:
        from bodynet_cli.data.datasets.frames import make_sample

        cfg = self.config
        frame = self.reader.frame(index)
        out = make_sample(frame, cfg.input_size, cfg.voxel_res, part_voxels=self.part_voxels, mesh=False)
        s = out.sample
        if s.joints2d_visible is not None:
            s.joints2d = np.where(s.joints2d_visible[:, None] > 0, s.joints2d, ABSENT_JOINT).astype(np.float32)
        size, res = cfg.input_size, cfg.voxel_res
        if s.segmentation is None:
            s.meta["has_segmentation"] = False  # SynthDataset marks the item, the loss then skips it
            s.segmentation = np.zeros((size, size), np.uint8)
        if s.voxels is None:
            s.voxels = np.zeros((res, res, res), bool)
        if self.part_voxels and s.part_voxels is None:
            s.part_voxels = np.zeros((res, res, res), np.uint8)
        if s.joints3d is None:
            s.joints3d = np.concatenate([s.joints2d, np.zeros((len(s.joints2d), 1), np.float32)], axis=1)
        if s.camera is None:
            s.camera = np.zeros(4, np.float32)
        return out.image, s, None


class MixedDataset(torch.utils.data.Dataset):
    """Several datasets one after the other (``--data`` given more than once); items keyed as
    ``SynthDataset``'s ``(epoch, index)``; each part draws its augmentation from its own seed."""

    def __init__(self, parts: list[SynthDataset]):
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.seed = parts[0].seed
        self.names = [n for p in parts for n in p.names]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, key) -> Batch:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        k = int(np.searchsorted(self.offsets, index, side="right") - 1)
        item = self.parts[k][(epoch, index - int(self.offsets[k]))]
        item.index = torch.tensor(index, dtype=torch.int64)
        return item


def make_dataset(sources, split: str, config: ModelConfig, *, needs_3d: bool, body_model=None,
                 **kwargs) -> torch.utils.data.Dataset:  # fmt: skip
    """The dataset of ``split`` over ``sources`` (``DataSource`` list). needs_3d: the stage trains on 3D
    ground truth (a source without it, MPII, is refused); kwargs: ``SynthDataset``'s options."""
    from bodynet_cli.data.datasets import open_reader

    parts = []
    for k, src in enumerate(sources):
        if k:  # each source its own augmentation stream (items of different sources share local indices)
            kwargs = {**kwargs, "seed": kwargs.get("seed", 0) + 1_000_003 * k}
        if src.kind == "synth":
            try:
                parts.append(SynthDataset(src.path, split, config, **kwargs))
            except BodyNetError:
                if split == "train":
                    raise
            continue
        reader = open_reader(src.kind, src.path, split, body_model=body_model)
        if needs_3d and not getattr(reader, "has_3d", True):
            raise BodyNetError(f"--data {src.kind}:{src.path}: has 2D joints only; use it for the 2d stage "
                               "(--stage 2d) or mix it in only there")
        if len(reader):
            parts.append(ReaderDataset(reader, split, config, **kwargs))
    if not parts:
        if split == "train":
            raise BodyNetError("--data: no training samples in " + ", ".join(f"{s.kind}:{s.path}" for s in sources))
        return _Empty(config)
    return parts[0] if len(parts) == 1 else MixedDataset(parts)


class _Empty(torch.utils.data.Dataset):
    """A split a source does not have (validation then reports nothing)."""

    def __init__(self, config: ModelConfig):
        self.config, self.seed, self.names = config, 0, []

    def __len__(self) -> int:
        return 0

    def __getitem__(self, key):  # pragma: no cover - never indexed
        raise IndexError(key)


def describe(sources) -> str:
    return ", ".join(str(s.path) if s.kind == "synth" else f"{s.kind}:{s.path}" for s in sources)


