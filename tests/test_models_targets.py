"""Target encoding and decoding: loop references and seeded encode→decode round trips."""

import math

import torch

from bodynet_cli.body.conventions import DEPTH_BIN_M, SEG_TO_VOXEL_PART
from bodynet_cli.models import decode as D
from bodynet_cli.models import targets as T


def test_heatmaps_against_loop_reference_and_visibility():
    g = torch.Generator().manual_seed(0)
    size, sigma = 6, 1.3
    joints = torch.rand(2, 4, 2, generator=g, dtype=torch.float64) * size
    joints[0, 1] = torch.tensor([-0.2, 3.0])  # left of the map
    joints[1, 2] = torch.tensor([2.0, 6.0])  # y == size is outside
    joints[1, 3] = torch.tensor([float("nan"), 1.0])
    hm, vis = T.heatmaps_from_joints(joints, size, sigma)
    assert hm.shape == (2, 4, size, size)
    assert vis.tolist() == [[True, False, True, True], [True, True, False, False]]
    for b in range(2):
        for j in range(4):
            for y in range(size):
                for x in range(size):
                    jx, jy = float(joints[b, j, 0]), float(joints[b, j, 1])
                    ref = math.exp(-((x + 0.5 - jx) ** 2 + (y + 0.5 - jy) ** 2) / (2 * sigma**2)) if vis[b, j] else 0
                    assert abs(float(hm[b, j, y, x]) - ref) < 1e-12


def test_depth_bins_follow_the_spec():
    dz = torch.tensor([[0.0, 0.0224, 0.0226, -0.0226, 0.405, 0.5, -1.0]])
    assert T.depth_bin(dz).tolist() == [[9, 9, 10, 8, 18, 18, 0]]


def test_volume_against_loop_reference():
    g = torch.Generator().manual_seed(1)
    size, bins = 4, 5
    joints = torch.rand(1, 2, 2, generator=g, dtype=torch.float64) * size
    depth = torch.tensor([[0.05, -0.5]], dtype=torch.float64)
    vol = T.volume_from_joints(joints, depth, size, bins=bins, sigma=1.0)
    assert vol.shape == (1, 2 * bins, size, size)
    for j in range(2):
        b = min(max(round(float(depth[0, j]) / DEPTH_BIN_M), -2), 2) + 2
        for d in range(bins):
            for y in range(size):
                for x in range(size):
                    jx, jy = float(joints[0, j, 0]), float(joints[0, j, 1])
                    ref = math.exp(-((x + 0.5 - jx) ** 2 + (y + 0.5 - jy) ** 2 + (d - b) ** 2) / 2)
                    assert abs(float(vol[0, j * bins + d, y, x]) - ref) < 1e-12


def test_heatmap_round_trip_within_a_small_fraction_of_a_pixel():
    g = torch.Generator().manual_seed(2)
    size = 32
    joints = torch.rand(8, 16, 2, generator=g) * size
    hm, _ = T.heatmaps_from_joints(joints, size, 1.0)
    coords, score = D.decode_heatmaps(hm)
    err = (coords - joints).abs()
    assert err.max() < 0.5  # everywhere, border pixels included (no neighbour to refine with)
    interior = ((joints > 1) & (joints < size - 1)).all(dim=-1)
    assert err[interior].max() < 1e-3  # the log-parabola vertex is exact for a Gaussian
    # score = peak value = the Gaussian at the nearest pixel centre
    assert (score > math.exp(-0.5**2)).all() and (score <= 1).all()


def test_decoding_is_robust_to_noise_and_negative_predictions():
    g = torch.Generator().manual_seed(3)
    joints = torch.rand(4, 16, 2, generator=g) * 28 + 2
    hm, _ = T.heatmaps_from_joints(joints, 32, 1.0)
    noisy = hm + 0.05 * torch.randn(hm.shape, generator=g)
    coords, _ = D.decode_heatmaps(noisy)
    assert torch.isfinite(coords).all()
    assert (coords - joints).abs().max() < 0.5


def test_volume_round_trip():
    g = torch.Generator().manual_seed(4)
    size = 16
    joints = torch.rand(4, 16, 2, generator=g) * (size - 2) + 1
    depth = (torch.rand(4, 16, generator=g) - 0.5) * 0.8  # inside ±0.4 m: no clamping
    vol = T.volume_from_joints(joints, depth, size)
    coords, depth_m = D.decode_volume(vol)
    assert (coords - joints).abs().max() < 1e-3
    assert (depth_m - depth).abs().max() <= DEPTH_BIN_M / 2 + 1e-6  # the encoding quantises to 0.045 m bins
    torch.testing.assert_close(depth_m, (T.depth_bin(depth) - 9) * DEPTH_BIN_M)
    # The last stack of a (B, S, J·D, H, W) output is a non-contiguous view: same result.
    stacked = torch.stack([torch.zeros_like(vol), vol], dim=1)
    c2, d2 = D.decode_volume(stacked[:, -1])
    assert torch.equal(c2, coords) and torch.equal(d2, depth_m)


def test_decode_segmentation_and_part_labels():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 15, 4, 4, generator=g)
    labels = D.decode_segmentation(logits)
    assert labels.dtype == torch.uint8 and torch.equal(labels.long(), logits.argmax(dim=1))
    up = D.decode_segmentation(logits, size=16)
    assert up.shape == (2, 16, 16)
    part_logits = torch.randn(1, 7, 3, 3, 3, generator=g)
    assert torch.equal(D.part_voxel_labels(part_logits).long(), part_logits.argmax(dim=1))
    assert torch.equal(T.part_one_hot(part_logits.argmax(dim=1)).argmax(dim=1), part_logits.argmax(dim=1))


def test_fv_targets_from_segmentation_majority_downsampling():
    seg = torch.zeros(1, 8, 8, dtype=torch.long)
    seg[0, 0:4, 0:4] = 1  # head over a whole 4×4 block
    seg[0, 4:8, 4:6] = 4  # r-lower-arm covers half of a block: ties go to the lower class
    seg[0, 4:8, 6:8] = 13  # l-lower-leg
    fv, part_fv = T.fv_targets_from_segmentation(seg, 2)
    torch.testing.assert_close(fv, torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
    parts = part_fv.argmax(dim=1)
    assert parts.tolist() == [[[SEG_TO_VOXEL_PART[1], 0], [0, SEG_TO_VOXEL_PART[4]]]]
    assert part_fv.sum(dim=1).eq(1).all()
    # Upsampling repeats labels.
    fv_up, _ = T.fv_targets_from_segmentation(seg, 16)
    torch.testing.assert_close(fv_up[0, ::2, ::2], (seg[0] != 0).float())
