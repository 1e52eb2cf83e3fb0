"""Linear blend skinning as pure torch functions (SMPL's formulation), float32/float64, CPU/GPU, differentiable.

Model space is the body model's own: Y up, the body faces +Z, metres.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# Below this squared angle the Rodrigues coefficients use their Taylor series: exact to float64 precision
# and with finite gradients at the zero rotation (sqrt has none there).
_SMALL_ANGLE2 = 1e-6


def batch_rodrigues(rotvecs: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors to rotation matrices.

    rotvecs: (N, 3) axis × angle (radians).
    Returns (N, 3, 3) with R = I + a·K + b·K², K the cross-product matrix of ``rotvecs``,
    a = sin θ / θ, b = (1 − cos θ) / θ².
    """
    theta2 = (rotvecs * rotvecs).sum(-1)
    small = theta2 < _SMALL_ANGLE2
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    a = torch.where(small, 1 - theta2 / 6 + theta2 * theta2 / 120, torch.sin(theta) / theta)
    # 2 sin²(θ/2) avoids the cancellation of 1 − cos θ in float32.
    half_sin = torch.sin(theta / 2)
    b = torch.where(small, 0.5 - theta2 / 24 + theta2 * theta2 / 720, 2 * half_sin * half_sin / theta**2)
    x, y, z = rotvecs.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=rotvecs.dtype, device=rotvecs.device)
    return eye + a[:, None, None] * K + b[:, None, None] * (K @ K)


def blend_shapes(betas: torch.Tensor, shapedirs: torch.Tensor) -> torch.Tensor:
    """Per-vertex offsets of the shape coefficients.

    betas: (B, NB); shapedirs: (V, 3, NB). Returns (B, V, 3).
    """
    return torch.einsum("bl,vcl->bvc", betas, shapedirs)


def vertices2joints(J_regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Joints as fixed linear combinations of vertices.

    J_regressor: (J, V); vertices: (B, V, 3). Returns (B, J, 3).
    """
    return torch.einsum("jv,bvc->bjc", J_regressor, vertices)


def batch_rigid_transform(
    rot_mats: torch.Tensor, joints: torch.Tensor, parents: torch.Tensor | Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward kinematics of a joint tree.

    rot_mats: (B, J, 3, 3) local rotations (joint 0's is global); joints: (B, J, 3) rest joint
    positions; parents: (J,) ints (a list avoids a GPU sync), parents[0] = -1, parents before children.
    Returns ``(posed_joints (B, J, 3), rel_transforms (B, J, 4, 4))``; ``rel_transforms[:, j]`` maps a
    rest-pose point rigidly attached to joint j to its posed position (the skinning transform).
    """
    B, J = joints.shape[:2]
    parent_list = parents.tolist() if isinstance(parents, torch.Tensor) else [int(p) for p in parents]
    rel_joints = joints.clone()
    rel_joints[:, 1:] = joints[:, 1:] - joints[:, parent_list[1:]]
    local = torch.zeros(B, J, 4, 4, dtype=rot_mats.dtype, device=rot_mats.device)
    local[:, :, :3, :3] = rot_mats
    local[:, :, :3, 3] = rel_joints
    local[:, :, 3, 3] = 1
    chain = [local[:, 0]]
    for j in range(1, J):
        chain.append(chain[parent_list[j]] @ local[:, j])
    world = torch.stack(chain, dim=1)  # (B, J, 4, 4)
    posed_joints = world[:, :, :3, 3]
    # Subtract the rotated rest joint so the transform applies to rest-pose coordinates.
    offset = torch.einsum("bjmn,bjn->bjm", world[:, :, :3, :3], joints)
    rel = world.clone()
    rel[:, :, :3, 3] = posed_joints - offset
    return posed_joints, rel


def pose_and_skin(
    v_shaped: torch.Tensor,
    rot_mats: torch.Tensor,
    rel: torch.Tensor,
    weights: torch.Tensor,
    posedirs: torch.Tensor | None,
) -> torch.Tensor:
    """Pose blend shapes and skinning of shaped rest vertices (the whole mesh or any subset of it).

    v_shaped: (B, V, 3) rest vertices with the shape blend applied; rot_mats: (B, J, 3, 3) local
    rotations; rel: (B, J, 4, 4) skinning transforms from ``batch_rigid_transform``; weights: (V, J);
    posedirs: (V, 3, (J−1)·9) or None. Returns the posed vertices (B, V, 3).
    """
    B, J = rot_mats.shape[:2]
    if posedirs is not None:
        eye = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
        pose_feature = (rot_mats[:, 1:] - eye).reshape(B, -1)  # (B, (J-1)·9), row-major per joint
        v_shaped = v_shaped + torch.matmul(posedirs.reshape(-1, posedirs.shape[-1]), pose_feature.T).T.reshape(
            v_shaped.shape
        )
    # Blend the joints' 3×4 transforms per vertex; a plain matmul is ~2× faster than einsum here.
    T = torch.matmul(weights, rel[:, :, :3, :].reshape(B, J, 12)).reshape(B, -1, 3, 4)  # (B, V, 3, 4)
    return (T[..., :3] @ v_shaped[..., None])[..., 0] + T[..., 3]


def lbs(
    betas: torch.Tensor,
    pose: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor | None,
    J_regressor: torch.Tensor,
    parents: torch.Tensor | Sequence[int],
    weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SMPL body: shape blend, joint regression, pose blend, skinning.

    betas: (B, NB); pose: (B, J·3) axis-angle per joint (joint 0 = global orientation);
    v_template: (V, 3); shapedirs: (V, 3, NB); posedirs: (V, 3, (J−1)·9) or None;
    J_regressor: (J, V); parents: (J,); weights: (V, J).
    Returns ``(vertices (B, V, 3), joints (B, J, 3))`` in model space.
    """
    B = betas.shape[0]
    J = J_regressor.shape[0]
    v_shaped = v_template + blend_shapes(betas, shapedirs)
    rest_joints = vertices2joints(J_regressor, v_shaped)
    rot_mats = batch_rodrigues(pose.reshape(-1, 3)).reshape(B, J, 3, 3)
    joints, rel = batch_rigid_transform(rot_mats, rest_joints, parents)
    return pose_and_skin(v_shaped, rot_mats, rel, weights, posedirs), joints
