"""A small watertight SMPL-format body for fast tests of the synthetic-data pipeline.

Capsules around an SMPL-like rest skeleton (Y-up, facing +Z, metres), merged into one closed surface
by marching cubes on the union's distance field; each vertex follows the joint at the head of its
nearest bone, as docs/formats.md (body models) asks of the open model. About 5k vertices: quick to pose and render.
"""

from __future__ import annotations

import numpy as np

from bodynet_cli.body.model_data import BodyModelData

# SMPL order (conventions.SMPL_JOINT_NAMES); the person's left is +x.
_JOINTS = np.array([
    [0, 0.95, 0], [0.09, 0.87, 0], [-0.09, 0.87, 0], [0, 1.07, -0.01], [0.10, 0.49, 0], [-0.10, 0.49, 0],
    [0, 1.20, 0], [0.10, 0.09, -0.02], [-0.10, 0.09, -0.02], [0, 1.28, 0.01], [0.11, 0.03, 0.11],
    [-0.11, 0.03, 0.11], [0, 1.49, -0.01], [0.07, 1.41, 0], [-0.07, 1.41, 0], [0, 1.56, 0.03],
    [0.18, 1.42, -0.01], [-0.18, 1.42, -0.01], [0.44, 1.42, -0.02], [-0.44, 1.42, -0.02],
    [0.68, 1.42, 0], [-0.68, 1.42, 0], [0.76, 1.42, 0], [-0.76, 1.42, 0],
])  # fmt: skip
_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])


def _bones() -> list[tuple[np.ndarray, np.ndarray, float, int]]:
    """(start, end, radius, owning joint) of every capsule."""
    J = _JOINTS
    out = [(J[1], J[2], 0.10, 0), (J[0], J[3], 0.13, 0)]
    for side in (0, 1):  # left, right
        hip, knee, ankle, foot = (1, 4, 7, 10) if side == 0 else (2, 5, 8, 11)
        collar, sh, el, wr, hand = (13, 16, 18, 20, 22) if side == 0 else (14, 17, 19, 21, 23)
        sgn = 1.0 if side == 0 else -1.0
        out += [(J[hip], J[knee], 0.075, hip), (J[knee], J[ankle], 0.055, knee), (J[ankle], J[foot], 0.045, ankle),
                (J[foot], J[foot] + [0, 0, 0.07], 0.04, foot), (J[collar], J[sh], 0.055, collar),
                (J[sh], J[el], 0.05, sh), (J[el], J[wr], 0.04, el), (J[wr], J[hand], 0.035, wr),
                (J[hand], J[hand] + [sgn * 0.07, 0, 0], 0.03, hand)]
    out += [(J[3], J[6], 0.13, 3), (J[6], J[9], 0.14, 6), (J[9], J[12], 0.13, 9), (J[12], J[15], 0.055, 12),
            (J[15] + [0, 0.07, 0], J[15] + [0, 0.12, 0], 0.1, 15)]
    return out


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def toy_body_model(step: float = 0.02) -> BodyModelData:
    """The toy body: a watertight mesh with faces counter-clockwise seen from outside."""
    import trimesh
    from skimage.measure import marching_cubes

    bones = _bones()
    lo, hi = np.array([-0.95, -0.1, -0.3]), np.array([0.95, 1.9, 0.35])
    axes = [np.arange(lo[i], hi[i] + step, step) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    d = np.stack([_segment_distance(grid, a, b) - r for a, b, r, _ in bones], -1)
    sdf = d.min(1).reshape(len(axes[0]), len(axes[1]), len(axes[2]))
    verts, faces, _, _ = marching_cubes(sdf, 0.0, spacing=(step,) * 3)
    verts = verts + lo
    mesh = trimesh.Trimesh(verts, faces, process=False)
    if mesh.volume < 0:
        mesh.invert()
    v = np.asarray(mesh.vertices, np.float64)
    f = np.asarray(mesh.faces, np.int64)
    dv = np.stack([_segment_distance(v, a, b) - r for a, b, r, _ in bones], -1)
    owner = np.array([j for *_, j in bones])[dv.argmin(1)]
    weights = np.eye(24)[owner]
    # joints: mean of the vertices near each joint; the joints with no vertex of their own (feet tips
    # aside) still get their nearest vertices
    dist = np.linalg.norm(v[None] - _JOINTS[:, None], axis=-1)  # (24, V)
    reg = (dist < np.sort(dist, axis=1)[:, [40]]).astype(np.float64)
    reg /= reg.sum(1, keepdims=True)
    # shape directions: height, girth, then gentle smooth fields
    rng = np.random.default_rng(0)
    nb = 10
    shapedirs = np.zeros((len(v), 3, nb))
    shapedirs[:, 1, 0] = 0.06 * (v[:, 1] - 0.95)
    axis_pt = np.stack([v - (v - a - np.clip(((v - a) @ (b - a)) / max((b - a) @ (b - a), 1e-12), 0, 1)[:, None]
                             * (b - a) - a) for a, b, _, _ in bones], 1)[np.arange(len(v)), dv.argmin(1)]
    shapedirs[:, :, 1] = 0.08 * (v - axis_pt)
    for k in range(2, nb):
        w = rng.normal(size=(3, 3))
        shapedirs[:, :, k] = 0.004 * np.sin(v @ w * 4.0)
    return BodyModelData(v_template=v, shapedirs=shapedirs, posedirs=None, J_regressor=reg, weights=weights,
                         parents=_PARENTS.astype(np.int64), faces=f, name="toy", sha256="0" * 64)


def save_toy_body_model(path, step: float = 0.02) -> None:
    """Write the toy body as an SMPL-format ``.npz`` (what ``--body-model`` reads)."""
    m = toy_body_model(step)
    kintree = np.stack([m.parents, np.arange(24)]).astype(np.int64)
    kintree[0, 0] = 0  # the loader sets the root's parent
    np.savez(path, v_template=m.v_template, shapedirs=m.shapedirs, J_regressor=m.J_regressor, weights=m.weights,
             kintree_table=kintree, f=m.faces)
