"""LBS against a per-vertex loop reference, smplx, scipy; gradients by finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from test_body_helpers import random_smpl_dict

from bodynet_cli.body.conventions import SMPL_PARENTS, SMPL_TO_BODYNET
from bodynet_cli.body.lbs import batch_rigid_transform, batch_rodrigues, lbs
from bodynet_cli.body.load import body_model_from_dict, read_body_model_file
from bodynet_cli.body.model import BodyModel
from bodynet_cli.errors import BodyNetError


def naive_lbs(d: dict, betas: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One body, float64, loops over joints and vertices, rotations from scipy."""
    parents = SMPL_PARENTS
    v_shaped = d["v_template"] + np.tensordot(d["shapedirs"], betas, axes=([2], [0]))
    J = d["J_regressor"] @ v_shaped
    R = Rotation.from_rotvec(pose.reshape(24, 3)).as_matrix()
    if "posedirs" in d:
        feat = np.concatenate([(R[j] - np.eye(3)).ravel() for j in range(1, 24)])
        v_shaped = v_shaped + np.tensordot(d["posedirs"], feat, axes=([2], [0]))
    G = []
    for j in range(24):
        local = np.eye(4)
        local[:3, :3] = R[j]
        local[:3, 3] = J[j] - (J[parents[j]] if j else 0)
        G.append(local if j == 0 else G[parents[j]] @ local)
    verts = np.zeros_like(v_shaped)
    for i in range(len(v_shaped)):
        acc = np.zeros(3)
        for j in range(24):
            acc += d["weights"][i, j] * (G[j][:3, :3] @ (v_shaped[i] - J[j]) + G[j][:3, 3])
        verts[i] = acc
    return verts, np.stack([g[:3, 3] for g in G])


def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


@pytest.mark.parametrize("with_posedirs", [True, False])
def test_lbs_matches_naive_loop(with_posedirs):
    rng = np.random.default_rng(1)
    d = random_smpl_dict(rng, n_verts=37, posedirs=with_posedirs)
    betas = rng.normal(size=(3, 10))
    pose = rng.normal(size=(3, 72)) * 0.7
    pose[1, 6:9] = 0.0  # an exact zero rotation on one joint
    v, j = lbs(_t(betas), _t(pose), _t(d["v_template"]), _t(d["shapedirs"]),
               _t(d["posedirs"]) if with_posedirs else None, _t(d["J_regressor"]), torch.as_tensor(SMPL_PARENTS),
               _t(d["weights"]))
    for b in range(3):
        rv, rj = naive_lbs(d, betas[b], pose[b])
        np.testing.assert_allclose(v[b].numpy(), rv, atol=1e-10)
        np.testing.assert_allclose(j[b].numpy(), rj, atol=1e-10)


def test_lbs_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    d = random_smpl_dict(rng, n_verts=9)
    consts = [_t(d[k]) for k in ("v_template", "shapedirs", "posedirs", "J_regressor")]
    parents, w = torch.as_tensor(SMPL_PARENTS), _t(d["weights"])
    betas = _t(rng.normal(size=(2, 10))).requires_grad_()
    pose = _t(rng.normal(size=(2, 72)) * 0.5)
    pose[0, 9:12] = 0.0  # gradient at the zero rotation too
    pose.requires_grad_()

    def f(b, p):
        v, j = lbs(b, p, *consts, parents, w)
        return v.sum(-1), j

    assert torch.autograd.gradcheck(f, (betas, pose), eps=1e-6, atol=1e-6)


def test_batch_rodrigues_matches_scipy_and_is_smooth_at_zero():
    rng = np.random.default_rng(3)
    r = rng.normal(size=(200, 3)) * rng.choice([1e-9, 1e-4, 1e-2, 1.0, 3.0], size=(200, 1))
    r[0] = 0.0
    for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 2e-6)):
        got = batch_rodrigues(torch.as_tensor(r, dtype=dtype)).double().numpy()
        np.testing.assert_allclose(got, Rotation.from_rotvec(r).as_matrix(), atol=tol)
    # Gradients at and near the zero rotation: finite, and equal to finite differences.
    x = torch.tensor([[0.0, 0.0, 0.0], [1e-5, -2e-5, 3e-6], [0.3, -1.2, 2.0]], dtype=torch.float64,
                     requires_grad=True)
    assert torch.autograd.gradcheck(batch_rodrigues, (x,), eps=1e-7, atol=1e-7)
    (g,) = torch.autograd.grad(batch_rodrigues(x).sum(), x)
    assert torch.isfinite(g).all()


def test_rigid_transform_maps_rest_joints_to_posed_joints():
    rng = np.random.default_rng(4)
    joints = _t(rng.normal(size=(2, 24, 3)))
    rots = batch_rodrigues(_t(rng.normal(size=(48, 3)))).reshape(2, 24, 3, 3)
    posed, rel = batch_rigid_transform(rots, joints, torch.as_tensor(SMPL_PARENTS))
    homo = torch.cat([joints, torch.ones(2, 24, 1, dtype=torch.float64)], -1)
    np.testing.assert_allclose(torch.einsum("bjmn,bjn->bjm", rel, homo)[..., :3].numpy(), posed.numpy(),
                               atol=1e-12)


def test_lbs_equals_smplx_on_the_same_npz(tmp_path):
    smplx = pytest.importorskip("smplx")
    from smplx.utils import Struct

    rng = np.random.default_rng(5)
    # smplx's SMPL layer selects extra joints by SMPL vertex ids, so the model needs SMPL's vertex count.
    d = random_smpl_dict(rng, n_verts=6890)
    path = tmp_path / "random_smpl.npz"
    np.savez(path, **d)
    data = read_body_model_file(path)
    with np.load(path) as z:
        ref_layer = smplx.SMPL(model_path=str(path), data_struct=Struct(**dict(z)), num_betas=10,
                               dtype=torch.float64)
    ours = BodyModel(data, dtype=torch.float64)
    betas = _t(rng.normal(size=(2, 10)))
    orient, transl = _t(rng.normal(size=(2, 3))), _t(rng.normal(size=(2, 3)))
    body_pose = _t(rng.normal(size=(2, 69)) * 0.4)
    ref = ref_layer(betas=betas, global_orient=orient, body_pose=body_pose, transl=transl)
    out = ours(betas, orient, body_pose, transl)
    np.testing.assert_allclose(out.vertices.numpy(), ref.vertices.numpy(), atol=1e-5)
    np.testing.assert_allclose(out.joints.numpy(), ref.joints[:, :24].numpy(), atol=1e-5)
    np.testing.assert_allclose(out.joints16.numpy(), ref.joints[:, SMPL_TO_BODYNET].numpy(), atol=1e-5)


def _model(rng, posedirs=True, dtype=torch.float64) -> BodyModel:
    d = random_smpl_dict(rng, n_verts=40, posedirs=posedirs)
    return BodyModel(body_model_from_dict(d, "random", "random", "0" * 64), dtype=dtype)


def test_body_model_scale_transl_joints_only_and_padding():
    rng = np.random.default_rng(6)
    m = _model(rng)
    betas = _t(rng.normal(size=(3, 10)))
    orient, pose = _t(rng.normal(size=(3, 3))), _t(rng.normal(size=(3, 69)) * 0.3)
    transl, scale = _t(rng.normal(size=(3, 3))), _t(rng.random(3) + 0.5)
    base = m(betas, orient, pose)
    out = m(betas, orient, pose, transl=transl, scale=scale)
    np.testing.assert_allclose(out.vertices.numpy(), (scale[:, None, None] * base.vertices + transl[:, None]).numpy(),
                               atol=1e-12)
    fast = m(betas, orient, pose, transl=transl, scale=scale, joints_only=True)
    assert fast.vertices is None
    np.testing.assert_allclose(fast.joints.numpy(), out.joints.numpy(), atol=1e-12)
    # A vertex subset is posed exactly as in the full mesh (pose blend shapes included).
    idx = torch.as_tensor([0, 7, 8, 21, 39])
    part = m(betas, orient, pose, transl=transl, scale=scale, vertex_index=idx)
    np.testing.assert_allclose(part.vertices.numpy(), out.vertices[:, idx].numpy(), atol=1e-12)
    np.testing.assert_allclose(part.joints.numpy(), out.joints.numpy(), atol=1e-12)
    np.testing.assert_allclose(m.rest_joints(betas).numpy(), m(betas, 0 * orient, 0 * pose).joints.numpy(), atol=1e-12)
    # Shorter betas are zero-padded.
    short = m(betas[:, :4], orient, pose)
    padded = m(torch.cat([betas[:, :4], torch.zeros(3, 6, dtype=torch.float64)], 1), orient, pose)
    np.testing.assert_allclose(short.vertices.numpy(), padded.vertices.numpy(), atol=0)
    # float32 agrees with float64.
    m32 = BodyModel(m.data, dtype=torch.float32)
    out32 = m32(betas.float(), orient.float(), pose.float(), transl.float(), scale.float())
    np.testing.assert_allclose(out32.vertices.double().numpy(), out.vertices.numpy(), atol=1e-5)
    assert m.faces.dtype == torch.long and m.vertex_seg15.shape == (40,) and m.vertex_part7.max() <= 6


def test_body_model_rejects_bad_parameters():
    rng = np.random.default_rng(7)
    m = _model(rng, posedirs=False)
    b, o, p = torch.zeros(2, 10), torch.zeros(2, 3), torch.zeros(2, 69)
    with pytest.raises(BodyNetError, match="NaN"):
        m(b, o, torch.full((2, 69), float("nan")))
    with pytest.raises(BodyNetError, match="batch size"):
        m(b, o[:1], p)
    with pytest.raises(BodyNetError, match="at most 10"):
        m(torch.zeros(2, 11), o, p)
    with pytest.raises(BodyNetError, match="body_pose"):
        m(b, o, torch.zeros(2, 66))
