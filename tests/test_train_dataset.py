"""The training dataset: deterministic items, augmentation that moves every target with the image."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from train_fixture import TINY, make_dataset

from bodynet_cli.body.conventions import JOINT_FLIP, SEG_FLIP
from bodynet_cli.data.dataset import (
    Augment,
    AugmentSettings,
    SynthDataset,
    collate,
    read_split,
    transform_points,
    warp_image,
    warp_labels,
)
from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import front_view


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny"), n=12, n_val=2)


def _warp_labels_reference(labels: np.ndarray, m: np.ndarray, z_scale: float | None) -> np.ndarray:
    """Per-element loop: each output centre, mapped back through m (and z / z_scale), takes the label of the
    input element it falls in; 0 outside."""
    out = np.zeros_like(labels)
    inv = np.linalg.inv(m)
    shape = labels.shape
    for idx in np.ndindex(*shape):
        u = np.array([2 * (idx[-1] + 0.5) / shape[-1] - 1, 2 * (idx[-2] + 0.5) / shape[-2] - 1])
        src = inv @ u
        xs = math.floor((src[0] + 1) * shape[-1] / 2)
        ys = math.floor((src[1] + 1) * shape[-2] / 2)
        zs = None
        if labels.ndim == 3:
            zn = (2 * (idx[0] + 0.5) / shape[0] - 1) / z_scale
            zs = math.floor((zn + 1) * shape[0] / 2)
        ok = 0 <= xs < shape[-1] and 0 <= ys < shape[-2] and (zs is None or 0 <= zs < shape[0])
        if ok:
            out[idx] = labels[(zs, ys, xs)] if zs is not None else labels[ys, xs]
    return out


@pytest.mark.parametrize("aug", [Augment(flip=True), Augment(scale=1.23, rotation_deg=17.0),
                                 Augment(flip=True, scale=0.8, rotation_deg=-25.0)])
def test_warp_labels_matches_loop_reference(aug):
    rng = np.random.default_rng(1)
    m = aug.matrix()
    grid = rng.integers(0, 7, size=(6, 10, 10)).astype(np.uint8)
    got = warp_labels(grid, m, aug.scale)
    ref = _warp_labels_reference(grid, m, aug.scale)
    assert (got != ref).sum() == 0, (got != ref).sum()
    seg = rng.integers(0, 15, size=(12, 12)).astype(np.uint8)
    got2 = warp_labels(seg, m)
    assert (got2 != _warp_labels_reference(seg, m, None)).sum() == 0


def test_warp_image_moves_a_blob_where_transform_points_says():
    """A Gaussian blob at p is found, after warping, at transform_points(p) (sub-pixel, via its centroid)."""
    size = 64
    p = np.array([[20.3, 37.8]])
    yy, xx = np.mgrid[:size, :size] + 0.5
    blob = np.exp(-((xx - p[0, 0]) ** 2 + (yy - p[0, 1]) ** 2) / (2 * 2.0**2))
    img = np.stack([blob] * 3).astype(np.float32)
    aug = Augment(flip=True, scale=1.2, rotation_deg=30.0)
    out = warp_image(img, aug.matrix(), np.zeros(3, dtype=np.float32))[0]
    centroid = np.array([(out * xx).sum(), (out * yy).sum()]) / out.sum()
    np.testing.assert_allclose(centroid, transform_points(p, aug.matrix(), size)[0], atol=0.05)


def test_items_are_deterministic_and_differ_by_epoch(data):
    ds = SynthDataset(data, "train", TINY, seed=3, augment=AugmentSettings())
    a, b = ds[(0, 5)], ds[(0, 5)]
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.voxels, b.voxels) and torch.equal(a.joints_hm, b.joints_hm)
    others = [ds[(e, 5)] for e in range(1, 6)]
    assert any(not torch.equal(a.rgb, o.rgb) for o in others)


def test_augmented_targets_stay_consistent(data):
    """After augmentation the voxels' front view is still the silhouette of the segmentation, and each
    joint's heatmap position still falls on the segmentation class it had before (up to a pixel)."""
    plain = SynthDataset(data, "train", TINY)
    ds = SynthDataset(data, "train", TINY, seed=0,
                      augment=AugmentSettings(rotation_prob=1.0, flip_prob=0.5, scale=0.1))  # fmt: skip
    k = TINY.input_size // TINY.voxel_res
    for i in range(len(ds)):
        it = ds[(0, i)]
        sil = it.segmentation.numpy().reshape(TINY.voxel_res, k, TINY.voxel_res, k).max(axis=(1, 3)) > 0
        fv = front_view(it.voxels.float()).numpy() > 0
        inter, union = (sil & fv).sum(), (sil | fv).sum()
        assert inter / union > 0.85, (i, inter / union)
        # joint 9 (head) sits on a labelled body pixel before and after
        before = plain[(0, i)]
        for item in (before, it):
            x, y = (item.joints_hm[9].numpy() * TINY.input_size / TINY.heatmap_size).astype(int)
            if 0 <= x < TINY.input_size and 0 <= y < TINY.input_size:
                patch = item.segmentation[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2]
                assert (patch > 0).any()


def test_flip_swaps_left_and_right(data):
    plain = SynthDataset(data, "train", TINY)[(0, 0)]
    ds = SynthDataset(data, "train", TINY, seed=0,
                      augment=AugmentSettings(colour=0.0, scale=0.0, rotation_prob=0.0, flip_prob=1.0))
    flipped = ds[(0, 0)]
    h = TINY.heatmap_size
    mirrored = plain.joints_hm.clone()
    mirrored[:, 0] = h - mirrored[:, 0]
    torch.testing.assert_close(flipped.joints_hm, mirrored[JOINT_FLIP])
    torch.testing.assert_close(flipped.depth_m, plain.depth_m[JOINT_FLIP])
    expect_seg = torch.from_numpy(SEG_FLIP.astype(np.uint8))[plain.segmentation.flip(-1).long()]
    assert torch.equal(flipped.segmentation, expect_seg)
    assert torch.equal(flipped.voxels, plain.voxels.flip(-1))
    assert torch.equal(flipped.rgb, plain.rgb.flip(-1))


def test_collate_and_split_errors(data, tmp_path):
    ds = SynthDataset(data, "val", TINY, part_voxels=True)
    batch = collate([ds[0], ds[1]])
    assert batch.rgb.shape == (2, 3, TINY.input_size, TINY.input_size) and batch.rgb.dtype == torch.uint8
    assert batch.voxels.shape == (2, 16, 16, 16) and batch.part_voxels.shape == (2, 16, 16, 16)
    assert len(batch) == 2
    with pytest.raises(BodyNetError, match="index.json"):
        read_split(tmp_path, "train")
    (tmp_path / "index.json").write_text(json.dumps({"splits": {"train": []}}))
    with pytest.raises(BodyNetError, match="'val'"):
        read_split(tmp_path, "val")
    with pytest.raises(BodyNetError, match="'val'"):
        read_split(tmp_path, "all")  # every split must be there
    parts = [read_split(data, s) for s in ("train", "val", "test")]
    assert read_split(data, "all") == parts[0] + parts[1] + parts[2] and len(read_split(data, "all")) > 0
    with pytest.raises(BodyNetError, match="same --config"):
        SynthDataset(data, "val", TINY.replace(input_size=64, heatmap_size=16))[0]
