"""Shared helpers of the body tests: a small random SMPL-like model (not a test module itself)."""

from __future__ import annotations

import numpy as np

from bodynet_cli.body.conventions import SMPL_PARENTS


def random_smpl_dict(rng: np.random.Generator, n_verts: int = 60, n_betas: int = 10, posedirs: bool = True) -> dict:
    """The SMPL file keys of a random 24-joint model: random template, weights, regressor, blend shapes."""
    v = rng.normal(size=(n_verts, 3)) * 0.3
    w = rng.random((n_verts, 24)) ** 4  # a few dominant joints per vertex, like real skinning
    w /= w.sum(1, keepdims=True)
    jr = rng.random((24, n_verts)) * (rng.random((24, n_verts)) < 0.2)
    jr[np.arange(24), rng.integers(0, n_verts, 24)] += 1.0  # no empty rows
    jr /= jr.sum(1, keepdims=True)
    kintree = np.stack([SMPL_PARENTS.copy(), np.arange(24)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # what the official files store for the root
    d = {
        "v_template": v,
        "shapedirs": rng.normal(size=(n_verts, 3, n_betas)) * 0.03,
        "J_regressor": jr,
        "weights": w,
        "kintree_table": kintree,
        "f": rng.integers(0, n_verts, size=(2 * n_verts, 3)).astype(np.uint32),
    }
    if posedirs:
        d["posedirs"] = rng.normal(size=(n_verts, 3, 207)) * 0.01
    return d
