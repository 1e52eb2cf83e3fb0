"""The SMPL-format body model as plain numpy arrays (one record for SMPL and the open model alike)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bodynet_cli.body.conventions import SEG_TO_VOXEL_PART, SMPL_PART_TO_SEG
from bodynet_cli.errors import BodyNetError

NUM_SMPL_JOINTS = 24
NUM_POSE_BLEND = 9 * (NUM_SMPL_JOINTS - 1)  # 207: (R - I) of the 23 non-root joints


@dataclass(frozen=True, eq=False)
class BodyModelData:
    """An SMPL-format body model (docs/formats.md, body models), model space Y-up, facing +Z, metres.

    v_template:  float (V, 3) rest-pose vertices of the mean shape.
    shapedirs:   float (V, 3, NB) shape blend shapes (per unit beta).
    posedirs:    float (V, 3, 207) pose blend shapes over the 23 non-root (R - I), or None.
    J_regressor: float (24, V) dense joint regressor.
    weights:     float (V, 24) skinning weights (rows sum to 1).
    parents:     int64 (24,) parent joint index, root = -1.
    faces:       int64 (F, 3) triangles.
    name:        a human-readable name (file stem or "open").
    sha256:      hex digest of the source file (identifies the model in output files).
    source:      the file it was read from (for messages).
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray | None
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray
    name: str
    sha256: str
    source: str = ""
    # Derived labels, computed once (the record is frozen).
    vertex_parts24: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.validate()
        object.__setattr__(self, "vertex_parts24", np.argmax(self.weights, axis=1).astype(np.int64))

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def vertex_seg15(self) -> np.ndarray:
        """int64 (V,) segmentation class (1..14) of each vertex: the part of its dominant joint."""
        return SMPL_PART_TO_SEG[self.vertex_parts24]

    @property
    def vertex_part7(self) -> np.ndarray:
        """int64 (V,) voxel part (1..6) of each vertex."""
        return SEG_TO_VOXEL_PART[self.vertex_seg15]

    @property
    def model_id(self) -> str:
        """``name@sha256[:12]``: what output files record as the body model."""
        return f"{self.name}@{self.sha256[:12]}"

    def validate(self) -> None:
        """Check every shape, dtype and value; a problem raises ``BodyNetError`` naming the key."""
        where = self.source or self.name

        def fail(key: str, arr, expected: str) -> None:
            raise BodyNetError(
                f"{where}: key {key!r} has shape {tuple(np.shape(arr))}, expected {expected}; "
                "is this an SMPL-format body model?"
            )

        def check_float(key: str, arr) -> None:
            if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
                raise BodyNetError(f"{where}: key {key!r} must be a floating-point array, got "
                                   f"{getattr(arr, 'dtype', type(arr).__name__)}")
            if not np.all(np.isfinite(arr)):
                raise BodyNetError(f"{where}: key {key!r} holds NaN or infinite values; the file is corrupt")

        v = self.v_template
        check_float("v_template", v)
        if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 4:
            fail("v_template", v, "(V, 3)")
        nv = v.shape[0]
        check_float("shapedirs", self.shapedirs)
        if self.shapedirs.ndim != 3 or self.shapedirs.shape[:2] != (nv, 3) or self.shapedirs.shape[2] < 1:
            fail("shapedirs", self.shapedirs, f"({nv}, 3, NB)")
        if self.posedirs is not None:
            check_float("posedirs", self.posedirs)
            if self.posedirs.shape != (nv, 3, NUM_POSE_BLEND):
                fail("posedirs", self.posedirs, f"({nv}, 3, {NUM_POSE_BLEND})")
        check_float("J_regressor", self.J_regressor)
        if self.J_regressor.shape != (NUM_SMPL_JOINTS, nv):
            fail("J_regressor", self.J_regressor, f"({NUM_SMPL_JOINTS}, {nv})")
        check_float("weights", self.weights)
        if self.weights.shape != (nv, NUM_SMPL_JOINTS):
            fail("weights", self.weights, f"({nv}, {NUM_SMPL_JOINTS})")
        p = self.parents
        if not isinstance(p, np.ndarray) or p.dtype != np.int64 or p.shape != (NUM_SMPL_JOINTS,):
            fail("kintree_table", p, f"(2, {NUM_SMPL_JOINTS}) integer")
        # A parent must come before its child: forward kinematics walks the joints in order.
        if p[0] != -1 or np.any(p[1:] < 0) or np.any(p[1:] >= np.arange(1, NUM_SMPL_JOINTS)):
            raise BodyNetError(f"{where}: key 'kintree_table' is not a tree rooted at joint 0 with parents "
                               f"before children (parents {p.tolist()})")
        f = self.faces
        if not isinstance(f, np.ndarray) or f.dtype != np.int64 or f.ndim != 2 or f.shape[1] != 3:
            fail("f", f, "(F, 3) integer")
        if f.size and (f.min() < 0 or f.max() >= nv):
            raise BodyNetError(f"{where}: key 'f' indexes vertices outside 0..{nv - 1}; the file is corrupt")
