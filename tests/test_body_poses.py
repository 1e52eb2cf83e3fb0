"""Pose space: limits respected, base poses sane on the open model, prior shape, mirroring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bodynet_cli.body.conventions import SMPL_JOINT_NAMES
from bodynet_cli.body.load import load_body_model
from bodynet_cli.body.model import BodyModel
from bodynet_cli.body.poses import (
    BASE_POSES,
    POSE_LIMITS,
    base_pose_array,
    joint_limit_penalty,
    mirror_pose,
    pose_prior,
    sample_poses,
)


@pytest.fixture(scope="module")
def model():
    return BodyModel(load_body_model(), torch.float64)


def _within_limits(poses: np.ndarray) -> bool:
    p = poses.reshape(-1, 24, 3)
    return bool(np.all(p >= POSE_LIMITS[..., 0] - 1e-6) and np.all(p <= POSE_LIMITS[..., 1] + 1e-6))


def test_limits_are_mirror_symmetric_and_one_way_for_hinges():
    lim = POSE_LIMITS
    for name in ("knee", "elbow"):
        l, r = SMPL_JOINT_NAMES.index("l_" + name), SMPL_JOINT_NAMES.index("r_" + name)
        axis = 0 if name == "knee" else 1
        # A hinge bends one way only: one bound of its flexion component is 0.
        assert lim[l, axis, 1] == 0 or lim[l, axis, 0] == 0
        np.testing.assert_array_equal(lim[r, 0], lim[l, 0])
        np.testing.assert_array_equal(lim[r, 1:], -lim[l, 1:, ::-1])
    assert np.all(lim[1:, :, 0] < lim[1:, :, 1])


def test_base_poses_within_limits_and_mirror_is_an_involution():
    poses = base_pose_array(mirrored=True)
    assert poses.shape == (2 * len(BASE_POSES), 72) and poses.dtype == np.float32
    assert _within_limits(poses)
    np.testing.assert_array_equal(mirror_pose(mirror_pose(poses)), poses)
    assert np.all(poses[:, :3] == 0)


def test_mirror_pose_mirrors_the_body(model):
    """Posing with the mirrored pose gives the mirror image (x -> -x) of the posed joints."""
    pose = torch.as_tensor(BASE_POSES["waving"])[None].double()
    mirrored = torch.as_tensor(mirror_pose(BASE_POSES["waving"]))[None].double()
    zeros = torch.zeros(1, 10, dtype=torch.float64)
    j = model(zeros, pose[:, :3], pose[:, 3:]).joints[0].numpy()
    jm = model(zeros, mirrored[:, :3], mirrored[:, 3:]).joints[0].numpy()
    from bodynet_cli.body.poses import SMPL_JOINT_FLIP

    # The open model is nearly symmetric (its joints come from a symmetric rig), hence 1 cm.
    np.testing.assert_allclose(jm[SMPL_JOINT_FLIP] * [-1, 1, 1], j, atol=0.01)


def test_base_poses_give_finite_compact_bodies(model):
    poses = torch.as_tensor(base_pose_array(mirrored=False)).double()
    rng = np.random.default_rng(0)
    betas = torch.as_tensor(rng.uniform(-2, 2, (len(poses), 10)))
    out = model(betas, poses[:, :3], poses[:, 3:])
    v = out.vertices.numpy()
    assert np.isfinite(v).all()
    dist = np.linalg.norm(v - out.joints[:, :1].numpy(), axis=-1).max(1)
    assert np.all(dist < 1.5), dict(zip(BASE_POSES, dist.round(2), strict=True))


def test_sample_poses_respects_limits_and_seed(model):
    rng = np.random.default_rng(1)
    poses = sample_poses(rng, 64, spread=1.5)
    assert poses.shape == (64, 72) and poses.dtype == np.float32
    assert _within_limits(poses) and np.all(poses[:, :3] == 0)
    np.testing.assert_array_equal(sample_poses(np.random.default_rng(1), 64, spread=1.5), poses)
    assert np.abs(poses[:, 3:] - poses[:1, 3:]).max() > 0.3  # really random
    exact = sample_poses(rng, 8, spread=0.0)
    assert (exact[:, None] == base_pose_array()[None]).all(-1).any(-1).all()  # spread 0: the base poses
    P = torch.as_tensor(poses[:16]).double()
    v = model(torch.zeros(16, 10, dtype=torch.float64), P[:, :3], P[:, 3:]).vertices
    assert torch.isfinite(v).all() and v.abs().max() < 1.5


def test_pose_prior_low_at_base_poses_high_for_extreme_poses():
    bases = torch.as_tensor(base_pose_array()[:, 3:]).double()
    at_base = pose_prior(bases)
    assert torch.all(at_base < 1e-6)  # within limits and on a mixture centre
    samples = torch.as_tensor(sample_poses(np.random.default_rng(2), 64)[:, 3:]).double()
    typical = pose_prior(samples)
    rng = np.random.default_rng(3)
    extreme = torch.as_tensor(rng.uniform(-3, 3, (64, 69)))
    high = pose_prior(extreme)
    assert typical.median() < 0.2 * high.median()
    # Samples are clipped to the limits in float64, then rounded to float32 (1e-8 rad).
    assert torch.all(joint_limit_penalty(samples) < 1e-12) and torch.all(joint_limit_penalty(extreme) > 0.1)
    # Knees bent the wrong way cost more than the same bend the right way.
    knee = SMPL_JOINT_NAMES.index("l_knee") - 1
    fwd, back = bases[:1].clone(), bases[:1].clone()
    fwd[0, 3 * knee], back[0, 3 * knee] = 1.0, -1.0
    assert pose_prior(back) > pose_prior(fwd) + 50


def test_joint_limit_penalty_matches_a_loop_reference_with_gradients():
    rng = np.random.default_rng(4)
    p = rng.uniform(-3, 3, (5, 69))

    def ref(x: np.ndarray) -> np.ndarray:
        out = np.zeros(len(x))
        for b in range(len(x)):
            for j in range(23):
                for c in range(3):
                    lo, hi = POSE_LIMITS[j + 1, c]
                    v = x[b, 3 * j + c]
                    out[b] += max(lo - v, 0) ** 2 + max(v - hi, 0) ** 2
        return out

    t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    np.testing.assert_allclose(joint_limit_penalty(t).detach().numpy(), ref(p), rtol=1e-12)
    # Points exactly on a limit are excluded: the hinge has a kink there.
    assert torch.autograd.gradcheck(joint_limit_penalty, (t,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradcheck(pose_prior, (t,), eps=1e-6, atol=1e-5)
