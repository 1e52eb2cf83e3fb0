"""Pictures for ``predict --viz``: ray-cast depth against a loop, projections, shading, the panel."""

import numpy as np

from bodynet_cli.body.conventions import NUM_JOINTS
from bodynet_cli.geometry.space import Crop, front_view, side_view
from bodynet_cli.viz.draw import (
    draw_skeleton,
    first_crossing_depth,
    overlay_segmentation,
    rotate_volume_y,
    shade_depth,
)
from bodynet_cli.viz.panel import render_panel


def _first_crossing_loop(vol, level):
    r = vol.shape[0]
    out = np.full(vol.shape[1:], np.nan)
    for y in range(vol.shape[1]):
        for x in range(vol.shape[2]):
            prev, prev_z = 0.0, -0.5  # outside the grid counts as 0, one step before centre 0.5
            for k in range(r):
                if vol[k, y, x] > level:
                    out[y, x] = prev_z + (level - prev) / (vol[k, y, x] - prev)
                    break
                prev, prev_z = vol[k, y, x], k + 0.5
    return out


def test_first_crossing_depth_matches_loop(rng):
    vol = rng.random((9, 7, 5)) ** 3
    np.testing.assert_allclose(first_crossing_depth(vol, 0.5), _first_crossing_loop(vol, 0.5), atol=1e-12)


def test_first_crossing_of_a_linear_ramp_is_exact():
    # values rise linearly along z: 0.1 per voxel, centre k + 0.5 has 0.1 * (k + 0.5); level 0.5 at z = 5
    z = np.arange(12) + 0.5
    vol = np.broadcast_to((0.1 * z)[:, None, None], (12, 3, 4))
    np.testing.assert_allclose(first_crossing_depth(vol, 0.5), 5.0)


def test_projections_and_rotation():
    vox = np.zeros((8, 8, 8), bool)
    vox[2, 3, 5] = True  # z=2, y=3, x=5
    assert front_view(vox)[3, 5] and front_view(vox).sum() == 1
    assert side_view(vox)[3, 2] and side_view(vox).sum() == 1  # (y, z)
    vol = np.zeros((9, 9, 9), np.float32)
    vol[4, 4, 8] = 1.0  # on the x axis through the centre
    rot = rotate_volume_y(vol, 90.0)
    z, y, x = np.unravel_index(np.argmax(rot), rot.shape)
    assert (y, x) == (4, 4) and z in (0, 8)  # a quarter turn moves it onto the z axis


def test_shading_is_brightest_facing_the_light():
    yy, xx = np.mgrid[:41, :41] - 20.0
    r2 = xx**2 + yy**2
    depth = np.where(r2 < 400, 30 - np.sqrt(np.maximum(400 - r2, 0)), np.nan)  # a sphere's front
    shade = shade_depth(depth, light=(0, 0, -1))
    assert shade[20, 20] > 0.99 and shade[20, 20] >= shade[np.isfinite(depth)].max() - 1e-9
    assert shade[0, 0] == 0 and shade[20, 38] < 0.6


def test_skeleton_overlay_and_panel(rng):
    img = np.zeros((64, 64, 3), np.uint8)
    joints = rng.uniform(8, 56, size=(NUM_JOINTS, 2))
    drawn = draw_skeleton(img, joints)
    for x, y in joints:
        assert drawn[int(y), int(x)].max() > 0  # every joint is marked where it is
    seg = np.zeros((16, 16), np.uint8)
    seg[:8] = 2
    over = overlay_segmentation(np.full((64, 64, 3), 100, np.uint8), seg)
    assert (over[:32] != 100).any(axis=-1).all() and (over[32:] == 100).all()
    probs = np.zeros((16, 16, 16), np.float32)
    probs[4:12, 2:14, 6:10] = 0.9
    crop = Crop(10.0, 20.0, 128.0, 64)
    panel = render_panel(img, crop, crop.crop_to_image(joints), seg, probs)
    assert panel.shape == (64 + 16, 5 * 64, 3) and panel.dtype == np.uint8
    front = panel[16:, 128:192, 0]
    assert front[8:48, 24:40].min() == 255 and front[:, :20].max() == 0  # the box's front silhouette
