"""Training proxies: reproducible, corruption statistics as the settings say, clean when switched off, and
made from the augmented ground truth inside the dataset."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from train_fixture import TINY, make_dataset

from bodynet_cli.body.conventions import JOINT_FLIP
from bodynet_cli.data.dataset import Augment, AugmentSettings, SynthDataset
from bodynet_cli.data.proxies import ProxyCorruption, make_proxies, person_size
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.npz import read_npz

N = 64
ZERO = ProxyCorruption.none()
# 16 joints well inside a 64² crop; bounding box 30 × 40 px, so the person size is 40 px.
JOINTS = np.array([[22, 52], [23, 42], [25, 32], [39, 32], [41, 42], [42, 52], [32, 32], [32, 22], [32, 18],
                   [32, 12], [17, 30], [19, 24], [24, 19], [40, 19], [45, 24], [47, 30]], dtype=np.float64)  # fmt: skip
YY, XX = np.mgrid[:N, :N] + 0.5
DISK = (XX - 32) ** 2 + (YY - 32) ** 2 <= 20**2


def _draws(settings: ProxyCorruption, n: int, seed: int = 0, mask=DISK):
    return [make_proxies(JOINTS, mask, settings, np.random.default_rng([seed, i])) for i in range(n)]


def _iou(a, b) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_same_seed_same_proxies_and_other_seeds_differ():
    c = ProxyCorruption()
    a, b = _draws(c, 5), _draws(c, 5)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.joints, y.joints) and np.array_equal(x.scores, y.scores)
        assert np.array_equal(x.mask, y.mask)
    other = _draws(c, 5, seed=1)
    assert not all(np.array_equal(x.joints, y.joints) for x, y in zip(a, other, strict=True))


def test_zero_corruption_returns_the_clean_proxies_exactly():
    rng = np.random.default_rng(3)
    joints = rng.uniform(-10, N + 10, (16, 2))
    mask = rng.random((N, N)) > 0.5
    p = make_proxies(joints, mask, ZERO, np.random.default_rng(0))
    assert np.array_equal(p.joints, joints.astype(np.float32))
    inside = ((joints >= 0) & (joints < N)).all(axis=1)
    assert np.array_equal(p.scores, inside.astype(np.float32))
    assert np.array_equal(p.mask, mask.astype(np.uint8))


def test_dropped_joints_share_and_score_noise():
    draws = _draws(replace(ZERO, drop_prob=0.2), 2000)
    dropped = np.mean([d.scores == 0 for d in draws])
    assert dropped == pytest.approx(0.2, abs=0.01)  # σ of the share is 0.002
    draws = _draws(replace(ZERO, score_noise=0.15), 2000)
    assert np.mean([d.scores for d in draws]) == pytest.approx(1 - 0.15 * np.sqrt(2 / np.pi), abs=0.003)


def test_jitter_in_units_of_person_size_and_outliers():
    assert person_size(JOINTS) == 40.0
    draws = _draws(replace(ZERO, jitter=0.05), 2000)
    err = np.concatenate([np.linalg.norm(d.joints - JOINTS, axis=1) for d in draws]) / 40.0
    assert err.mean() == pytest.approx(0.05 * np.sqrt(np.pi / 2), rel=0.02)  # mean of a 2D Gaussian's radius
    draws = _draws(replace(ZERO, outlier_prob=0.1, outlier_scale=0.5), 2000)
    moved = np.concatenate([np.linalg.norm(d.joints - JOINTS, axis=1) > 0 for d in draws])
    assert moved.mean() == pytest.approx(0.1, abs=0.01)


def test_swap_rates():
    draws = _draws(replace(ZERO, body_swap_prob=0.1), 2000)
    body = np.mean([np.array_equal(d.joints, JOINTS[JOINT_FLIP].astype(np.float32)) for d in draws])
    assert body == pytest.approx(0.1, abs=0.025)
    draws = _draws(replace(ZERO, limb_swap_prob=0.2), 2000)
    changed = [np.flatnonzero((d.joints != JOINTS).any(axis=1)) for d in draws]
    assert np.mean([len(c) > 0 for c in changed]) == pytest.approx(0.2, abs=0.03)
    # a limb swap exchanges a left and a right joint set, never touching the spine and head
    assert all(not set(c) & {6, 7, 8, 9} for c in changed)


def test_mask_erosion_dilation_iou_matches_digital_disks():
    draws = _draws(replace(ZERO, mask_radius=2), 600)
    got = np.mean([_iou(d.mask > 0, DISK) for d in draws])

    def morph(r: int) -> np.ndarray:
        """Dilation (r > 0) / erosion (r < 0) by the integer offsets within radius |r|, shift by shift."""
        offsets = [(dy, dx) for dy in range(-abs(r), abs(r) + 1) for dx in range(-abs(r), abs(r) + 1)
                   if dy * dy + dx * dx <= r * r]  # fmt: skip
        shifted = [np.roll(DISK, (dy, dx), axis=(0, 1)) for dy, dx in offsets]  # DISK is far from the border
        return np.logical_or.reduce(shifted) if r > 0 else np.logical_and.reduce(shifted)

    ref = np.mean([_iou(morph(r), DISK) for r in range(-2, 3)])  # the radius is uniform in -2..2
    assert got == pytest.approx(ref, abs=0.01)  # σ of the mean over 600 draws: ~0.002


def test_mask_corruptions_and_truncation():
    occl = _draws(replace(ZERO, occluder_prob=0.5, occluder_size=0.3), 400)
    removed = np.array([(DISK & (d.mask == 0)).sum() for d in occl])
    assert np.mean(removed > 0) == pytest.approx(0.5, abs=0.08) and all((d.mask <= DISK).all() for d in occl)
    bulges = _draws(replace(ZERO, bulge_prob=1.0, bulge_size=0.08), 100)
    assert all((d.mask >= DISK).all() for d in bulges) and np.mean([(d.mask > DISK).any() for d in bulges]) > 0.9
    trunc = _draws(replace(ZERO, truncate_prob=1.0, truncate_max=0.5), 400)
    # A band of u·32 px (u uniform) is cut from one side; the disk spans 12..52, so it loses pixels when
    # u·32 > 12: probability 0.625. What is cut is a band along a crop side, with the joints in it.
    cut = [DISK & (d.mask == 0) for d in trunc]
    assert np.mean([c.any() for c in cut]) == pytest.approx(0.625, abs=0.07)
    for d, c in zip(trunc, cut, strict=True):
        assert (d.mask <= DISK).all()
        if c.any():
            ys, xs = np.nonzero(c)
            kept = d.mask > 0
            sides = [xs.min() > kept.nonzero()[1].max(), xs.max() < kept.nonzero()[1].min(),
                     ys.min() > kept.nonzero()[0].max(), ys.max() < kept.nonzero()[0].min()]  # fmt: skip
            assert sum(sides) == 1
        lost = d.scores == 0
        assert lost.sum() < 16 and (not lost.any() or c.any())
    default = _draws(ProxyCorruption(), 300)
    mean_iou = np.mean([_iou(d.mask > 0, DISK) for d in default])
    assert 0.6 < mean_iou < 0.97, mean_iou
    with pytest.raises(BodyNetError, match="drop_prob"):
        ProxyCorruption(drop_prob=1.5)


PROXY_TINY = TINY.replace(name="tiny_proxy", pose2d_inputs=(), segm_inputs=("joints", "mask"),
                          pose3d_inputs=("segm", "joints", "mask"), voxels_inputs=("segm", "joints", "mask", "pose3d"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny"), n=10, n_val=2)


def test_dataset_proxies_follow_the_augmentation_exactly(data):
    ds = SynthDataset(data, "train", PROXY_TINY, seed=2, augment=AugmentSettings(rotation_prob=1.0), proxies=ZERO)
    k = PROXY_TINY.input_size / PROXY_TINY.heatmap_size
    for i in range(len(ds)):
        it = ds[(0, i)]
        assert torch.equal(it.proxy_joints, it.joints_hm * k)
        assert torch.equal(it.proxy_mask, (it.segmentation > 0).to(torch.uint8))
        inside = ((it.proxy_joints >= 0) & (it.proxy_joints < PROXY_TINY.input_size)).all(dim=-1)
        assert torch.equal(it.proxy_scores, inside.float())
    assert SynthDataset(data, "train", TINY).proxies is None  # the RGB chain gets none
    assert ds[(0, 0)].proxy_mask is not None and SynthDataset(data, "train", TINY)[(0, 0)].proxy_mask is None


def test_dataset_proxies_are_reproducible_and_use_person_mask(data, tmp_path):
    ds = SynthDataset(data, "train", PROXY_TINY, seed=2, augment=AugmentSettings())
    a, b = ds[(0, 3)], ds[(0, 3)]
    assert torch.equal(a.proxy_joints, b.proxy_joints) and torch.equal(a.proxy_mask, b.proxy_mask)
    assert any(not torch.equal(a.proxy_joints, ds[(e, 3)].proxy_joints) for e in range(1, 4))

    # A label with person_mask: the proxy mask comes from it (flipped with the image), not from segmentation.
    import shutil

    root = tmp_path / "pm"
    shutil.copytree(data, root)
    name = "s0000"
    arrays = read_npz(root / "labels" / f"{name}.npz")
    person = np.zeros((32, 32), dtype=np.uint8)
    person[2:20, 3:11] = 1
    np.savez_compressed(root / "labels" / f"{name}.npz", **arrays, person_mask=person)
    flip = SynthDataset(root, "train", PROXY_TINY, seed=0, augment=AugmentSettings(), proxies=ZERO)
    from bodynet_cli.data import dataset as dmod

    orig = dmod.sample_augment
    dmod.sample_augment = lambda rng, s: (rng.random(6), Augment(flip=True))[1]
    try:
        it = flip[(0, 0)]
    finally:
        dmod.sample_augment = orig
    assert np.array_equal(it.proxy_mask.numpy(), person[:, ::-1])
