"""The batched rasterizer against a slow per-pixel, per-face loop, plus hand-checked scenes."""

import numpy as np
import pytest
import torch

from bodynet_cli.geometry.rasterize import interpolate, rasterize


def _reference(points: np.ndarray, faces: np.ndarray, H: int, W: int):
    """Loop over pixels and faces in float64: nearest covering face, lowest index on ties.

    Also returns a mask of pixels whose answer is numerically ambiguous (centre on an edge, or two
    faces at almost the same depth), where the fast version may legitimately differ.
    """
    B = points.shape[0]
    fi = -np.ones((B, H, W), np.int64)
    bary = np.zeros((B, H, W, 3))
    depth = np.full((B, H, W), np.inf)
    ambiguous = np.zeros((B, H, W), bool)
    for b in range(B):
        for i in range(H):
            for j in range(W):
                p = np.array([j + 0.5, i + 0.5])
                hits = []
                for f, (i0, i1, i2) in enumerate(faces):
                    a, c, d = points[b, [i0, i1, i2]]
                    if min(a[2], c[2], d[2]) <= 0:
                        continue
                    # screen barycentrics by solving the 2x2 system
                    m = np.array([[c[0] - a[0], d[0] - a[0]], [c[1] - a[1], d[1] - a[1]]])
                    if abs(np.linalg.det(m)) < 1e-12:
                        continue
                    s, t = np.linalg.solve(m, p - a[:2])
                    lam = np.array([1 - s - t, s, t])
                    if np.any(np.abs(lam) < 1e-9):
                        ambiguous[b, i, j] = True
                    if np.all(lam >= 0):
                        w = lam / np.array([a[2], c[2], d[2]])
                        hits.append((1 / w.sum(), f, w / w.sum()))
                if hits:
                    hits.sort(key=lambda h: (h[0], h[1]))
                    depth[b, i, j], fi[b, i, j], bary[b, i, j] = hits[0]
                    if len(hits) > 1 and hits[1][0] - hits[0][0] < 1e-9:
                        ambiguous[b, i, j] = True
    return fi, bary, depth, ambiguous


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rasterize_matches_reference(seed):
    rng = np.random.default_rng(seed)
    B, V, F, H, W = 2, 14, 11, 9, 13
    pts = np.stack([rng.uniform(-3, W + 3, (B, V)), rng.uniform(-3, H + 3, (B, V)), rng.uniform(1, 4, (B, V))], -1)
    faces = np.stack([rng.choice(V, 3, replace=False) for _ in range(F)])
    ref_fi, ref_bary, ref_depth, amb = _reference(pts, faces, H, W)
    frag = rasterize(torch.from_numpy(pts), torch.from_numpy(faces), H, W)
    ok = ~amb
    assert (frag.face_index.numpy()[ok] == ref_fi[ok]).all()
    assert ok.mean() > 0.8 and (ref_fi[ok] >= 0).sum() > 20  # the scene is not trivially empty
    np.testing.assert_allclose(frag.bary.numpy()[ok], ref_bary[ok], atol=1e-9)
    np.testing.assert_allclose(frag.depth.numpy()[ok], ref_depth[ok], atol=1e-9)
    # float32 gives the same pictures away from ambiguous pixels
    frag32 = rasterize(torch.from_numpy(pts).float(), torch.from_numpy(faces), H, W)
    assert (frag32.face_index.numpy()[ok] == ref_fi[ok]).mean() > 0.98


def test_square_covers_exactly_its_pixel_centres():
    # a square from (2, 1) to (6, 4) at Z = 2: pixel centres inside are columns 2..5, rows 1..3
    pts = torch.tensor([[[2.0, 1.0, 2.0], [6.0, 1.0, 2.0], [6.0, 4.0, 2.0], [2.0, 4.0, 2.0]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    frag = rasterize(pts, faces, 6, 8)
    want = np.zeros((6, 8), bool)
    want[1:4, 2:6] = True
    assert (frag.mask[0].numpy() == want).all()
    assert torch.allclose(frag.depth[0][frag.mask[0]], torch.tensor(2.0, dtype=torch.float64))
    assert torch.isinf(frag.depth[0][~frag.mask[0]]).all()


def test_nearer_face_wins_and_culling():
    # two overlapping squares; the nearer one (Z = 1) hides the farther (Z = 3)
    sq = np.array([[0, 0], [8, 0], [8, 8], [0, 8]], float)
    far = np.c_[sq, np.full(4, 3.0)]
    near = np.c_[sq + 2, np.full(4, 1.0)]
    pts = torch.from_numpy(np.concatenate([far, near]))[None]
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    frag = rasterize(pts, faces, 10, 10)
    assert (frag.face_index[0, 5, 5] >= 2) and frag.depth[0, 5, 5] == 1.0
    assert frag.face_index[0, 1, 1] < 2 and frag.depth[0, 1, 1] == 3.0
    # these corners run clockwise on the screen (x right, y down): turned away, culled
    assert not rasterize(pts, faces, 10, 10, cull_backfaces=True).mask.any()
    frag_c = rasterize(pts, faces.flip(-1), 10, 10, cull_backfaces=True)
    assert (frag_c.face_index == rasterize(pts, faces.flip(-1), 10, 10).face_index).all()


def test_perspective_correct_interpolation():
    # a plane steeply tilted in depth: interpolated camera points must lie on each pixel's ray
    rng = np.random.default_rng(3)
    f, c = 40.0, 16.0
    cam = np.array([[-1.0, -1.0, 2.0], [1.0, -1.0, 6.0], [1.0, 1.0, 6.0], [-1.0, 1.0, 2.0]])
    cam += rng.normal(0, 0.05, cam.shape)
    screen = np.c_[f * cam[:, :2] / cam[:, 2:] + c, cam[:, 2]]
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    frag = rasterize(torch.from_numpy(screen)[None], faces, 32, 32)
    pts = interpolate(frag, faces, torch.from_numpy(cam))[0]
    m = frag.mask[0]
    assert m.sum() > 200
    proj = f * pts[..., :2] / pts[..., 2:] + c
    iy, ix = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    centres = torch.stack([ix + 0.5, iy + 0.5], -1).double()
    assert (proj[m] - centres[m]).abs().max() < 1e-9
    assert torch.allclose(pts[..., 2][m], frag.depth[0][m])


def test_closed_mesh_culling_is_exact():
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    v = torch.from_numpy(mesh.vertices).double() + torch.tensor([0.0, 0.0, 4.0])
    f = torch.from_numpy(mesh.faces)
    # trimesh faces run counter-clockwise seen from outside; taken as OpenCV camera points (a
    # right-handed frame too) the faces towards the camera run anti-clockwise on the y-down screen
    screen = torch.stack([100 * v[:, 0] / v[:, 2] + 24, 100 * v[:, 1] / v[:, 2] + 24, v[:, 2]], -1)[None]
    full = rasterize(screen, f, 48, 48)
    culled = rasterize(screen, f, 48, 48, cull_backfaces=True)
    assert full.mask.sum() > 500
    assert (full.face_index == culled.face_index).all()
    # reversed winding keeps only the far hemisphere
    assert rasterize(screen, f.flip(-1), 48, 48, cull_backfaces=True).depth[0, 24, 24] > 4.9


def test_interpolate_matches_loop():
    rng = np.random.default_rng(4)
    B, V, F, H, W = 2, 10, 8, 7, 9
    pts = np.stack([rng.uniform(0, W, (B, V)), rng.uniform(0, H, (B, V)), rng.uniform(1, 2, (B, V))], -1)
    pts = torch.from_numpy(pts)
    faces = torch.from_numpy(np.stack([rng.choice(V, 3, replace=False) for _ in range(F)]))
    attr = torch.from_numpy(rng.normal(size=(B, V, 4)))
    frag = rasterize(pts, faces, H, W)
    out = interpolate(frag, faces, attr)
    for b in range(B):
        for i in range(H):
            for j in range(W):
                fi = int(frag.face_index[b, i, j])
                want = torch.zeros(4, dtype=torch.float64) if fi < 0 else (
                    frag.bary[b, i, j][:, None] * attr[b, faces[fi]]).sum(0)
                assert torch.allclose(out[b, i, j], want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(5)
    pts = torch.from_numpy(np.stack([rng.uniform(0, 30, (2, 50)), rng.uniform(0, 30, (2, 50)),
                                     rng.uniform(1, 3, (2, 50))], -1))
    faces = torch.from_numpy(np.stack([rng.choice(50, 3, replace=False) for _ in range(60)]))
    a = rasterize(pts, faces, 30, 30)
    b = rasterize(pts.cuda(), faces.cuda(), 30, 30)
    assert (a.face_index == b.face_index.cpu()).float().mean() > 0.999


def test_gradients_of_barycentrics_and_depth():
    # away from edges the face under each pixel is fixed: weights and depth are smooth in the points
    rng = np.random.default_rng(6)
    pts = torch.tensor([[[1.3, 0.7, 2.0], [10.6, 2.2, 3.0], [3.1, 9.4, 2.5], [11.2, 10.1, 4.0]]], dtype=torch.float64)
    pts = pts + torch.from_numpy(rng.normal(0, 0.05, pts.shape))
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    attr = torch.from_numpy(rng.normal(size=(4, 2)))

    def f(p):
        frag = rasterize(p, faces, 12, 12)
        m = frag.mask
        return torch.cat([interpolate(frag, faces, attr)[m].ravel(), frag.depth[m]])

    pts.requires_grad_(True)
    assert torch.autograd.gradcheck(f, (pts,), eps=1e-7, atol=1e-5)
