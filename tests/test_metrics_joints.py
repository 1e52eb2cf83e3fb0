import numpy as np
import pytest
import torch

from bodynet_cli.geometry.space import Camera, joints3d_to_camera, project
from bodynet_cli.metrics.joints import (
    head_size,
    joint3d_error_mm,
    pckh,
    pckh_correct,
)


def naive_pckh(pred, gt, thresh, visible):
    h = np.hypot(*(gt[9] - gt[8]))
    if h == 0:
        return float("nan")
    hits = n = 0
    for j in range(16):
        if visible[j]:
            n += 1
            hits += np.hypot(*(pred[j] - gt[j])) <= thresh * h
    return hits / n if n else float("nan")


def naive_mpjpe_mm(pred, gt):
    total = 0.0
    for j in range(16):
        if j == 6:  # the aligned pelvis contributes exactly 0 (and sqrt(0) has no gradient)
            continue
        d = (pred[j] - pred[6]) - (gt[j] - gt[6])
        total += (d[0] ** 2 + d[1] ** 2 + d[2] ** 2) ** 0.5
    return 1000 * total / 16


def test_pckh_hand_checked():
    gt = np.zeros((1, 16, 2))
    gt[0, 8] = (100, 110)  # neck
    gt[0, 9] = (100, 100)  # head: head size 10 px, threshold 5 px at 0.5
    pred = gt.copy()
    pred[0, 0] += (3, 4)  # 5 px: counts (<=)
    pred[0, 1] += (0, 5.01)  # just outside
    pred[0, 2] += (30, 0)
    assert head_size(gt)[0] == pytest.approx(10)
    np.testing.assert_array_equal(pckh_correct(pred, gt)[0, :3], [True, False, False])
    assert pckh(pred, gt)[0] == pytest.approx(14 / 16)
    vis = np.ones((1, 16), bool)
    vis[0, 1:3] = False
    assert pckh(pred, gt, visible=vis)[0] == pytest.approx(1.0)
    assert pckh(pred, gt, thresh=1.0)[0] == pytest.approx(15 / 16)


def test_pckh_matches_naive_numpy_and_torch(rng):
    gt = rng.normal(size=(6, 16, 2)) * 40 + 100
    pred = gt + rng.normal(size=gt.shape) * 15
    vis = rng.random((6, 16)) < 0.8
    gt[5, 9] = gt[5, 8]  # zero head size: NaN
    vis[4] = False  # nothing visible: NaN
    want = [naive_pckh(p, g, 0.5, v) for p, g, v in zip(pred, gt, vis, strict=True)]
    np.testing.assert_allclose(pckh(pred, gt, 0.5, vis), want)
    got = pckh(torch.from_numpy(pred), torch.from_numpy(gt), 0.5, torch.from_numpy(vis))
    np.testing.assert_allclose(got.numpy(), want)
    assert np.isnan(want[4]) and np.isnan(want[5])


def test_joints3d_to_camera_inverts_the_file_convention(rng):
    cam = Camera(f=600.0, cx=160.0, cy=120.0, z0=6.0)
    pts = rng.normal(size=(2, 16, 3)) * 0.4 + [0.1, -0.2, 0.0]
    pts[..., 2] += 6.0
    pts[:, 6, 2] = 6.0  # the pelvis at depth Z0
    uv = project(pts, cam)
    file_joints = np.concatenate([uv, pts[..., 2:] - 6.0], axis=-1)  # x, y pixels, z metres from the pelvis
    back = joints3d_to_camera(file_joints, np.tile(cam.to_array().astype(np.float64), (2, 1)))
    np.testing.assert_allclose(back, pts, atol=1e-6)
    back_t = joints3d_to_camera(torch.from_numpy(file_joints), torch.tensor(np.tile(cam.to_array(), (2, 1))).double())
    np.testing.assert_allclose(back_t.numpy(), pts, atol=1e-6)


def test_joint3d_error_values_gradients_and_pelvis_alignment(rng):
    gt = rng.normal(size=(4, 16, 3))
    pred = gt + rng.normal(size=gt.shape) * 0.05
    want = [naive_mpjpe_mm(p, g) for p, g in zip(pred, gt, strict=True)]
    np.testing.assert_allclose(joint3d_error_mm(pred, gt), want, rtol=1e-12)
    # a global translation of the prediction changes nothing
    np.testing.assert_allclose(joint3d_error_mm(pred + [1.0, -2.0, 3.0], gt), want, rtol=1e-9)
    # hand-checked: every joint but the pelvis 3 cm off along x, after alignment -> 15/16 * 30 mm
    off = gt.copy()
    off[:, np.arange(16) != 6, 0] += 0.03
    np.testing.assert_allclose(joint3d_error_mm(off, gt), 30 * 15 / 16)

    p = torch.from_numpy(pred).requires_grad_(True)
    joint3d_error_mm(p, torch.from_numpy(gt)).sum().backward()
    p_ref = torch.from_numpy(pred).requires_grad_(True)
    g_t = torch.from_numpy(gt)
    sum(naive_mpjpe_mm(p_ref[b], g_t[b]) for b in range(4)).backward()
    np.testing.assert_allclose(p.grad.numpy(), p_ref.grad.numpy(), rtol=1e-9, atol=1e-12)
    # identical inputs: zero error and finite (zero) gradients, even at the aligned pelvis
    q = torch.from_numpy(gt).clone().requires_grad_(True)
    joint3d_error_mm(q, torch.from_numpy(gt)).sum().backward()
    assert torch.isfinite(q.grad).all()
