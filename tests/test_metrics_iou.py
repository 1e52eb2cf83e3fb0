import numpy as np
import pytest
import torch

from bodynet_cli.io.npz import pack_voxels
from bodynet_cli.metrics.iou import (
    confusion_matrix,
    part_voxel_iou,
    popcount_rows,
    segmentation_miou,
    voxel_iou,
    voxel_iou_packed,
)


def naive_iou(p, g):
    inter = union = 0
    for a, b in zip(p.ravel().tolist(), g.ravel().tolist(), strict=True):
        inter += a and b
        union += a or b
    return inter / union if union else float("nan")


def naive_class_miou(p, g, k):
    ious = []
    for c in range(1, k):
        iou = naive_iou(p == c, g == c)
        if not np.isnan(iou):
            ious.append(iou)
    return sum(ious) / len(ious) if ious else float("nan")


def test_voxel_iou_hand_checked_2x2x2():
    # [z, y, x]; pred fills the z=0 layer (4 voxels), gt the x=0 column pair plus one more voxel.
    pred = np.zeros((2, 2, 2), bool)
    pred[0] = True
    gt = np.zeros((2, 2, 2), bool)
    gt[:, :, 0] = True  # (0,0,0) (0,1,0) (1,0,0) (1,1,0)
    gt[1, 1, 1] = True
    # intersection: (0,0,0), (0,1,0) = 2; union: 4 + 5 - 2 = 7
    assert voxel_iou(pred[None], gt[None])[0] == pytest.approx(2 / 7)
    packed = np.stack([pack_voxels(pred)[0], pack_voxels(gt)[0]])
    assert voxel_iou_packed(packed[:1], packed[1:])[0] == pytest.approx(2 / 7)


@pytest.mark.parametrize("shape", [(5, 7, 9), (8, 8, 8), (3, 1, 11)])
def test_voxel_iou_matches_naive_numpy_torch_packed(rng, shape):
    pred = rng.random((3, *shape)) < rng.random((3, 1, 1, 1))
    gt = rng.random((3, *shape)) < 0.4
    want = [naive_iou(p, g) for p, g in zip(pred, gt, strict=True)]
    np.testing.assert_allclose(voxel_iou(pred, gt), want, rtol=1e-12)
    np.testing.assert_allclose(voxel_iou(torch.from_numpy(pred), torch.from_numpy(gt)).numpy(), want, rtol=1e-12)
    pp = np.stack([pack_voxels(p)[0] for p in pred])
    gp = np.stack([pack_voxels(g)[0] for g in gt])
    np.testing.assert_allclose(voxel_iou_packed(pp, gp), want, rtol=1e-12)


def test_voxel_iou_empty_is_nan_and_types_checked(rng):
    z = np.zeros((2, 4, 4, 4), bool)
    z[1, 0, 0, 0] = True
    out = voxel_iou(z, np.zeros_like(z))
    assert np.isnan(out[0]) and out[1] == 0.0
    with pytest.raises(TypeError, match="bool"):
        voxel_iou(z.astype(np.float32), z.astype(np.float32))
    with pytest.raises(ValueError, match="shapes differ"):
        voxel_iou(z, z[:, :2])


def test_popcount_word_byte_and_table_paths(rng, monkeypatch):
    for n in (64, 13):  # 64: the uint64 path; 13: byte by byte
        x = rng.integers(0, 256, (4, n), dtype=np.uint8)
        want = np.array([sum(bin(v).count("1") for v in row.tolist()) for row in x])
        np.testing.assert_array_equal(popcount_rows(x), want)
        monkeypatch.delattr(np, "bitwise_count", raising=False)  # numpy < 2: the 256-entry table
        np.testing.assert_array_equal(popcount_rows(x), want)
        monkeypatch.undo()


def test_confusion_matrix_matches_loop_and_checks_range(rng):
    p = rng.integers(0, 5, (2, 6, 7))
    g = rng.integers(0, 5, (2, 6, 7))
    c = confusion_matrix(p, g, 5)
    for b in range(2):
        for i in range(5):
            for j in range(5):
                assert c[b, i, j] == np.sum((g[b] == i) & (p[b] == j))
    np.testing.assert_array_equal(confusion_matrix(torch.from_numpy(p), torch.from_numpy(g), 5).numpy(), c)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        confusion_matrix(p + 1, g, 5)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        confusion_matrix(torch.from_numpy(p), torch.from_numpy(g + 1), 5)


def test_part_voxel_and_segmentation_miou_match_naive(rng):
    pv = rng.integers(0, 7, (3, 6, 5, 4)).astype(np.uint8)
    gv = rng.integers(0, 7, (3, 6, 5, 4)).astype(np.uint8)
    gv[0][gv[0] == 3] = 0  # part 3 absent from one ground truth...
    pv[0][pv[0] == 3] = 1  # ...and from its prediction: excluded from that sample's mean
    want = [naive_class_miou(p, g, 7) for p, g in zip(pv, gv, strict=True)]
    np.testing.assert_allclose(part_voxel_iou(pv, gv), want, rtol=1e-12)
    np.testing.assert_allclose(part_voxel_iou(torch.from_numpy(pv), torch.from_numpy(gv)).numpy(), want)
    ps = rng.integers(0, 15, (2, 9, 11)).astype(np.uint8)
    gs = rng.integers(0, 15, (2, 9, 11)).astype(np.uint8)
    want = [naive_class_miou(p, g, 15) for p, g in zip(ps, gs, strict=True)]
    np.testing.assert_allclose(segmentation_miou(ps, gs), want, rtol=1e-12)


def test_part_iou_hand_checked_absent_part_excluded():
    # 2x2x2, parts: gt has head (1) at 2 voxels, torso (2) at 2; pred has head at 1 of them, torso at both.
    gt = np.zeros((2, 2, 2), np.uint8)
    pred = np.zeros((2, 2, 2), np.uint8)
    gt[0, 0, :] = 1
    gt[1, 1, :] = 2
    pred[0, 0, 0] = 1
    pred[1, 1, :] = 2
    # head IoU 1/2, torso 2/2; parts 3..6 absent in both -> left out: mean 0.75 (not 1.5/6)
    assert part_voxel_iou(pred[None], gt[None])[0] == pytest.approx(0.75)
    # a part predicted but absent from the ground truth counts as 0
    pred[0, 1, 1] = 5
    assert part_voxel_iou(pred[None], gt[None])[0] == pytest.approx((0.5 + 1 + 0) / 3)
    # only background everywhere: no part to score
    assert np.isnan(part_voxel_iou(np.zeros((1, 2, 2, 2), np.uint8), np.zeros((1, 2, 2, 2), np.uint8))[0])
