import numpy as np
import torch

from bodynet_cli.geometry.space import Camera, Crop, camera_to_grid, grid_to_camera, project, voxel_size_m

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
