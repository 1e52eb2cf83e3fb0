"""The synthetic-data building blocks: body sampling, cameras and crops, clothing, backgrounds."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bodynet_cli.body.load import load_body_model
from bodynet_cli.data.synth.appearance import (
    HAIR,
    LOWER,
    SHOES,
    SKIN,
    UPPER,
    BodyLayout,
    corrupt,
    evaluate_texture,
    sample_lighting,
    sample_outfit,
    shade,
    vertex_regions,
)
from bodynet_cli.data.synth.backgrounds import photo_library, sample_background
from bodynet_cli.data.synth.bodies import sample_betas, sample_orientation
from bodynet_cli.data.synth.camera import CameraSettings, grow_crop, sample_camera, sample_crop
from bodynet_cli.geometry.space import project


def test_betas_clipped_and_extremes(rng):
    draws = [sample_betas(rng, 10) for _ in range(2000)]
    normal = np.array([b for b, e in draws if not e])
    extreme = np.array([b for b, e in draws if e])
    assert np.abs(normal).max() <= 2.5 and 0.85 < normal.std() < 1.0  # clipping trims the tails only
    assert 0.07 < len(extreme) / len(draws) < 0.13
    assert (np.abs(extreme[:, :2]) >= 2.5).all() and (np.abs(extreme[:, :2]) <= 3.5).all()


def test_orientation_upright_any_yaw_small_tilt(rng):
    yaws = []
    for _ in range(500):
        R = Rotation.from_rotvec(sample_orientation(rng, tilt_deg=8.0)).as_matrix()
        up = R @ np.array([0.0, 1.0, 0.0])  # the model's up in camera axes: about -y (y points down)
        assert np.degrees(np.arccos(-up[1])) <= 8.0 * np.sqrt(1.25) + 1e-6
        fwd = R @ np.array([0.0, 0.0, 1.0])  # where the person faces
        yaws.append(np.arctan2(fwd[0], -fwd[2]))
    hist, _ = np.histogram(yaws, bins=8, range=(-np.pi, np.pi))
    assert hist.min() > 30  # every direction


def test_camera_and_crop_contain_the_body(rng):
    s = CameraSettings()
    for _ in range(200):
        cam, pelvis = sample_camera(rng, s)
        assert s.depth[0] <= cam.z0 <= s.depth[1] and abs(cam.f / 600 - 1) <= 0.1 + 1e-9
        u, v = project(pelvis, cam)
        assert 0 < u < 320 and 0 < v < 240 and np.isclose(pelvis[2], cam.z0)
        pts = pelvis + rng.normal(0, 0.5, (50, 3)) * [0.4, 1.0, 0.3]
        uv = project(pts, cam)
        crop = sample_crop(rng, uv, 128, s)
        inside = (uv >= [crop.x0, crop.y0]) & (uv <= [crop.x0 + crop.side, crop.y0 + crop.side])
        assert inside.all()
        box = (uv.max(0) - uv.min(0)).max()
        assert 1.2 * 0.95 * box - 1e-6 <= crop.side <= 1.2 * 1.15 * box + 1e-6
        big = grow_crop(crop, 10 * box)  # about the centre
        assert big.side == 10 * box and np.isclose(big.x0 + big.side / 2, crop.x0 + crop.side / 2)
        assert grow_crop(crop, 0.5 * crop.side) == crop
        for axis, sign in ((0, 1), (0, -1), (1, 1), (1, -1)):  # a cut edge stays where it is
            g = grow_crop(crop, 3 * crop.side, (axis, sign))
            lo, lo_g = (crop.x0, crop.y0)[axis], (g.x0, g.y0)[axis]
            assert np.isclose(lo_g, lo) if sign > 0 else np.isclose(lo_g + g.side, lo + crop.side)


@pytest.fixture(scope="module")
def layout():
    body = load_body_model()
    return BodyLayout.from_model(body.v_template, body.J_regressor, body.vertex_seg15)


def test_clothing_regions(layout):
    rng = np.random.default_rng(1)
    seg = layout.seg15
    for _ in range(30):
        outfit = sample_outfit(rng)
        reg = vertex_regions(layout, outfit)
        assert (reg[np.isin(seg, (11, 14))] == SHOES).all()
        assert (reg[np.isin(seg, (5, 8))] == SKIN).all()  # hands
        assert set(np.unique(reg[seg == 2])) <= {UPPER, LOWER, HAIR}
        assert (reg[seg == 2] == UPPER).mean() > 0.3
        upper_leg = np.isin(seg, (9, 12))
        assert (reg[upper_leg] == LOWER).mean() > (0.9 if outfit.legwear == "trousers" else 0.1)
        if outfit.hair == "none":
            assert not (reg == HAIR).any()
        else:
            assert 0 < (reg[seg == 1] == HAIR).mean() < 0.9
        if outfit.sleeve >= 1.6:  # long sleeves reach the forearm
            assert (reg[np.isin(seg, (4, 7))] == UPPER).mean() > 0.5


def test_textures_shading_corruption_in_range(rng):
    pts = rng.normal(0, 0.3, (500, 3)).astype(np.float32)
    normals = rng.normal(size=(500, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    kinds = set()
    for _ in range(40):
        outfit = sample_outfit(rng)
        for tex in outfit.textures:
            kinds.add(tex.kind)
            a = evaluate_texture(tex, pts)
            assert a.shape == (500, 3) and a.min() >= 0 and a.max() <= 1
            c = shade(a, normals, sample_lighting(rng))
            assert c.min() >= 0 and c.max() <= 1
            # light facing away leaves the ambient term only
            light = sample_lighting(rng)
            np.testing.assert_allclose(shade(a, -light.direction[None].repeat(500, 0), light), a * light.ambient,
                                       atol=1e-6)
    assert kinds == {"plain", "stripes", "checks", "noise"}
    img, info = corrupt(rng, rng.random((32, 32, 3)).astype(np.float32))
    assert img.dtype == np.uint8 and img.shape == (32, 32, 3) and set(info) >= {"blur", "noise", "gain", "jpeg_quality"}


def test_backgrounds_photos_and_procedural():
    assert len(photo_library()) >= 10  # the real photographs scikit-image ships
    kinds = set()
    for seed in range(12):
        bg, kind = sample_background(np.random.default_rng(seed), 64)
        again, _ = sample_background(np.random.default_rng(seed), 64)
        assert bg.shape == (64, 64, 3) and bg.dtype == np.float32 and 0 <= bg.min() and bg.max() <= 1
        assert (bg == again).all() and bg.std() > 0.01
        kinds.add(kind)
    assert kinds == {"photo", "procedural"}
