"""The synthetic data's variety: pose library and sampler, photo-like framings, faces and hair, the
person mask, other people. Checked numerically on generated samples of the bundled open body model."""

from collections import Counter

import numpy as np
import pytest

from bodynet_cli.body.load import load_body_model
from bodynet_cli.body.pose_library import (
    DEFAULT_WEIGHTS,
    FAMILIES,
    forward_joints,
    limbs_inside_torso,
    normalised_weights,
    plausible,
    sample_pose,
)
from bodynet_cli.body.poses import POSE_LIMITS
from bodynet_cli.data.synth.appearance import BodyLayout
from bodynet_cli.data.synth.camera import CameraSettings
from bodynet_cli.data.synth.generate import SynthGenerator, SynthSettings, render_fragments
from bodynet_cli.geometry.space import Crop

FRAMING = {name: tuple(float(n == name) for n in ("full", "three_quarter", "upper_body", "close_up", "edge"))
           for name in ("full", "three_quarter", "upper_body", "close_up", "edge")}


@pytest.fixture(scope="module")
def body():
    return load_body_model(None)


@pytest.fixture(scope="module")
def rest_joints(body):
    return BodyLayout.from_model(body.v_template, body.J_regressor, np.asarray(body.vertex_seg15)).rest_joints


def _generator(body, **changes) -> SynthGenerator:
    camera = CameraSettings(**changes.pop("camera", {}))
    return SynthGenerator(body, SynthSettings(seed=11, input_size=64, voxel_res=64, camera=camera, **changes))


# ------------------------------------------------------------------------------------------------ poses


def test_keyframes_inside_limits_and_plausible(rest_joints):
    for family, keys in FAMILIES.items():
        for k, pose in enumerate(keys):
            p = pose.reshape(24, 3)[1:]
            assert (p >= POSE_LIMITS[1:, :, 0] - 1e-6).all() and (p <= POSE_LIMITS[1:, :, 1] + 1e-6).all(), (family, k)
            assert plausible(pose, rest_joints), (family, k)


def test_forward_joints_against_the_body_model(body, rest_joints):
    """The sampler's joint-level forward kinematics matches the body model's joints (zero betas)."""
    import torch

    from bodynet_cli.body.model import BodyModel

    rng = np.random.default_rng(0)
    model = BodyModel(body)
    for _ in range(3):
        pose = sample_pose(rng, rest_joints=rest_joints).pose
        p = torch.as_tensor(pose, dtype=torch.float64)[None]
        with torch.no_grad():
            want = model.double()(torch.zeros(1, body.num_betas, dtype=torch.float64), p[:, :3], p[:, 3:]).joints[0]
        got = forward_joints(pose, rest_joints.astype(np.float64))
        # the model roots the body at its pelvis joint too; compare relative to it
        np.testing.assert_allclose(got - got[0], (want - want[0]).numpy(), atol=1e-4)


def test_arm_through_the_torso_is_rejected(rest_joints):
    """An elbow folded into the chest is caught, and the sampler never returns such a pose."""
    from bodynet_cli.body.pose_library import _p

    bad = _p(l_shoulder=(0, -1.5, 0.0), l_elbow=(0, -2.6, 0))  # forearm straight back into the chest
    assert limbs_inside_torso(forward_joints(bad, rest_joints), 0.07)
    rng = np.random.default_rng(1)
    for _ in range(300):
        d = sample_pose(rng, spread=2.0, rest_joints=rest_joints)
        assert d.rejected == 8 or not limbs_inside_torso(forward_joints(d.pose, rest_joints), 0.07)


def test_sampled_poses_within_limits_deterministic_and_frequencies(rest_joints):
    n = 3000
    rng = np.random.default_rng(5)
    draws = [sample_pose(rng, rest_joints=rest_joints) for _ in range(n)]
    poses = np.stack([d.pose for d in draws])[:, 3:].reshape(n, 23, 3)
    assert (poses >= POSE_LIMITS[1:, :, 0] - 1e-9).all() and (poses <= POSE_LIMITS[1:, :, 1] + 1e-9).all()
    # frequencies: each family within 4 binomial standard deviations of its weight
    p = normalised_weights(None)
    counts = Counter(d.family for d in draws)
    for name, q in zip(FAMILIES, p, strict=True):
        assert abs(counts[name] / n - q) < 4 * np.sqrt(q * (1 - q) / n) + 1e-9, (name, counts[name] / n, q)
    assert 0.45 < np.mean([d.mirrored for d in draws]) < 0.55
    # lying poses are horizontal: the model's up axis turned by ±90°
    lying = [d.pose for d in draws if d.family == "lying"]
    assert lying and all(abs(np.linalg.norm(pp[:3]) - np.pi / 2) < 1e-9 for pp in lying)
    # same seed, same poses; custom weights select the families
    again = [sample_pose(np.random.default_rng(5), rest_joints=rest_joints) for _ in range(1)]
    assert np.array_equal(again[0].pose, draws[0].pose)
    only = {sample_pose(rng, weights={"running": 1.0, "lying": 3.0}).family for _ in range(60)}
    assert only == {"running", "lying"}
    assert set(DEFAULT_WEIGHTS) == set(FAMILIES)


# --------------------------------------------------------------------------------------------- framing


def _ankles_outside(sample) -> bool:
    crop = Crop.from_array(sample.crop)
    ankles = sample.joints2d[[0, 5]]  # BodyNet joints 0 and 5: right and left ankle
    return bool((ankles[:, 1] > crop.y0 + crop.side).all())


def test_upper_body_framing_truncates_the_legs_full_does_not(body):
    standing = {"standing": 1.0}
    upper = _generator(body, pose_weights=standing, tilt_deg=0.0,
                       camera={"framing": FRAMING["upper_body"], "p_elevation": 0.0})
    full = _generator(body, pose_weights=standing, tilt_deg=0.0,
                      camera={"framing": FRAMING["full"], "p_elevation": 0.0})
    R = 64
    for i in range(3):
        u, f = upper.generate(i).sample, full.generate(i).sample
        assert u.meta["framing"] == "upper_body" and f.meta["framing"] == "full"
        assert _ankles_outside(u) and not _ankles_outside(f)
        # the voxels stop at the grid's bottom edge (y grows downwards) only for the cut body
        rows_u, rows_f = u.voxels.any((0, 2)), f.voxels.any((0, 2))
        assert rows_u[R - 1] and not rows_f[R - 2:].any()
        assert not rows_u[:2].any()  # the head end is inside the crop
        # the truncated body is seen larger: more of the grid is body
        assert u.voxels.sum() > f.voxels.sum()


def test_edge_framing_puts_part_of_the_person_outside(body):
    gen = _generator(body, camera={"framing": FRAMING["edge"]})
    for i in range(3):
        s = gen.generate(i).sample
        cols = s.voxels.any((0, 1))
        assert cols[0] or cols[-1]  # the body reaches the grid's left or right edge
        crop = Crop.from_array(s.crop)
        x = s.joints2d[:, 0]
        assert ((x < crop.x0) | (x > crop.x0 + crop.side)).any()


def test_elevation_and_framings_are_recorded(body):
    gen = _generator(body, camera={"p_elevation": 1.0, "elevation_deg": 30.0})
    metas = [gen.generate(i).sample.meta for i in range(6)]
    assert all(abs(m["elevation_deg"]) <= 30.0 for m in metas)
    assert len({m["elevation_deg"] for m in metas}) == 6 and all(m["pose_family"] in FAMILIES for m in metas)


# ------------------------------------------------------------------------------ faces, hair, person mask


def _posed(gen, yaw: float, depth: float = 2.0):
    """The mean body standing upright at ``depth`` metres, turned by ``yaw`` (0: facing the camera)."""
    import torch
    from scipy.spatial.transform import Rotation

    orient = (Rotation.from_rotvec([0, yaw, 0]) * Rotation.from_rotvec([np.pi, 0, 0])).as_rotvec()
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)[None]  # noqa: E731
    out = gen.model(t(np.zeros(gen.body.num_betas)), t(orient), t(np.zeros(69)))
    return out.vertices + t([0.0, 0.0, depth] - out.joints[0, 15].double().numpy())[:, None]  # head on the axis


def _head_view(gen, vertices):
    from bodynet_cli.geometry.space import Camera

    camera = Camera(600.0, 160.0, 120.0, 2.0)
    return camera, Crop(160.0 - 40.0, 120.0 - 45.0, 80.0, gen.settings.input_size)  # about 27 cm around the head


def _flat_light():
    from bodynet_cli.data.synth.appearance import Lighting

    return Lighting(np.array([0, 0, -1], np.float32), np.zeros(3, np.float32), np.ones(3, np.float32))


def _outfit(gen, hair: str, loose: str = "none"):
    import dataclasses

    from bodynet_cli.data.synth.appearance import sample_outfit

    o = sample_outfit(np.random.default_rng(3))
    return dataclasses.replace(o, hair=hair, hair_volume=0.03 if hair != "none" else 0.0, loose=loose,
                               looseness=0.03 if loose != "none" else 0.0)


@pytest.fixture(scope="module")
def plain_gen(body):
    return _generator(body, supersample=1, p_occluder=0.0)


def test_face_only_when_facing_the_camera(plain_gen):
    gen = plain_gen
    outfit = _outfit(gen, "none")  # bald: the back of the head is plain skin
    skin = outfit.textures[0]
    if skin.kind != "plain":
        import dataclasses

        outfit.textures[0] = dataclasses.replace(skin, kind="plain")
    seen = {}
    for name, yaw in (("front", 0.0), ("back", np.pi)):
        v = _posed(gen, yaw)
        camera, crop = _head_view(gen, v)
        bg = np.zeros((gen.settings.input_size,) * 2 + (3,), np.float32)
        image, cover = gen._render([gen._dress(v, outfit)], camera, crop, _flat_light(), bg)
        fi = render_fragments(v, gen.faces, camera, crop, gen.settings.input_size).face_index[0].numpy()
        head = (cover[0] == 1) & (fi >= 0) & (gen.face_seg15[np.maximum(fi, 0)] == 1)  # head pixels
        dist = np.abs(image[head] - outfit.textures[0].colours[0]).max(1)
        seen[name] = int((dist > 0.15).sum())  # pixels clearly not skin: eyes, brows, lips, nostrils
    assert seen["front"] > 20 and seen["back"] <= 2, seen


def test_person_mask_covers_the_body_and_grows_with_hair_and_clothes(plain_gen, body):
    gen = plain_gen
    v = _posed(gen, 0.3, depth=3.0)
    camera, _ = _head_view(gen, v)
    crop = Crop(-20.0, -150.0, 360.0, gen.settings.input_size)  # the whole body
    areas = {}
    for hair, loose in (("none", "none"), ("long", "none"), ("none", "coat"), ("hat", "none")):
        cover = gen._render([gen._dress(v, _outfit(gen, hair, loose))], camera, crop, _flat_light(), None)[1]
        areas[hair, loose] = int((cover[0] >= 0.5).sum())
    bare = areas["none", "none"]
    assert all(a > bare for k, a in areas.items() if k != ("none", "none")), areas
    # generated samples: the mask holds the body's labels, and is larger by the hair and clothes
    grew = 0
    for i in range(6):
        s = gen.generate(i).sample
        body_px = s.segmentation > 0
        assert s.person_mask.shape == s.segmentation.shape and set(np.unique(s.person_mask)) <= {0, 1}
        assert (body_px & (s.person_mask == 0)).sum() <= 0.02 * body_px.sum() + 2
        grew += int(s.person_mask.sum() > body_px.sum())
    assert grew >= 3


# ---------------------------------------------------------------------------------------- other people


def test_other_people_change_the_image_not_the_labels(body):
    alone = _generator(body, p_other=0.0, p_occluder=0.0)
    crowd = _generator(body, p_other=1.0, p_occluder=0.0)
    visible = 0
    for i in range(4):
        a, c = alone.generate(i), crowd.generate(i)
        assert a.sample.meta["other_people"] == [] and len(c.sample.meta["other_people"]) <= 1
        for key in ("joints2d", "joints3d", "segmentation", "person_mask", "voxels", "part_voxels", "crop"):
            assert np.array_equal(getattr(a.sample, key), getattr(c.sample, key)), key
        if c.sample.meta["other_people"]:
            px = c.sample.meta["other_people"][0]["visible_pixels"]
            visible += px > 0
            changed = (np.abs(a.image.astype(int) - c.image.astype(int)).max(2) > 30).sum()
            assert changed >= 0.3 * px  # the second body's pixels (colour jitter aside) differ
    assert visible >= 2


def test_person_mask_in_the_sample_schema(tmp_path):
    from bodynet_cli.errors import BodyNetError
    from bodynet_cli.io.sample import Sample, load_sample, save_sample

    seg = np.zeros((8, 8), np.uint8)
    seg[2:5, 3:6] = 2
    mask = (seg > 0).astype(np.uint8)
    mask[1, 3] = 1
    save_sample(tmp_path / "a.npz", Sample(segmentation=seg, person_mask=mask))
    assert np.array_equal(load_sample(tmp_path / "a.npz").person_mask, mask)
    assert load_sample(tmp_path / "a.npz").person_mask.dtype == np.uint8
    save_sample(tmp_path / "b.npz", Sample(segmentation=seg, person_mask=mask * 3))
    with pytest.raises(BodyNetError, match="0 and 1"):
        load_sample(tmp_path / "b.npz")
    save_sample(tmp_path / "c.npz", Sample(segmentation=seg, person_mask=mask[:4]))
    with pytest.raises(BodyNetError, match="same crop"):
        load_sample(tmp_path / "c.npz")


def test_vertex_normals_by_incidence_match_the_scatter(rng):
    import torch

    from bodynet_cli.data.synth.generate import face_incidence, vertex_normals

    v = torch.as_tensor(rng.normal(size=(1, 40, 3)), dtype=torch.float32)
    f = torch.as_tensor(rng.integers(0, 40, (90, 3)))
    slow = vertex_normals(v, f)
    fast = vertex_normals(v, f, face_incidence(f.numpy(), 40))
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
