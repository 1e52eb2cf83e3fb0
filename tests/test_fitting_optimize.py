"""The staged fit: its helpers against obvious references, and seeded round trips through voxels."""

import numpy as np
import pytest
import torch
from fit_helpers import camera_joints, make_sample
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from bodynet_cli.body.conventions import JOINT_FLIP, PELVIS, SMPL_TO_BODYNET
from bodynet_cli.body.load import load_body_model
from bodynet_cli.body.model import BodyModel
from bodynet_cli.errors import BodyNetError
from bodynet_cli.fitting.optimize import FitOptions, farthest_point_indices, fit_bodies, kabsch
from bodynet_cli.fitting.targets import estimate_grid_scale, target_from_sample
from bodynet_cli.geometry.space import Camera, Crop, voxel_size_m
from bodynet_cli.io.sample import Sample


@pytest.fixture(scope="module")
def model():
    return BodyModel(load_body_model())


@pytest.fixture(scope="module")
def reference(model):
    with torch.no_grad():
        return model.rest_joints(torch.zeros(1, model.num_betas))[0, SMPL_TO_BODYNET].numpy()


def test_farthest_point_indices_match_a_loop(rng):
    pts = rng.normal(size=(200, 3))
    got = farthest_point_indices(pts, 17)
    chosen = [int(np.argmin(pts[:, 1]))]
    while len(chosen) < 17:
        d = [min(np.sum((p - pts[c]) ** 2) for c in chosen) for p in pts]
        chosen.append(int(np.argmax(d)))
    np.testing.assert_array_equal(got, np.sort(chosen))
    np.testing.assert_array_equal(farthest_point_indices(pts[:5], 17), np.arange(5))


def test_kabsch_recovers_a_rotation(rng):
    R = Rotation.random(random_state=3).as_matrix()
    src = rng.normal(size=(7, 3))
    dst = src @ R.T + np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(kabsch(src, dst), R, atol=1e-10)
    mirrored = src * np.array([-1.0, 1.0, 1.0])  # no rotation maps onto a mirror image: still a rotation
    assert np.linalg.det(kabsch(src, mirrored)) == pytest.approx(1.0)


def test_estimate_grid_scale_is_exact_for_a_scaled_skeleton(reference):
    s = 0.0173  # metres per grid unit
    R = Rotation.from_rotvec([np.pi, 0.4, 0.0]).as_matrix()
    joints_m = reference.astype(np.float64) @ R.T
    grid = joints_m.copy()
    grid[:, :2] /= s  # x, y in grid units, z stays metres (the "grid" frame)
    assert estimate_grid_scale(grid, reference.astype(np.float64)) == pytest.approx(s, rel=1e-9)


def test_target_from_sample_is_on_the_body_in_camera_metres(model, reference):
    sample = make_sample(model, seed=5)
    t = target_from_sample(sample, "x.npz", 500, np.random.default_rng(0), reference)
    assert t.frame == "camera" and t.points.shape == (500, 3)
    cam, crop = Camera.from_array(sample.camera), Crop.from_array(sample.crop)
    voxel = voxel_size_m(cam, crop, 128)
    assert t.voxel_size == pytest.approx(voxel)
    np.testing.assert_allclose(t.joints, camera_joints(sample), atol=1e-5)
    # Every isosurface point lies within about a voxel of the true surface (here: of its vertices,
    # which are denser than a voxel).
    d, _ = cKDTree(sample.vertices).query(t.points)
    assert np.median(d) < 0.5 * voxel and d.max() < 1.5 * voxel


def test_target_from_sample_reports_bad_inputs(reference):
    good = dict(joints3d=np.zeros((16, 3), np.float32), crop=np.array([0, 0, 100, 256], np.float32))
    with pytest.raises(BodyNetError, match="bad.npz: the voxel grid is empty"):
        target_from_sample(Sample(voxels=np.zeros((8, 8, 8), bool), **good), "bad.npz", 100,
                           np.random.default_rng(0), reference)
    with pytest.raises(BodyNetError, match="missing key 'joints3d'"):
        target_from_sample(Sample(voxels=np.ones((8, 8, 8), bool), crop=good["crop"]), "bad.npz", 100,
                           np.random.default_rng(0), reference)
    with pytest.raises(BodyNetError, match="neither 'voxels' nor 'voxel_probs'"):
        target_from_sample(Sample(**good), "bad.npz", 100, np.random.default_rng(0), reference)


def test_round_trip_known_body_to_voxels_to_fit(model, reference):
    """Known parameters -> voxels -> fit, twice in one batch: once with the joints as they are and once
    with their left and right swapped (the front/back hypothesis must undo the swap).

    Tolerance: the isosurface of a binary grid stands up to half a voxel off the true surface; a fit
    that recovers the body to the data's resolution has a mean per-vertex error below one voxel
    (about 14-19 mm here) and its pelvis-aligned joints are within half a voxel on average.
    """
    sample = make_sample(model, seed=11)
    swapped = make_sample(model, seed=11)
    swapped.joints3d = swapped.joints3d[JOINT_FLIP]
    rng = np.random.default_rng(0)
    targets = [target_from_sample(s, "x", 3000, rng, reference) for s in (sample, swapped)]
    fits = fit_bodies(model, targets, FitOptions())
    voxel = targets[0].voxel_size
    gt_joints = camera_joints(sample)
    for fit, flipped in zip(fits, (False, True), strict=True):
        assert fit.meta["flipped"] is flipped
        assert fit.meta["frame"] == "camera"
        v_err = np.linalg.norm(fit.vertices - sample.vertices, axis=1).mean()
        j = fit.joints[SMPL_TO_BODYNET]
        j_err = np.linalg.norm((j - j[PELVIS]) - (gt_joints - gt_joints[PELVIS]), axis=1).mean()
        assert v_err < voxel, (v_err, voxel)
        assert j_err < 0.5 * voxel, (j_err, voxel)
        # The stored parameters reproduce the stored vertices.
        with torch.no_grad():
            out = model(*(torch.as_tensor(a)[None] for a in (fit.betas, fit.global_orient, fit.body_pose,
                                                            fit.transl)))
        np.testing.assert_allclose(out.vertices[0].numpy(), fit.vertices, atol=1e-5)
        assert set(fit.loss) == {"target_to_model", "model_to_target", "joints", "pose_prior", "shape_prior"}


def test_round_trip_without_camera_estimates_the_scale(model, reference):
    """Without a camera the grid is orthographic with a free scale. The true grid is a perspective
    one, so the estimate can only be as good as that approximation: within 5 % here (4-10 m away),
    and the pelvis-aligned body within a few voxels."""
    sample = make_sample(model, seed=3)
    cam, crop = Camera.from_array(sample.camera), Crop.from_array(sample.crop)
    true_voxel = voxel_size_m(cam, crop, 128)
    sample.camera = None
    t = target_from_sample(sample, "x", 3000, np.random.default_rng(0), reference)
    assert t.frame == "grid"
    (fit,) = fit_bodies(model, [t], FitOptions())
    assert fit.meta["frame"] == "grid"
    assert fit.meta["voxel_size_m"] == pytest.approx(true_voxel, rel=0.05)
    gt = make_sample(model, seed=3)
    gj = camera_joints(gt)
    j = fit.joints[SMPL_TO_BODYNET]
    err = np.linalg.norm((fit.vertices - j[PELVIS]) - (gt.vertices - gj[PELVIS]), axis=1).mean()
    assert err < 3 * true_voxel, (err, true_voxel)


def test_target_from_sample_prefers_the_saved_probabilities(model, reference):
    sample = make_sample(model, seed=5)
    probs = gaussian_filter(sample.voxels.astype(np.float32), 0.7).astype(np.float16)
    sample.voxel_probs = probs
    sample.voxels = np.zeros_like(sample.voxels)  # would be empty: the probabilities must be the source
    t = target_from_sample(sample, "x.npz", 500, np.random.default_rng(0), reference)
    voxel = t.voxel_size
    d, _ = cKDTree(make_sample(model, seed=5).vertices).query(t.points)
    assert np.median(d) < voxel
