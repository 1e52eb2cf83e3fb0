"""Marching-cubes isosurface: hand-checked tiny grids, axis order, closure at the border, orientation."""

import numpy as np
import trimesh

from bodynet_cli.geometry.isosurface import isosurface


def _signed_volume(verts, faces):
    return trimesh.Trimesh(verts, faces, process=False).volume


def test_single_voxel_gives_the_octahedron_of_its_face_centres():
    vol = np.zeros((2, 3, 4), dtype=bool)  # [z, y, x]
    vol[1, 2, 3] = True  # voxel x in [3, 4), y in [2, 3), z in [1, 2)
    mesh = isosurface(vol)
    want = {(3.0, 2.5, 1.5), (4.0, 2.5, 1.5), (3.5, 2.0, 1.5), (3.5, 3.0, 1.5), (3.5, 2.5, 1.0), (3.5, 2.5, 2.0)}
    assert {tuple(map(float, v)) for v in mesh.vertices} == want  # touches the border: still closed
    assert mesh.faces.shape == (8, 3)
    assert _signed_volume(mesh.vertices, mesh.faces) > 0  # outward-facing
    assert mesh.vertices.dtype == np.float32 and mesh.faces.dtype == np.int64


def test_ball_is_watertight_outward_and_has_the_right_volume_and_centre():
    r, c = 6.0, np.array([9.0, 10.0, 11.0])  # (x, y, z); different per axis to catch an axis swap
    z, y, x = np.meshgrid(*[np.arange(22) + 0.5] * 3, indexing="ij")
    occ = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 < r**2
    mesh = isosurface(occ)
    t = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert t.is_watertight
    assert abs(t.volume - occ.sum()) < 0.03 * occ.sum()  # marching cubes cuts the voxel corners a little
    np.testing.assert_allclose(mesh.vertices.mean(0), c, atol=0.05)
    dist = np.linalg.norm(mesh.vertices - c, axis=1)
    assert np.abs(dist - r).max() < 1.0  # every vertex within a voxel of the true sphere


def test_probabilities_put_the_surface_at_the_level_crossing():
    # A 1-D ramp along x: the value crosses 0.5 at x = 2.5 + (0.5 - 0.2) / 0.6 = 3.0 (centres at i + 0.5).
    vol = np.zeros((3, 3, 6), dtype=np.float32)
    vol[:, :, 2], vol[:, :, 3:] = 0.2, 0.8
    mesh = isosurface(vol, level=0.5)
    interior = mesh.vertices[(mesh.vertices[:, 1] > 0.6) & (mesh.vertices[:, 1] < 2.4)
                             & (mesh.vertices[:, 2] > 0.6) & (mesh.vertices[:, 2] < 2.4)]
    left = interior[interior[:, 0] < 4.5]
    assert len(left) > 0
    np.testing.assert_allclose(left[:, 0], 3.0, atol=1e-5)


def test_empty_and_full_below_level_give_empty_meshes():
    for vol in (np.zeros((4, 4, 4)), np.full((4, 4, 4), 0.3)):
        mesh = isosurface(vol)
        assert mesh.vertices.shape == (0, 3) and mesh.faces.shape == (0, 3)


def test_step_size_two_is_coarser():
    z, y, x = np.meshgrid(*[np.arange(24) + 0.5] * 3, indexing="ij")
    occ = (x - 12) ** 2 + (y - 12) ** 2 + (z - 12) ** 2 < 64
    fine, coarse = isosurface(occ), isosurface(occ, step_size=2)
    assert len(coarse.vertices) < 0.5 * len(fine.vertices)
    np.testing.assert_allclose(coarse.vertices.mean(0), 12.0, atol=0.3)
