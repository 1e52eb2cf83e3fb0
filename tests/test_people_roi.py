"""Rotated regions: construction, the network <-> image mapping, resampling, heatmap refinement, masks,
detector windows. Continuous pixels everywhere: pixel i covers [i, i+1), centre i + 0.5."""

from __future__ import annotations

import math

import numpy as np
import torch

from bodynet_cli.geometry.space import Crop
from bodynet_cli.people.frontend import Person, detector_windows, refine_from_heatmap
from bodynet_cli.people.roi import (
    Roi,
    apply_affine,
    body_distance,
    halve,
    roi_from_keypoints,
    sample_grid,
    warp,
)


def test_roi_from_keypoints_upright_and_turned():
    """Upright body (k1 straight above the hips): angle 0, side 2·1.25·|k1 − k0|, centred on the hips."""
    r = roi_from_keypoints(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert (r.cx, r.cy) == (100.0, 200.0)
    assert math.isclose(r.angle, 0.0, abs_tol=1e-12) and math.isclose(r.size, 200.0)
    # The network's "up" (towards t = 0 from the centre) must point from k0 to k1, whatever the turn.
    rng = np.random.default_rng(0)
    for _ in range(20):
        k0, k1 = rng.uniform(-50, 500, 2), rng.uniform(-50, 500, 2)
        r = roi_from_keypoints(k0, k1)
        m = r.to_image_matrix(256)
        np.testing.assert_allclose(apply_affine(m, np.array([128.0, 128.0])), k0, atol=1e-9)
        up = apply_affine(m, np.array([128.0, 128.0 - 128.0 / 1.25])) - k0  # half the square / 1.25 = |k1 - k0|
        np.testing.assert_allclose(up, k1 - k0, atol=1e-9)
        assert -math.pi <= r.angle < math.pi


def test_roi_mapping_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(10):
        r = Roi(cx=rng.uniform(0, 600), cy=rng.uniform(0, 400), size=rng.uniform(20, 900), angle=rng.uniform(-3, 3))
        pts = rng.uniform(-100, 700, (50, 2))
        back = apply_affine(r.to_image_matrix(256), apply_affine(r.to_roi_matrix(256), pts))
        np.testing.assert_allclose(back, pts, atol=1e-8)
        # Corners of the network input land on the square's corners, size apart.
        c = apply_affine(r.to_image_matrix(256), np.array([[0.0, 0.0], [256.0, 0.0], [0.0, 256.0]]))
        assert math.isclose(np.linalg.norm(c[1] - c[0]), r.size) and math.isclose(np.linalg.norm(c[2] - c[0]), r.size)


def test_warp_samples_pixel_centres():
    """A linear ramp image: every output pixel centre holds the value at its image point."""
    h, w = 40, 60
    ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    image = torch.from_numpy(np.stack([xs, ys]).astype(np.float32))
    r = Roi(cx=31.0, cy=18.5, size=20.0, angle=0.4)  # wholly inside: no border effects
    out = warp(image, r.to_image_matrix(16)[None], 16)[0].numpy()
    t, s = np.meshgrid(np.arange(16) + 0.5, np.arange(16) + 0.5, indexing="ij")
    expected = apply_affine(r.to_image_matrix(16), np.stack([s, t], -1))
    np.testing.assert_allclose(np.moveaxis(out, 0, -1), expected, atol=1e-3)


def test_sample_grid_against_a_loop():
    """Each output pixel centre (s + 0.5, t + 0.5) through its affine, normalised for grid_sample
    (align_corners=False: 2x/W - 1), on seeded random affines."""
    rng = np.random.default_rng(3)
    m = rng.normal(size=(3, 2, 3)) * [[[2.0, 2.0, 50.0]]]
    o, h, w = 7, 30, 45
    grid = sample_grid(m, o, h, w).numpy()
    assert grid.shape == (3, o, o, 2) and grid.dtype == np.float32
    for n in range(3):
        for t in range(o):
            for s in range(o):
                x, y = m[n] @ np.array([s + 0.5, t + 0.5, 1.0])
                np.testing.assert_allclose(grid[n, t, s], [2 * x / w - 1, 2 * y / h - 1], rtol=1e-6, atol=1e-6)


def test_halve_is_2x2_average_pooling():
    """halve against a naive loop over the 2×2 windows (cut at an odd last row or column), and equal to
    F.avg_pool2d(ceil_mode=True), on seeded random input; exactly equal on an integer-valued photo."""
    g = torch.Generator().manual_seed(0)
    for h, w in ((6, 8), (7, 8), (6, 9), (7, 5), (1, 1)):
        x = torch.rand(2, 3, h, w, generator=g)
        expected = torch.zeros(2, 3, (h + 1) // 2, (w + 1) // 2)
        for i in range(expected.shape[-2]):
            for j in range(expected.shape[-1]):
                expected[..., i, j] = x[..., 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean((-1, -2))
        torch.testing.assert_close(halve(x), expected)
        torch.testing.assert_close(halve(x), torch.nn.functional.avg_pool2d(x, 2, ceil_mode=True))
    photo = torch.randint(0, 256, (1, 3, 31, 44), generator=g).float()
    assert torch.equal(halve(photo), torch.nn.functional.avg_pool2d(photo, 2, ceil_mode=True))


def test_warp_prefiltered_keeps_the_coordinates():
    """Shrinking 7×, beyond max_shrink: the 2×2-average pyramid keeps a linear ramp exact, so every
    output pixel still holds the value at its image point (the pyramid levels' coordinates are right)."""
    h, w = 300, 340
    ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    image = torch.from_numpy(np.stack([xs, ys]).astype(np.float32))
    r = Roi(cx=170.0, cy=150.0, size=140.0, angle=-0.7)
    out = warp(image, r.to_image_matrix(20)[None], 20, max_shrink=2.0)[0].numpy()
    t, s = np.meshgrid(np.arange(20) + 0.5, np.arange(20) + 0.5, indexing="ij")
    expected = apply_affine(r.to_image_matrix(20), np.stack([s, t], -1))
    np.testing.assert_allclose(np.moveaxis(out, 0, -1), expected, atol=1e-3)
    plain = warp(image, r.to_image_matrix(20)[None], 20, max_shrink=100.0)[0].numpy()
    np.testing.assert_allclose(plain, out, atol=1e-3)
    # A 1-pixel checkerboard: prefiltered it averages to 0.5; plain sampling aliases.
    checker = torch.from_numpy(((xs.astype(int) + ys.astype(int)) % 2).astype(np.float32))[None]
    smooth = warp(checker, r.to_image_matrix(20)[None], 20, max_shrink=2.0)
    aliased = warp(checker, r.to_image_matrix(20)[None], 20, max_shrink=100.0)
    assert (smooth - 0.5).abs().max() < 0.05 and (aliased - 0.5).abs().max() > 0.2


def naive_refine(xy, heatmap, size=256, kernel=7, min_conf=0.5):
    """MediaPipe's RefineLandmarksFromHeatMap as its loops."""
    n, lm, h, w = heatmap.shape
    out = xy.copy()
    for i in range(n):
        for j in range(lm):
            col, row = int(xy[i, j, 0] / size * w), int(xy[i, j, 1] / size * h)
            if col < 0 or col >= w or row < 0 or row >= h:
                continue
            off = (kernel - 1) // 2
            s = wc = wr = mx = 0.0
            for r in range(max(0, row - off), min(h, row + off + 1)):
                for c in range(max(0, col - off), min(w, col + off + 1)):
                    conf = 1 / (1 + math.exp(-heatmap[i, j, r, c]))
                    s += conf
                    mx = max(mx, conf)
                    wc += c * conf
                    wr += r * conf
            if mx >= min_conf and s > 0:
                out[i, j] = [wc / w / s * size, wr / h / s * size]
    return out


def test_heatmap_refinement_matches_naive_loop():
    rng = np.random.default_rng(2)
    n, lm, h = 2, 39, 16
    heat = rng.normal(-2, 2, (n, lm, h, h)).astype(np.float32)
    xy = rng.uniform(-30, 290, (n, lm, 2)).astype(np.float32)  # some outside, some near the borders
    xy[0, :4] = [[0.5, 0.5], [255.9, 255.9], [-0.5, 10], [10, 255.0]]
    got = refine_from_heatmap(torch.from_numpy(xy), torch.from_numpy(heat)).numpy()
    want = naive_refine(xy.astype(np.float64), heat.astype(np.float64))
    assert not np.allclose(got, xy)  # some were refined
    np.testing.assert_allclose(got, want, atol=1e-3)


def _person_with_mask(roi: Roi, mask: np.ndarray, image_size=(1000, 1000)) -> Person:
    z = np.zeros
    return Person(score=1.0, pose_score=1.0, box=z(4), landmarks=z((33, 3)), visibility=z(33), presence=z(33),
                  world_landmarks=z((33, 3)), joints2d=z((16, 2)), joints2d_score=z(16), roi=roi,
                  body_axis=z((2, 2)), image_size=image_size, roi_mask=mask)


def test_mask_in_resamples_through_the_roi():
    """The ROI mask carries its own network coordinates; resampled into a crop, each crop pixel holds the
    ROI position of its centre (bilinear is exact on a linear ramp), and 0 outside the ROI and image."""
    s = (np.arange(256) + 0.5)
    ramp = np.broadcast_to(s[None, :] / 256.0, (256, 256)).astype(np.float32)  # value = u / 256
    roi = Roi(cx=500.0, cy=400.0, size=300.0, angle=0.3)
    p = _person_with_mask(roi, ramp, image_size=(800, 1000))
    crop = Crop(x0=300.0, y0=200.0, side=400.0, size=64)
    got = p.mask_in(crop)
    assert got.shape == (64, 64) and got.dtype == np.float32
    c = (np.arange(64) + 0.5) * 400 / 64
    img = np.stack(np.meshgrid(c + 300, c + 200, indexing="xy"), -1)  # (64, 64, 2) x, y of crop pixel centres
    u = apply_affine(roi.to_roi_matrix(256), img)
    inside_roi = ((u > 1) & (u < 255)).all(-1)  # away from the ROI's edge (bilinear fades there)
    np.testing.assert_allclose(got[inside_roi], (u[..., 0] / 256)[inside_roi], atol=1e-4)
    outside = ((u < -1) | (u > 257)).any(-1) | (img[..., 0] >= 800)
    assert outside.any() and np.all(got[outside] == 0)


def test_detector_windows_cover_the_image():
    for w, h in [(512, 512), (810, 1080), (1280, 720), (100, 1000)]:
        ws = detector_windows(w, h, tiles=True)
        full = ws[0]
        assert math.isclose(full.side, max(w, h)) and full.size == 224
        assert math.isclose(full.x0 + full.side / 2, w / 2) and math.isclose(full.y0 + full.side / 2, h / 2)
        covered = np.zeros((h, w), bool)
        for c in ws[1:]:
            covered[max(0, int(c.y0)):int(c.y0 + c.side), max(0, int(c.x0)):int(c.x0 + c.side)] = True
        assert covered.all()
        assert len(detector_windows(w, h, tiles=False)) == 1


def test_body_distance_separates_people_from_duplicates():
    a = (np.array([100.0, 600.0]), np.array([110.0, 380.0]))
    same = (np.array([115.0, 620.0]), np.array([100.0, 390.0]))
    beside = (np.array([290.0, 610.0]), np.array([280.0, 400.0]))
    assert body_distance(a, same) < 0.15 and body_distance(a, beside) > 0.7
    assert body_distance(a, same) == body_distance(same, a)


def test_mask_overlap_tells_a_second_detection_from_a_neighbour():
    """Two detections of one body (the same pixels, one region seeing only its upper half) overlap almost
    wholly; two people side by side do not overlap at all (naive count on the common canvas)."""
    from bodynet_cli.people.frontend import mask_overlap

    body = np.zeros((256, 256), np.float32)
    body[40:220, 100:156] = 1.0  # a standing figure in ROI pixels
    whole = _person_with_mask(Roi(cx=300.0, cy=500.0, size=400.0, angle=0.0), body)
    upper = np.zeros((256, 256), np.float32)
    upper[80:256, 100:156] = 1.0  # its upper part, seen by a smaller region (same image pixels)
    half = _person_with_mask(Roi(cx=300.0, cy=400.0, size=200.0, angle=0.0), upper)
    # image pixels: the body is y 362..644, x 256..344; the smaller region's mask y 362..500, x 278..322
    assert mask_overlap(whole, half) > 0.9
    beside = _person_with_mask(Roi(cx=700.0, cy=500.0, size=400.0, angle=0.0), body)
    assert mask_overlap(whole, beside) == 0.0
