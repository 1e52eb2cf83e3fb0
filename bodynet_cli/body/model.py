"""``BodyModel``: an SMPL-format body model as a torch module (buffers + the pure LBS functions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bodynet_cli.body.conventions import SMPL_TO_BODYNET
from bodynet_cli.body.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes, lbs, pose_and_skin
from bodynet_cli.body.model_data import NUM_SMPL_JOINTS, BodyModelData
from bodynet_cli.errors import BodyNetError


@dataclass
class BodyOutput:
    """A posed body.

    vertices: (B, V, 3), or None when only joints were asked for.
    joints:   (B, 24, 3) SMPL joints in SMPL order.
    joints16: (B, 16, 3) the BodyNet joints (``SMPL_TO_BODYNET``).
    """

    vertices: torch.Tensor | None
    joints: torch.Tensor
    joints16: torch.Tensor


class BodyModel(torch.nn.Module):
    """Poses and shapes an SMPL-format body: ``v = scale · LBS(betas, pose) + transl``.

    Parameters are in whatever frame ``global_orient`` rotates the model into: with axis-angle
    (π, 0, 0) the Y-up, +Z-facing model stands upright facing an OpenCV camera (y down, z forward),
    so vertices come out in camera metres once ``transl`` puts the body in front of the camera.
    """

    faces: torch.Tensor
    vertex_seg15: torch.Tensor
    vertex_part7: torch.Tensor

    def __init__(self, data: BodyModelData, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.data = data
        self.num_betas = data.num_betas

        def buf(name: str, a: np.ndarray, dt=dtype) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(a)).to(dt), persistent=False)

        buf("v_template", data.v_template)
        buf("shapedirs", data.shapedirs)
        self.has_posedirs = data.posedirs is not None
        if data.posedirs is not None:
            buf("posedirs", data.posedirs)
        buf("J_regressor", data.J_regressor)
        buf("weights", data.weights)
        buf("parents", data.parents, torch.long)
        self.parent_list = [int(p) for p in data.parents]  # forward kinematics walks it on the host
        buf("faces", data.faces, torch.long)
        buf("vertex_seg15", data.vertex_seg15, torch.long)
        buf("vertex_part7", data.vertex_part7, torch.long)
        buf("smpl_to_bodynet", SMPL_TO_BODYNET, torch.long)
        # Joints are linear in betas: precomputing the regressor applied to the template and the shape
        # directions gives rest joints without building the mesh (the fitter's hot path).
        buf("J_template", data.J_regressor @ data.v_template)  # (24, 3)
        buf("J_shapedirs", np.einsum("jv,vcl->jcl", data.J_regressor, data.shapedirs))  # (24, 3, NB)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def _betas(self, betas: torch.Tensor) -> torch.Tensor:
        if betas.ndim != 2:
            raise BodyNetError(f"betas must have shape (B, NB), got {tuple(betas.shape)}")
        nb = betas.shape[1]
        if nb > self.num_betas:
            raise BodyNetError(f"betas has {nb} coefficients but the body model {self.data.name} has "
                               f"{self.num_betas}; pass at most {self.num_betas}")
        if nb < self.num_betas:  # missing coefficients are zero (the mean shape along them)
            betas = torch.nn.functional.pad(betas, (0, self.num_betas - nb))
        return betas.to(self.v_template.dtype)

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """Rest-pose joints of shapes ``betas`` (B, ≤NB) in model space: (B, 24, 3)."""
        betas = self._betas(betas)
        return self.J_template + torch.einsum("bl,jcl->bjc", betas, self.J_shapedirs)

    def _check(self, **params: torch.Tensor | None) -> int:
        sizes = {k: v.shape[0] for k, v in params.items() if v is not None}
        if len(set(sizes.values())) > 1:
            raise BodyNetError("body parameters disagree on the batch size: "
                               + ", ".join(f"{k} {n}" for k, n in sizes.items()))
        bad = [k for k, v in params.items() if v is not None and not bool(torch.isfinite(v).all())]
        if bad:
            raise BodyNetError(f"body parameters {', '.join(bad)} hold NaN or infinite values")
        return next(iter(sizes.values()))

    def forward(
        self,
        betas: torch.Tensor,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        transl: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
        joints_only: bool = False,
        check: bool = True,
        vertex_index: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose and shape the body.

        betas: (B, ≤NB) (zero-padded); global_orient: (B, 3) and body_pose: (B, 69) axis-angle;
        transl: (B, 3) or None (zero); scale: (B,) or None (one).
        ``joints_only`` skips the mesh (``vertices`` is None); ``vertex_index`` (n,) poses only those
        vertices (``vertices`` is (B, n, 3)), without building the rest of the mesh; ``check=False`` skips
        the NaN and batch checks (they synchronise with the GPU) for inner optimisation loops.
        """
        if check:
            self._check(betas=betas, global_orient=global_orient, body_pose=body_pose, transl=transl, scale=scale)
            shapes_ok = (
                global_orient.ndim == 2 and global_orient.shape[1] == 3
                and body_pose.ndim == 2 and body_pose.shape[1] == 3 * (NUM_SMPL_JOINTS - 1)
                and (transl is None or (transl.ndim == 2 and transl.shape[1] == 3))
                and (scale is None or scale.ndim == 1)
            )
            if not shapes_ok:
                raise BodyNetError(
                    "body parameters must be global_orient (B, 3), body_pose (B, 69), transl (B, 3), scale (B,); "
                    f"got {tuple(global_orient.shape)}, {tuple(body_pose.shape)}, "
                    f"{None if transl is None else tuple(transl.shape)}, "
                    f"{None if scale is None else tuple(scale.shape)}"
                )
        dt = self.v_template.dtype
        pose = torch.cat([global_orient, body_pose], dim=1).to(dt)
        betas = self._betas(betas)
        if joints_only or vertex_index is not None:
            # Joints from the precomputed joint regressor, then (optionally) skinning of a vertex subset.
            B = pose.shape[0]
            rot_mats = batch_rodrigues(pose.reshape(-1, 3)).reshape(B, NUM_SMPL_JOINTS, 3, 3)
            joints, rel = batch_rigid_transform(rot_mats, self.rest_joints(betas), self.parent_list)
            vertices = None
            if not joints_only:
                i = vertex_index
                v_shaped = self.v_template[i] + blend_shapes(betas, self.shapedirs[i])
                posedirs = self.posedirs[i] if self.has_posedirs else None
                vertices = pose_and_skin(v_shaped, rot_mats, rel, self.weights[i], posedirs)
        else:
            vertices, joints = lbs(
                betas, pose, self.v_template, self.shapedirs, self.posedirs if self.has_posedirs else None,
                self.J_regressor, self.parent_list, self.weights,
            )
        if scale is not None:
            s = scale.to(dt)[:, None, None]
            joints = joints * s
            vertices = None if vertices is None else vertices * s
        if transl is not None:
            t = transl.to(dt)[:, None, :]
            joints = joints + t
            vertices = None if vertices is None else vertices + t
        return BodyOutput(vertices=vertices, joints=joints, joints16=joints[:, self.smpl_to_bodynet])
