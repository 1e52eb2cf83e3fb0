"""Losses against hand-written loop references on tiny seeded tensors (values and gradients)."""

import math

import pytest
import torch

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import front_view, side_view
from bodynet_cli.models import losses as L
from bodynet_cli.models.bodynet import BodyNetOutput
from bodynet_cli.models.stages import STAGES

B, S, R = 2, 2, 3
DT = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _bce(p, t):
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_heatmap_and_volume_mse_against_loop():
    g = _gen(0)
    pred = torch.randn(B, S, 3, 2, 4, generator=g, dtype=DT, requires_grad=True)
    target = torch.randn(B, 3, 2, 4, generator=g, dtype=DT)
    got = L.heatmap_mse(pred, target)
    ref = []
    for s in range(S):
        acc, n = 0.0, 0
        for b in range(B):
            for idx in torch.cartesian_prod(torch.arange(3), torch.arange(2), torch.arange(4)).tolist():
                acc += (float(pred.detach()[b, s][tuple(idx)]) - float(target[b][tuple(idx)])) ** 2
                n += 1
        ref.append(acc / n)
    torch.testing.assert_close(got, torch.tensor(ref, dtype=DT))
    torch.testing.assert_close(L.volume_mse(pred, target), got)
    # Gradient of the mean square: 2 (pred - target) / n per stack.
    (grad,) = torch.autograd.grad(got.sum(), pred)
    torch.testing.assert_close(grad, 2 * (pred - target.unsqueeze(1)).detach() / (B * 3 * 2 * 4))


def test_segmentation_ce_against_loop():
    g = _gen(1)
    logits = torch.randn(B, S, 4, 2, 3, generator=g, dtype=DT, requires_grad=True)
    labels = torch.randint(0, 4, (B, 2, 3), generator=g)
    got = L.segmentation_ce(logits, labels)
    ref = []
    for s in range(S):
        acc = 0.0
        for b in range(B):
            for y in range(2):
                for x in range(3):
                    z = [float(v) for v in logits.detach()[b, s, :, y, x]]
                    acc += math.log(sum(math.exp(v) for v in z)) - z[int(labels[b, y, x])]
        ref.append(acc / (B * 6))
    torch.testing.assert_close(got, torch.tensor(ref, dtype=DT))
    # Gradient: (softmax - one_hot) / n.
    (grad,) = torch.autograd.grad(got.sum(), logits)
    one_hot = torch.nn.functional.one_hot(labels, 4).movedim(-1, 1).unsqueeze(1).to(DT)
    torch.testing.assert_close(grad, (logits.softmax(dim=2) - one_hot).detach() / (B * 6))
    torch.testing.assert_close(L.part_voxel_ce(logits, labels), got)


def test_voxel_bce_equals_sigmoid_then_bce():
    g = _gen(2)
    logits = torch.randn(B, S, R, R, R, generator=g, dtype=DT) * 3
    logits.requires_grad_(True)
    target = (torch.rand(B, R, R, R, generator=g) > 0.5).to(DT)
    got = L.voxel_bce(logits, target)
    ref = []
    for s in range(S):
        vals = [_bce(_sigmoid(float(logits.detach()[b, s, z, y, x])), float(target[b, z, y, x]))
                for b in range(B) for z in range(R) for y in range(R) for x in range(R)]  # fmt: skip
        ref.append(sum(vals) / len(vals))
    torch.testing.assert_close(got, torch.tensor(ref, dtype=DT))
    (grad,) = torch.autograd.grad(got.sum(), logits)
    torch.testing.assert_close(grad, (torch.sigmoid(logits) - target.unsqueeze(1)).detach() / (B * R**3))
    # Stays finite where sigmoid + log would overflow.
    big = torch.full((1, 1, 2, 2, 2), 200.0, dtype=DT)
    assert torch.isfinite(L.voxel_bce(-big, torch.ones(1, 2, 2, 2, dtype=DT))).all()


def test_front_and_side_views_equal_explicit_max_projections():
    g = _gen(3)
    grid = torch.rand(B, 4, 5, 6, generator=g, dtype=DT)  # [z, y, x] with distinct sizes
    fv, sv = front_view(grid), side_view(grid)
    assert fv.shape == (B, 5, 6) and sv.shape == (B, 5, 4)
    for b in range(B):
        for y in range(5):
            for x in range(6):
                assert fv[b, y, x] == max(float(grid[b, z, y, x]) for z in range(4))
            for z in range(4):
                assert sv[b, y, z] == max(float(grid[b, z, y, x]) for x in range(6))


def test_front_view_of_a_body_shaped_grid_is_its_silhouette_in_image_layout():
    # An occupied box at rows y 1..2, columns x 3..4, any depth: the FV is that box in (y, x).
    grid = torch.zeros(6, 6, 6)
    grid[2:4, 1:3, 3:5] = 1
    fv = front_view(grid)
    expected = torch.zeros(6, 6)
    expected[1:3, 3:5] = 1
    torch.testing.assert_close(fv, expected)
    sv = side_view(grid)
    expected = torch.zeros(6, 6)
    expected[1:3, 2:4] = 1  # rows y, columns z
    torch.testing.assert_close(sv, expected)


def test_part_views_use_min_for_background_and_max_for_parts():
    g = _gen(4)
    grid = torch.rand(B, 7, 3, 4, 5, generator=g, dtype=DT)
    fv, sv = L.part_front_view(grid), L.part_side_view(grid)
    assert fv.shape == (B, 7, 4, 5) and sv.shape == (B, 7, 4, 3)
    for b in range(B):
        for c in range(7):
            agg = min if c == 0 else max
            for y in range(4):
                for x in range(5):
                    assert fv[b, c, y, x] == agg(float(grid[b, c, z, y, x]) for z in range(3))
                for z in range(3):
                    assert sv[b, c, y, z] == agg(float(grid[b, c, z, y, x]) for x in range(5))


def test_reprojection_bce_is_bce_of_max_projected_probabilities():
    g = _gen(5)
    logits = (torch.randn(B, S, R, R, R, generator=g, dtype=DT) * 2).requires_grad_(True)
    fv_t = (torch.rand(B, R, R, generator=g) > 0.5).to(DT)
    sv_t = (torch.rand(B, R, R, generator=g) > 0.5).to(DT)
    fv, sv = L.reprojection_bce(logits, fv_t, sv_t)
    # Reference in probability space, exactly as the paper: sigmoid, max over z / x, BCE.
    p = torch.sigmoid(logits)
    bce = torch.nn.functional.binary_cross_entropy
    fv_ref = torch.stack([bce(p[:, s].amax(dim=1), fv_t) for s in range(S)])
    sv_ref = torch.stack([bce(p[:, s].amax(dim=3).transpose(1, 2), sv_t) for s in range(S)])
    torch.testing.assert_close(fv, fv_ref)
    torch.testing.assert_close(sv, sv_ref)
    g1 = torch.autograd.grad((fv + 2 * sv).sum(), logits, retain_graph=True)[0]
    g2 = torch.autograd.grad((fv_ref + 2 * sv_ref).sum(), logits)[0]
    torch.testing.assert_close(g1, g2)


def test_part_reprojection_bce_against_probability_space_reference():
    g = _gen(6)
    logits = torch.randn(B, S, 7, R, R, R, generator=g, dtype=DT)
    fv_t = torch.nn.functional.one_hot(torch.randint(0, 7, (B, R, R), generator=g), 7).movedim(-1, 1).to(DT)
    sv_t = torch.nn.functional.one_hot(torch.randint(0, 7, (B, R, R), generator=g), 7).movedim(-1, 1).to(DT)
    fv, sv = L.part_reprojection_bce(logits, fv_t, sv_t)
    p = torch.sigmoid(logits)
    bce = torch.nn.functional.binary_cross_entropy
    for s in range(S):
        torch.testing.assert_close(fv[s], bce(L.part_front_view(p[:, s]), fv_t))
        torch.testing.assert_close(sv[s], bce(L.part_side_view(p[:, s]), sv_t))


def test_stage_weights_are_the_spec_ratios_normalised():
    for stage in STAGES:
        w = L.stage_loss_weights(stage)
        assert math.isclose(sum(w.values()), 1.0)
    w = L.stage_loss_weights("end2end")
    total = 1e7 + 1e3 + 1e6 + 10 + 1 + 1
    assert w["segm"] == pytest.approx(1e7 / total) and w["pose3d"] == pytest.approx(1e6 / total)
    assert w["fv"] == pytest.approx(1 / total) and w["voxels"] == pytest.approx(10 / total)
    assert L.stage_loss_weights("voxels_proj") == pytest.approx({"voxels": 10 / 12, "fv": 1 / 12, "sv": 1 / 12})
    with pytest.raises(BodyNetError, match="unknown training stage"):
        L.stage_loss_weights("bogus")


def _output_and_targets(g):
    J, P, D, H = 3, 4, 5, 4
    out = BodyNetOutput(
        heatmaps=torch.randn(B, S, J, H, H, generator=g, dtype=DT),
        segm_logits=torch.randn(B, S, P, H, H, generator=g, dtype=DT),
        volumes=torch.randn(B, S, J * D, H, H, generator=g, dtype=DT),
        voxel_logits=torch.randn(B, S, R, R, R, generator=g, dtype=DT),
        part_voxel_logits=torch.randn(B, S, 7, R, R, R, generator=g, dtype=DT),
    )
    t = L.LossTargets(
        heatmaps=torch.rand(B, J, H, H, generator=g, dtype=DT),
        segmentation=torch.randint(0, P, (B, H, H), generator=g),
        volumes=torch.rand(B, J * D, H, H, generator=g, dtype=DT),
        voxels=(torch.rand(B, R, R, R, generator=g) > 0.5).to(DT),
        part_voxels=torch.randint(0, 7, (B, R, R, R), generator=g),
    )
    return out, t


def test_compute_losses_is_the_weighted_sum_of_per_stack_terms():
    out, t = _output_and_targets(_gen(7))
    lb = L.compute_losses(out, t, "end2end")
    assert set(lb.terms) == {"pose2d", "segm", "pose3d", "voxels", "fv", "sv"}
    torch.testing.assert_close(lb.terms["voxels"], L.voxel_bce(out.voxel_logits, t.voxels).sum())
    fv, sv = L.reprojection_bce(out.voxel_logits, front_view(t.voxels), side_view(t.voxels))
    torch.testing.assert_close(lb.per_stack["fv"], fv)
    torch.testing.assert_close(lb.per_stack["sv"], sv)
    manual = sum(lb.weights[k] * lb.per_stack[k].sum() for k in lb.terms)
    torch.testing.assert_close(lb.total, manual)
    floats = lb.as_floats()
    assert floats["total"] == pytest.approx(float(manual))

    parts = L.compute_losses(out, t, "part_voxels")
    one_hot = torch.nn.functional.one_hot(t.part_voxels, 7).movedim(-1, 1).to(DT)
    pfv, psv = L.part_reprojection_bce(out.part_voxel_logits, L.part_front_view(one_hot), L.part_side_view(one_hot))
    torch.testing.assert_close(parts.per_stack["part_fv"], pfv)
    torch.testing.assert_close(parts.per_stack["part_sv"], psv)

    t.voxels = None
    with pytest.raises(BodyNetError, match="'voxels' target"):
        L.compute_losses(out, t, "voxels")
