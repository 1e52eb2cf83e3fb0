import numpy as np
import pytest
import torch
import trimesh

from bodynet_cli.metrics.surface import (
    closest_point_on_triangle,
    point_to_surface_distance,
    point_to_surface_mm,
    point_triangle_distance,
    surface_error_mm,
)


def naive_point_triangle(p, a, b, c):
    """Project onto the plane; inside -> plane distance, else the nearest of the three edges."""

    def seg(p, u, v):
        t = np.clip(np.dot(p - u, v - u) / max(np.dot(v - u, v - u), 1e-300), 0, 1)
        return np.linalg.norm(p - (u + t * (v - u)))

    n = np.cross(b - a, c - a)
    nn = np.linalg.norm(n)
    if nn > 1e-12:
        n = n / nn
        q = p - np.dot(p - a, n) * n
        # barycentric signs via the edge normals
        inside = all(np.dot(np.cross(v - u, q - u), n) >= 0 for u, v in ((a, b), (b, c), (c, a)))
        if inside:
            return abs(np.dot(p - a, n))
    return min(seg(p, a, b), seg(p, b, c), seg(p, c, a))


def test_point_triangle_hand_checked():
    a, b, c = np.array([[0.0, 0, 0]]), np.array([[1.0, 0, 0]]), np.array([[0.0, 1, 0]])
    pts = np.array([[0.2, 0.2, 0.5], [-1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [0.5, -2.0, 0.0]])
    want = [0.5, np.sqrt(2), np.sqrt(0.5), 2.0]  # face, vertex a, edge bc, edge ab
    got = point_triangle_distance(pts, *(np.repeat(v, 4, 0) for v in (a, b, c)))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_point_triangle_matches_naive_and_trimesh(rng):
    tri = rng.normal(size=(400, 3, 3))
    tri[:20, 2] = tri[:20, 0] + 1e-3 * (tri[:20, 1] - tri[:20, 0])  # nearly degenerate slivers
    p = rng.normal(size=(400, 3)) * 2
    got = point_triangle_distance(p, tri[:, 0], tri[:, 1], tri[:, 2])
    want = [naive_point_triangle(*x) for x in zip(p, tri[:, 0], tri[:, 1], tri[:, 2], strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    peer = trimesh.triangles.closest_point(tri, p)
    np.testing.assert_allclose(closest_point_on_triangle(p, tri[:, 0], tri[:, 1], tri[:, 2]), peer, atol=1e-9)


def test_point_to_surface_matches_brute_force(rng):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    verts = mesh.vertices * (1 + 0.2 * rng.random((len(mesh.vertices), 1)))  # lumpy, uneven triangles
    faces = mesh.faces
    pts = np.concatenate([rng.normal(size=(60, 3)) * 0.8, rng.normal(size=(20, 3)) * 5, verts[:5]])
    tri = verts[faces]
    # brute force: every point against every triangle, with trimesh's closest point as the peer
    rep_tri, rep_pts = np.tile(tri, (len(pts), 1, 1)), np.repeat(pts, len(tri), 0)
    dist = np.linalg.norm(trimesh.triangles.closest_point(rep_tri, rep_pts) - rep_pts, axis=-1)
    want = dist.reshape(len(pts), len(tri)).min(1)
    np.testing.assert_allclose(point_to_surface_distance(pts, verts, faces), want, rtol=1e-9, atol=1e-12)
    # chunked (few pairs in memory at a time) gives the same answer
    np.testing.assert_allclose(point_to_surface_distance(pts, verts, faces, max_pairs=50), want, rtol=1e-9)
    np.testing.assert_allclose(point_to_surface_mm(pts, verts, faces), 1000 * want, rtol=1e-9)
    assert np.allclose(want[-5:], 0)


def test_surface_error_values_and_gradients(rng):
    gt = rng.normal(size=(2, 50, 3))
    pred = gt + rng.normal(size=gt.shape) * 0.01
    want = [1000 * np.mean([np.linalg.norm(p - g) for p, g in zip(pb, gb, strict=True)])
            for pb, gb in zip(pred, gt, strict=True)]
    np.testing.assert_allclose(surface_error_mm(pred, gt), want, rtol=1e-12)
    p = torch.from_numpy(pred).requires_grad_(True)
    surface_error_mm(p, torch.from_numpy(gt)).sum().backward()
    d = pred - gt
    np.testing.assert_allclose(p.grad.numpy(), 1000 * d / np.linalg.norm(d, axis=-1, keepdims=True) / 50, rtol=1e-9)
    with pytest.raises(ValueError, match="one topology"):
        surface_error_mm(pred, gt[:, :40])
