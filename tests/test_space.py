import numpy as np
import torch

from bodynet_cli.geometry.space import (
    Camera,
    Crop,
    camera_to_grid,
    crop_pixel_centres,
    crops_to_image,
    front_view,
    grid_to_camera,
    project,
    side_view,
    unproject,
    voxel_size_m,
)

CAM = Camera(f=600.0, cx=160.0, cy=120.0, z0=6.0)
CROP = Crop(x0=100.0, y0=40.0, side=150.0, size=256)


def test_round_trip_numpy_and_torch(rng):
    p = rng.normal(size=(100, 3)) * 0.5 + [0, 0, 6.0]
    g = camera_to_grid(p, CAM, CROP, 128)
    np.testing.assert_allclose(grid_to_camera(g, CAM, CROP, 128), p, atol=1e-12)
    gt = camera_to_grid(torch.from_numpy(p), CAM, CROP, 128)
    np.testing.assert_allclose(gt.numpy(), g, atol=1e-12)


def test_hand_checked_points():
    # The pelvis (on the optical axis at depth z0) sits at the grid centre in depth.
    g = camera_to_grid(np.array([0.0, 0.0, 6.0]), CAM, CROP, 128)
    np.testing.assert_allclose(g, [(160 - 100) * 128 / 150, (120 - 40) * 128 / 150, 64.0])
    # x, y are the image projection, rescaled to the grid.
    p = np.array([0.3, -0.2, 5.0])
    uv = project(p, CAM)
    g = camera_to_grid(p, CAM, CROP, 128)
    np.testing.assert_allclose(g[:2], CROP.image_to_crop(uv, 128))
    # One voxel in depth near the pelvis equals one voxel across.
    h = voxel_size_m(CAM, CROP, 128)
    dz = camera_to_grid(np.array([0, 0, 6.0 + h]), CAM, CROP, 128)[2] - 64
    np.testing.assert_allclose(dz, 1.0)


def test_crop_mapping_round_trip(rng):
    uv = rng.random((5, 2)) * 300
    np.testing.assert_allclose(CROP.crop_to_image(CROP.image_to_crop(uv)), uv)
    np.testing.assert_allclose(Crop.from_array(CROP.to_array()).to_array(), CROP.to_array())


def test_unproject_inverts_project_numpy_and_torch(rng):
    p = rng.normal(size=(2, 7, 3)) * 0.5 + [0, 0, 6.0]
    np.testing.assert_allclose(unproject(project(p, CAM), p[..., 2], CAM), p, atol=1e-12)
    cams = np.tile(CAM.to_array().astype(np.float64), (2, 1, 1))  # (B, 1, 4): one camera per sample
    back = unproject(torch.from_numpy(project(p, CAM)), torch.from_numpy(p[..., 2]), torch.from_numpy(cams))
    np.testing.assert_allclose(back.numpy(), p, atol=1e-12)


def test_crop_compose_and_batched_mapping_match_the_loop(rng):
    inner = np.array([10.0, 20.0, 64.0, 32.0])  # a crop in CROP's resized pixels
    c = CROP.compose(inner)
    corners = np.array([[10.0, 20.0], [74.0, 84.0]])  # its corners in CROP's pixels
    np.testing.assert_allclose(c[:2], CROP.crop_to_image(corners)[0])
    np.testing.assert_allclose(c[2], (CROP.crop_to_image(corners)[1] - CROP.crop_to_image(corners)[0])[0])
    assert c[3] == 32.0
    uv = np.array([[3.0, 7.0], [100.0, 250.0]])
    homogeneous = np.c_[uv, np.ones(2)] @ CROP.crop_to_image_matrix().T
    np.testing.assert_allclose(homogeneous[:, :2], CROP.crop_to_image(uv), atol=1e-12)
    crops = np.stack([CROP.to_array(), Crop(5.0, -3.0, 80.0, 128).to_array()]).astype(np.float64)
    uv = rng.random((2, 16, 2)) * 32
    loop = np.stack([Crop.from_array(k).crop_to_image(u, size=32) for u, k in zip(uv, crops, strict=True)])
    np.testing.assert_allclose(crops_to_image(uv, crops, 32), loop, atol=1e-9)
    np.testing.assert_allclose(crops_to_image(torch.from_numpy(uv), torch.from_numpy(crops), 32).numpy(), loop,
                               atol=1e-9)  # fmt: skip


def test_crop_pixel_centres_map_through_original_pixels():
    dst, src = Crop(100.0, 40.0, 150.0, 256), Crop(90.0, 50.0, 120.0, 128)
    u, v = crop_pixel_centres((3, 4), dst, src)
    for i in range(4):  # column centre -> original pixels -> fraction of src
        assert np.isclose(u[i], (dst.x0 + (i + 0.5) / 4 * dst.side - src.x0) / src.side)
    for j in range(3):
        assert np.isclose(v[j], (dst.y0 + (j + 0.5) / 3 * dst.side - src.y0) / src.side)
    u0, v0 = crop_pixel_centres((3, 4))
    np.testing.assert_allclose(u0, (np.arange(4) + 0.5) / 4)
    np.testing.assert_allclose(v0, (np.arange(3) + 0.5) / 3)


def test_views_numpy_and_torch_against_loops(rng):
    grid = rng.random((2, 5, 6, 7))  # (B, R_z, R_y, R_x)
    fv = np.zeros((2, 6, 7))
    sv = np.zeros((2, 6, 5))
    for b in range(2):
        for z in range(5):
            for y in range(6):
                for x in range(7):
                    fv[b, y, x] = max(fv[b, y, x], grid[b, z, y, x])
                    sv[b, y, z] = max(sv[b, y, z], grid[b, z, y, x])
    np.testing.assert_array_equal(front_view(grid), fv)
    np.testing.assert_array_equal(side_view(grid), sv)
    np.testing.assert_array_equal(front_view(torch.from_numpy(grid)).numpy(), fv)
    np.testing.assert_array_equal(side_view(torch.from_numpy(grid)).numpy(), sv)
    occupied = grid > 0.9  # bool grids (the pictures) stay bool
    assert front_view(occupied).dtype == bool and np.array_equal(front_view(occupied), fv > 0.9)
