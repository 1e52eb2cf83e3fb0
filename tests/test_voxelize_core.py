"""The voxelizer against slow, obviously-correct references: winding numbers, clipping, analytic solids."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import trimesh

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Camera, Crop, camera_to_grid, grid_to_camera
from bodynet_cli.geometry.voxelize import (
    FitTransform,
    OpenMeshWarning,
    check_watertight,
    fit_transform,
    label_part_voxels,
    voxelize_camera,
    voxelize_grid,
)
from bodynet_cli.io.npz import pack_voxels, unpack_voxels
from bodynet_cli.io.sample import Sample, load_sample, save_sample

# ---------------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------------


def winding_number(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Generalized winding number (solid angles / 4π, Van Oosterom & Strackee) at points (N, 3): (N,)."""
    out = np.zeros(len(points))
    tri = vertices[faces]
    for start in range(0, len(points), 2048):
        p = points[start:start + 2048, None, None, :]
        a, b, c = (tri[None, :, k, :] - p[:, :, 0, :] for k in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        det = np.einsum("nfc,nfc->nf", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("nfc,nfc->nf", a, b) * lc + np.einsum("nfc,nfc->nf", b, c) * la
               + np.einsum("nfc,nfc->nf", c, a) * lb)
        out[start:start + 2048] = (2 * np.arctan2(det, den)).sum(1) / (4 * np.pi)
    return out


def centres(res: int) -> np.ndarray:
    """Voxel centres (R, R, R, 3) as (x, y, z) grid coordinates, indexed [z, y, x]."""
    k = np.arange(res) + 0.5
    z, y, x = np.meshgrid(k, k, k, indexing="ij")
    return np.stack([x, y, z], -1)


def inside_reference(vertices: np.ndarray, faces: np.ndarray, res: int) -> np.ndarray:
    """Non-zero winding number at every voxel centre; fails if a centre lies on the surface."""
    w = winding_number(centres(res).reshape(-1, 3), vertices, faces)
    assert np.abs(w - np.round(w)).max() < 1e-6, "a voxel centre lies on the surface: pick another mesh"
    return (np.round(w) != 0).reshape(res, res, res)


def clip_touches(tri: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Does the triangle (3, 3) meet the closed box [lo, hi]? Sutherland-Hodgman clipping, one slab at a time."""
    poly = list(tri)
    for axis in range(3):
        for bound, keep in ((lo[axis], lambda p, b, a=axis: p[a] >= b), (hi[axis], lambda p, b, a=axis: p[a] <= b)):
            out = []
            for i, p in enumerate(poly):
                q = poly[(i + 1) % len(poly)]
                if keep(p, bound):
                    out.append(p)
                if keep(p, bound) != keep(q, bound):
                    t = (bound - p[axis]) / (q[axis] - p[axis])
                    out.append(p + t * (q - p))
            poly = out
            if not poly:
                return False
    return True


def random_star_mesh(rng, res: int, snap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A closed, non-convex, non-self-intersecting mesh: a radially jittered icosphere, randomly stretched."""
    s = trimesh.creation.icosphere(subdivisions=1)
    v = s.vertices * rng.uniform(0.55, 1.0, size=(len(s.vertices), 1))
    rot = trimesh.transformations.random_rotation_matrix(rng.random(3))[:3, :3]
    v = (v * rng.uniform(0.6, 1.0, 3)) @ rot.T * res * 0.4 + res / 2 + rng.uniform(-1, 1, 3)
    if snap:  # every vertex exactly on a column centre: columns through vertices and edges
        v[:, :2] = np.floor(v[:, :2]) + 0.5
    return v, np.asarray(s.faces)


def iou(a, b) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return float((a & b).sum() / (a | b).sum())


CAM = Camera(f=600.0, cx=160.0, cy=120.0, z0=6.0)
CROP = Crop(x0=110.0, y0=30.0, side=180.0, size=256)

# ---------------------------------------------------------------------------------------------------
# Exactness
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_matches_winding_number_on_random_meshes(seed):
    rng = np.random.default_rng(seed)
    res = int(rng.integers(12, 20))
    v, f = random_star_mesh(rng, res)
    got = voxelize_grid(torch.from_numpy(v), f, res).numpy()
    ref = inside_reference(v, f, res)
    assert ref.sum() > 50
    np.testing.assert_array_equal(got, ref)


def test_ties_resolved_like_an_infinitesimal_shift():
    # Columns pass exactly through vertices and edges; the result must equal that of the mesh moved
    # by (-δ, -δ²), i.e. of the columns moved by the perturbation the tie rule simulates, and that
    # tie-free result must equal the winding-number reference.
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        v, f = random_star_mesh(rng, 16, snap=True)
        got = voxelize_grid(torch.from_numpy(v), f, 16).numpy()
        shifted = v - np.array([1e-6, 1e-12, 0.0])
        got_shifted = voxelize_grid(torch.from_numpy(shifted), f, 16).numpy()
        np.testing.assert_array_equal(got, got_shifted)
        np.testing.assert_array_equal(got_shifted, inside_reference(shifted, f, 16))


def test_batch_equals_single_meshes(rng):
    v0, f = random_star_mesh(rng, 16)
    batch = np.stack([v0, v0 * 0.9 + 1.1, v0[:, [1, 0, 2]]])
    got = voxelize_grid(torch.from_numpy(batch), f, 16)
    assert got.shape == (3, 16, 16, 16) and got.dtype == torch.bool
    for b in range(3):
        np.testing.assert_array_equal(got[b].numpy(), voxelize_grid(torch.from_numpy(batch[b]), f, 16).numpy())


def test_self_intersecting_mesh_is_the_union():
    # Two overlapping spheres in one mesh (like a posed body's intersecting limbs): the winding number
    # fills the overlap, where crossing parity would leave a hollow.
    a = trimesh.creation.icosphere(subdivisions=2, radius=6.0)
    c0, c1 = np.array([7.2, 10.1, 9.7]), np.array([12.4, 10.1, 10.3])
    v = np.concatenate([a.vertices + c0, a.vertices + c1])
    f = np.concatenate([a.faces, a.faces + len(a.vertices)])
    assert check_watertight(f, v).oriented
    occ = voxelize_grid(torch.tensor(v), f, 20).numpy()
    np.testing.assert_array_equal(occ, inside_reference(v, f, 20))
    d0, d1 = (np.linalg.norm(centres(20) - c, axis=-1) for c in (c0, c1))
    assert occ[(d0 < 5.5) & (d1 < 5.5)].all()  # the overlap is solid
    assert iou(occ, (d0 < 6) | (d1 < 6)) >= 0.9


def test_misoriented_closed_mesh_uses_parity(rng):
    # Randomly flipped faces: closed but not oriented. Parity still gives the solid (it does not
    # self-intersect): compare with the winding number of the correctly oriented mesh.
    v, f = random_star_mesh(rng, 16)
    flipped = f.copy()
    sel = rng.random(len(f)) < 0.3
    flipped[sel] = flipped[sel][:, ::-1]
    report = check_watertight(flipped, v)
    assert report.closed and report.watertight and not report.oriented and report.misoriented_edges > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = voxelize_grid(torch.from_numpy(v), flipped, 16).numpy()
    np.testing.assert_array_equal(got, inside_reference(v, f, 16))


def test_hand_checked_box_axis_order():
    # A box covering x in [2, 5], y in [1, 3], z in [4, 8]: exactly those voxel centres, indexed [z, y, x].
    box = trimesh.creation.box(bounds=[[2, 1, 4], [5, 3, 8]])
    occ = voxelize_grid(torch.tensor(box.vertices), box.faces, 10).numpy()
    want = np.zeros((10, 10, 10), bool)
    want[4:8, 1:3, 2:5] = True
    np.testing.assert_array_equal(occ, want)


def test_float32_agrees_with_float64(rng):
    v, f = random_star_mesh(rng, 24)
    a = voxelize_grid(torch.from_numpy(v), f, 24)
    b = voxelize_grid(torch.from_numpy(v).float(), f, 24)
    assert (a != b).sum() <= 2  # only voxel centres within float32 rounding of the surface may differ


def test_chunked_enumeration_matches(monkeypatch, rng):
    import bodynet_cli.geometry.voxelize as vx

    v, f = random_star_mesh(rng, 20)
    full = voxelize_grid(torch.from_numpy(v), f, 20, conservative=True)
    monkeypatch.setattr(vx, "_CHUNK_PAIRS", 97)
    np.testing.assert_array_equal(voxelize_grid(torch.from_numpy(v), f, 20, conservative=True).numpy(), full.numpy())


# ---------------------------------------------------------------------------------------------------
# Analytic solids
# ---------------------------------------------------------------------------------------------------


def _solid(name: str):
    """(mesh in 64³ grid coordinates, analytic inside test on (N, 3) points)."""
    c = np.array([31.7, 32.4, 32.2])
    if name == "sphere":
        m = trimesh.creation.icosphere(subdivisions=5, radius=25.0)
        return m, lambda p: np.linalg.norm(p - c, axis=1) < 25.0
    if name == "box":
        m = trimesh.creation.box(extents=[40.3, 22.6, 51.1])
        return m, lambda p: (np.abs(p - c) < np.array([40.3, 22.6, 51.1]) / 2).all(1)
    if name == "cylinder":  # axis along x: side walls cross the z columns obliquely
        m = trimesh.creation.cylinder(radius=18.0, height=50.0, sections=256)
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
        return m, lambda p: (np.hypot(p[:, 1] - c[1], p[:, 2] - c[2]) < 18.0) & (np.abs(p[:, 0] - c[0]) < 25.0)
    if name == "torus":  # tilted, so the hole is seen obliquely
        m = trimesh.creation.torus(major_radius=19.0, minor_radius=8.0, major_sections=128, minor_sections=64)
        rot = trimesh.transformations.rotation_matrix(0.6, [1, 0.3, 0])
        m.apply_transform(rot)

        def inside(p, rot=rot):
            q = (p - c) @ rot[:3, :3]  # back into the torus frame
            return (np.hypot(q[:, 0], q[:, 1]) - 19.0) ** 2 + q[:, 2] ** 2 < 64.0

        return m, inside
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["sphere", "box", "cylinder", "torus"])
def test_analytic_solids(name):
    mesh, inside = _solid(name)
    v = mesh.vertices + np.array([31.7, 32.4, 32.2])
    assert check_watertight(mesh.faces, v).watertight
    occ = voxelize_grid(torch.tensor(v, dtype=torch.float32), mesh.faces, 64).numpy()
    ref = inside(centres(64).reshape(-1, 3)).reshape(64, 64, 64)
    assert iou(occ, ref) >= 0.98, iou(occ, ref)
    if name == "box":  # flat faces between voxel centres: exact
        np.testing.assert_array_equal(occ, ref)


def test_camera_space_sphere_is_analytic():
    # A sphere in front of the camera: occupied exactly where the voxel centre, mapped back to camera
    # metres, is inside the sphere (up to the icosphere's polygonal approximation).
    centre = np.array([0.1, -0.05, 6.2])
    m = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    occ = voxelize_camera(torch.tensor(m.vertices + centre), m.faces, CAM, CROP, 64).numpy()
    pts = grid_to_camera(centres(64).reshape(-1, 3), CAM, CROP, 64)
    ref = (np.linalg.norm(pts - centre, axis=1) < 0.5).reshape(64, 64, 64)
    assert ref.sum() > 1000
    assert iou(occ, ref) >= 0.98, iou(occ, ref)


def test_camera_space_mesh_partly_outside_the_grid():
    # A sphere cut by the crop's right edge and reaching past the grid's far depth: what lies inside
    # the grid is still exact (columns that start inside the body are filled from the first slice).
    centre = np.array([1.2, 0.0, 6.6])
    m = trimesh.creation.icosphere(subdivisions=4, radius=0.6)
    occ = voxelize_camera(torch.tensor(m.vertices + centre), m.faces, CAM, CROP, 32).numpy()
    pts = grid_to_camera(centres(32).reshape(-1, 3), CAM, CROP, 32)
    ref = (np.linalg.norm(pts - centre, axis=1) < 0.6).reshape(32, 32, 32)
    g = camera_to_grid(m.vertices + centre, CAM, CROP, 32)
    assert g[:, 0].max() > 32 and g[:, 2].max() > 32  # really outside, in x and in depth
    assert ref[-1].any() and ref[:, :, -1].any()
    assert iou(occ, ref) >= 0.97, iou(occ, ref)


def test_camera_space_box_is_exact_and_depth_is_not_affine():
    # A big rotated box: its faces are planes in camera space, so inside is four half-space tests, exact.
    box = trimesh.creation.box(extents=[0.9, 1.4, 1.2])
    box.apply_transform(trimesh.transformations.euler_matrix(0.5, 0.7, 0.2))
    v = box.vertices + [0.0, 0.1, 6.0]
    occ = voxelize_camera(torch.tensor(v), box.faces, CAM, CROP, 48).numpy()
    pts = grid_to_camera(centres(48).reshape(-1, 3), CAM, CROP, 48)
    normals, origins = box.face_normals, v[box.faces[:, 0]]
    ref = (np.einsum("pc,fc->pf", pts, normals) < (origins * normals).sum(1)).all(1).reshape(48, 48, 48)
    np.testing.assert_array_equal(occ, ref)
    # Grid z is not affine in camera depth: voxelizing the grid-mapped vertices as straight triangles errs.
    affine = voxelize_grid(camera_to_grid(torch.tensor(v), CAM, CROP, 48), box.faces, 48).numpy()
    assert (affine != ref).sum() > 50


@pytest.mark.parametrize("seed", range(2))
def test_camera_space_matches_winding_number(seed):
    # Exact in BodyNet space: the winding number of the camera-space mesh at voxel centres mapped back.
    rng = np.random.default_rng(10 + seed)
    res = 20
    v_grid, f = random_star_mesh(rng, res)
    v_cam = grid_to_camera(v_grid, CAM, CROP, res)  # a mesh of straight triangles in camera metres
    got = voxelize_camera(torch.from_numpy(v_cam), f, CAM, CROP, res).numpy()
    w = winding_number(grid_to_camera(centres(res).reshape(-1, 3), CAM, CROP, res), v_cam, f)
    assert np.abs(w - np.round(w)).max() < 1e-6
    ref = (np.round(w) != 0).reshape(res, res, res)
    np.testing.assert_array_equal(got, ref)


def test_camera_rejects_points_behind_camera():
    m = trimesh.creation.icosphere(subdivisions=1, radius=0.5)
    with pytest.raises(BodyNetError, match="behind the camera"):
        voxelize_camera(torch.tensor(m.vertices + [0, 0, 0.2]), m.faces, CAM, CROP, 16)


# ---------------------------------------------------------------------------------------------------
# Conservative mode
# ---------------------------------------------------------------------------------------------------


def test_conservative_matches_clipping_reference(rng):
    res = 12
    v, f = random_star_mesh(rng, res)
    exact = voxelize_grid(torch.from_numpy(v), f, res).numpy()
    cons = voxelize_grid(torch.from_numpy(v), f, res, conservative=True).numpy()
    touched = np.zeros((res, res, res), bool)
    for tri in v[f]:
        lo, hi = np.floor(tri.min(0)).astype(int), np.floor(tri.max(0)).astype(int)
        for x in range(max(lo[0], 0), min(hi[0], res - 1) + 1):
            for y in range(max(lo[1], 0), min(hi[1], res - 1) + 1):
                for z in range(max(lo[2], 0), min(hi[2], res - 1) + 1):
                    if not touched[z, y, x] and clip_touches(tri, np.array([x, y, z]), np.array([x, y, z]) + 1.0):
                        touched[z, y, x] = True
    np.testing.assert_array_equal(cons, exact | touched)
    assert (cons & ~exact).sum() > 100


def test_conservative_camera_contains_exact():
    m = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    v = torch.tensor(m.vertices + [0.0, 0.0, 6.0])
    exact = voxelize_camera(v, m.faces, CAM, CROP, 32)
    cons = voxelize_camera(v, m.faces, CAM, CROP, 32, conservative=True)
    assert bool((cons | exact).eq(cons).all()) and cons.sum() > exact.sum()
    # Every added voxel touches the sphere's shell: its centre is within one voxel diagonal of it.
    pts = grid_to_camera(centres(32)[(cons & ~exact).numpy()], CAM, CROP, 32)
    r = np.linalg.norm(pts - [0.0, 0.0, 6.0], axis=1)
    h = 6.0 * 180.0 / (600.0 * 32)
    assert np.all(np.abs(r - 0.4) < np.sqrt(3) * h * 1.1)


# ---------------------------------------------------------------------------------------------------
# Open and empty meshes
# ---------------------------------------------------------------------------------------------------


def test_open_mesh_detected_and_voted():
    m = trimesh.creation.icosphere(subdivisions=4, radius=20.0)
    v = m.vertices + 32.0
    top = np.argsort(-v[m.faces].mean(1)[:, 2])[:6]  # a hole at the top, where z columns leave
    faces = np.delete(m.faces, top, axis=0)
    report = check_watertight(faces, v)
    assert not report.closed and not report.watertight and report.boundary_edges > 0
    ref = np.linalg.norm(centres(64) - 32.0, axis=-1) < 20.0
    with pytest.warns(OpenMeshWarning, match="not closed"):
        voted = voxelize_grid(torch.tensor(v), faces, 64).numpy()
    assert iou(voted, ref) >= 0.98
    # Plain parity would be wrong: the columns through the hole stay "inside" up to the grid's top.
    parity = voxelize_grid(torch.tensor(v), faces, 64, closed=True).numpy()
    assert (parity & ~ref).sum() > 20 * (voted & ~ref).sum() + 20


def test_seam_split_mesh_is_still_watertight():
    m = trimesh.creation.icosphere(subdivisions=2)
    v = m.vertices[m.faces].reshape(-1, 3)  # every face with its own three vertices
    f = np.arange(len(v)).reshape(-1, 3)
    assert not check_watertight(f).watertight  # by index alone: all boundary
    report = check_watertight(f, v)
    assert report.watertight and report.n_vertices == len(v)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        occ = voxelize_grid(torch.tensor(v) * 6 + 8, f, 16)
    assert occ.sum() > 0


def test_empty_mesh_gives_empty_grid():
    report = check_watertight(np.zeros((0, 3), int), np.zeros((0, 3)))
    assert report.empty and not report.watertight and "no triangles" in report.describe()
    occ = voxelize_grid(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), 8)
    assert occ.shape == (8, 8, 8) and not occ.any()


def test_bad_faces_rejected():
    with pytest.raises(BodyNetError, match="outside"):
        voxelize_grid(torch.zeros(3, 3), torch.tensor([[0, 1, 5]]), 8)


# ---------------------------------------------------------------------------------------------------
# Fit transform, parts, files
# ---------------------------------------------------------------------------------------------------


def test_fit_transform_round_trip(rng):
    v = rng.normal(size=(50, 3)) * [0.3, 0.9, 0.2] + [1.0, -2.0, 3.0]
    t = fit_transform(v, 64, margin=2.0)
    g = t.apply(v)
    np.testing.assert_allclose(t.invert(g), v, atol=1e-12)
    lo, hi = g.min(0), g.max(0)
    np.testing.assert_allclose((lo + hi) / 2, 32.0, atol=1e-9)  # centred
    np.testing.assert_allclose((hi - lo).max(), 60.0, atol=1e-9)  # longest side = R - 2·margin
    assert np.argmax(hi - lo) == 1  # axes kept: mesh Y stays grid y
    gt = t.apply(torch.from_numpy(v))
    np.testing.assert_allclose(gt.numpy(), g)
    np.testing.assert_allclose(FitTransform.from_array(t.to_array()).apply(v), g, atol=1e-4)
    with pytest.raises(BodyNetError):
        fit_transform(np.ones((4, 3)), 64)


def test_part_labels_follow_nearest_surface():
    # A sphere whose vertices are labelled by the sign of x: inside, the nearest surface point of a
    # centre has the same sign of x, so labels split at the plane x = centre.
    m = trimesh.creation.icosphere(subdivisions=4, radius=12.0)
    v = m.vertices + 16.3
    labels = np.where(m.vertices[:, 0] < 0, 3, 4)
    occ = voxelize_grid(torch.tensor(v), m.faces, 32)
    parts = label_part_voxels(occ, torch.tensor(v), m.faces, labels).numpy()
    assert parts.dtype == np.uint8
    np.testing.assert_array_equal(parts > 0, occ.numpy())
    x = centres(32)[..., 0] - 16.3
    want = np.where(x < 0, 3, 4)
    wrong = occ.numpy() & (parts != want)
    assert wrong.sum() <= 0.01 * occ.sum().item()
    assert np.all(np.abs(x[wrong]) < 1.0)  # only next to the dividing plane


def test_part_labels_match_brute_force_nearest_point(rng):
    # Reference: the surface densely sampled (barycentric lattices, each point labelled by its
    # triangle's corner of largest weight) and searched exhaustively. Where the labels disagree, the
    # surface carrying our label must be at most the sampling radius (≤ 1/√3 voxel) farther away.
    v, f = random_star_mesh(rng, 14)
    # Parts are contiguous regions, as on a body: cells of three random planes.
    normals = rng.normal(size=(3, 3))
    labels = 1 + ((v - v.mean(0)) @ normals.T > 0) @ np.array([1, 2, 2])
    occ = voxelize_grid(torch.from_numpy(v), f, 14)
    got = label_part_voxels(occ, torch.from_numpy(v), f, labels).numpy()
    n = 24
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    w = np.stack([i[keep], j[keep], n - i[keep] - j[keep]], 1) / n
    pts = np.einsum("lk,fkc->flc", w, v[f]).reshape(-1, 3)
    lab = labels[f][:, np.argmax(w, 1)].reshape(-1)
    zyx = np.argwhere(occ.numpy())
    q = zyx[:, ::-1] + 0.5
    d = np.sqrt(((q[:, None, :] - pts[None]) ** 2).sum(-1))
    ours = got[tuple(zyx.T)]
    ref = lab[d.argmin(1)]
    assert (ours == ref).mean() >= 0.85
    d_ref = d.min(1)
    d_ours = np.where(lab[None, :] == ours[:, None], d, np.inf).min(1)
    assert np.all(d_ours <= d_ref + 1 / np.sqrt(3) + 0.05)


def test_voxels_bit_pack_round_trip(tmp_path, rng):
    v, f = random_star_mesh(rng, 24)
    occ = voxelize_grid(torch.from_numpy(v), f, 24).numpy()
    packed, shape = pack_voxels(occ)
    assert packed.dtype == np.uint8 and packed.size == 24**3 // 8
    np.testing.assert_array_equal(unpack_voxels(packed, shape), occ)
    parts = label_part_voxels(occ, v, f, np.full(len(v), 2)).numpy()
    t = fit_transform(v, 24)
    save_sample(tmp_path / "s.npz", Sample(voxels=occ, part_voxels=parts, fit_transform=t.to_array()))
    back = load_sample(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.voxels, occ)
    np.testing.assert_array_equal(back.part_voxels, parts)
    np.testing.assert_array_equal(back.fit_transform, t.to_array())
