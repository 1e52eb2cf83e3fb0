"""Chamfer distance, nearest neighbours and Geman-McClure against slow obvious references."""

import numpy as np
import pytest
import torch

from bodynet_cli.fitting.chamfer import chamfer, gather_points, nearest_neighbours
from bodynet_cli.fitting.robust import geman_mcclure


def _reference_directed(x, y, w, robust):
    """Python loops: for every x point, the smallest squared distance to any y point."""
    total, wsum = 0.0, 0.0
    for i in range(x.shape[0]):
        best = None
        for j in range(y.shape[0]):
            d = ((x[i] - y[j]) ** 2).sum()
            best = d if best is None or d < best else best
        if robust is not None:
            best = robust(best)
        wi = 1.0 if w is None else w[i]
        total = total + wi * best
        wsum = wsum + wi
    return total / wsum


@pytest.mark.parametrize("method", ["kdtree", "cdist"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("robust", [None, lambda s: geman_mcclure(s, 0.3)])
def test_chamfer_matches_loops_values_and_gradients(weighted, robust, method):
    g = torch.Generator().manual_seed(1)
    B, N, M = 3, 11, 7  # uneven sizes
    x = torch.randn(B, N, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(B, M, 3, generator=g, dtype=torch.float64, requires_grad=True)
    xw = torch.rand(B, N, generator=g, dtype=torch.float64) + 0.1 if weighted else None
    yw = torch.rand(B, M, generator=g, dtype=torch.float64) + 0.1 if weighted else None

    got = chamfer(x, y, xw, yw, robust=robust, method=method)
    loss = (got.x_to_y * torch.arange(1, B + 1) + 0.7 * got.y_to_x).sum()
    gx, gy = torch.autograd.grad(loss, (x, y))

    ref_xy = torch.stack([_reference_directed(x[b], y[b], None if xw is None else xw[b], robust) for b in range(B)])
    ref_yx = torch.stack([_reference_directed(y[b], x[b], None if yw is None else yw[b], robust) for b in range(B)])
    torch.testing.assert_close(got.x_to_y, ref_xy)
    torch.testing.assert_close(got.y_to_x, ref_yx)
    ref_loss = (ref_xy * torch.arange(1, B + 1) + 0.7 * ref_yx).sum()
    rx, ry = torch.autograd.grad(ref_loss, (x, y))
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gy, ry)


@pytest.mark.parametrize("method", ["kdtree", "cdist"])
def test_nearest_neighbours_matches_brute_force(rng, method):
    x = rng.normal(size=(2, 50, 3))
    y = rng.normal(size=(2, 33, 3))
    idx = nearest_neighbours(torch.from_numpy(x), torch.from_numpy(y), method, chunk=16).numpy()  # chunk < N
    for b in range(2):
        for i in range(50):
            d = [np.sum((x[b, i] - y[b, j]) ** 2) for j in range(33)]
            assert idx[b, i] == int(np.argmin(d))


def test_gather_points_and_precomputed_neighbours():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(2, 9, 3, generator=g), torch.randn(2, 5, 3, generator=g)
    x_nn, y_nn = nearest_neighbours(x, y), nearest_neighbours(y, x)
    assert torch.equal(gather_points(y, x_nn)[1, 4], y[1, x_nn[1, 4]])
    a, b = chamfer(x, y), chamfer(x, y, x_nn=x_nn, y_nn=y_nn)
    torch.testing.assert_close(a.x_to_y, b.x_to_y)
    torch.testing.assert_close(a.y_to_x, b.y_to_x)


def test_chamfer_of_identical_sets_is_zero_and_of_shifted_set_is_the_shift():
    x = torch.rand(1, 20, 3)
    c = chamfer(x, x.clone())
    assert float(c.x_to_y) == 0.0 and float(c.y_to_x) == 0.0
    grid = torch.stack(torch.meshgrid(*[torch.arange(3.0)] * 3, indexing="ij"), -1).reshape(1, -1, 3)
    shift = torch.tensor([0.0, 0.0, 0.1])  # smaller than half the spacing: the neighbour is the twin
    c = chamfer(grid + shift, grid)
    torch.testing.assert_close(c.x_to_y, torch.tensor([0.01]))
    torch.testing.assert_close(c.y_to_x, torch.tensor([0.01]))


def test_geman_mcclure_values_and_gradient():
    sq = torch.tensor([0.0, 1e-4, 0.04, 1.0, 1e6], dtype=torch.float64, requires_grad=True)
    sigma = 0.2
    got = geman_mcclure(sq, sigma)
    ref = torch.stack([sigma**2 * s / (sigma**2 + s) for s in sq])
    torch.testing.assert_close(got, ref)
    (g,) = torch.autograd.grad(got.sum(), sq)
    torch.testing.assert_close(g, torch.stack([sigma**4 / (sigma**2 + s) ** 2 for s in sq.detach()]))
    got = got.detach()
    assert float(got[2]) == pytest.approx(0.5 * sigma**2)  # half the ceiling at r = σ
    assert float(got[-1]) < sigma**2  # bounded
    assert float(got[1]) == pytest.approx(1e-4, rel=3e-3)  # ≈ r² for small residuals
