"""The bundled open body model voxelized in fit mode, against trimesh and the mesh's analytic volume."""

from __future__ import annotations

import numpy as np
import torch
import trimesh

from bodynet_cli.body.load import load_body_model
from bodynet_cli.body.model import BodyModel
from bodynet_cli.geometry.voxelize import check_watertight, fit_transform, label_part_voxels, voxelize_grid


def test_open_body_model_fit_mode_vs_trimesh_and_volume():
    model = load_body_model()
    v, f = model.v_template, model.faces
    assert check_watertight(f, v).watertight
    mesh = trimesh.Trimesh(v, f, process=False)
    pitch = float((v.max(0) - v.min(0)).max()) / 126
    filled = mesh.voxelized(pitch).fill()
    # Our grid placed on trimesh's voxel centres (its index i is our index i + 1).
    m = filled.matrix.transpose(2, 1, 0)  # (x, y, z) -> [z, y, x]
    res = int(max(m.shape)) + 2
    ref = np.zeros((res, res, res), bool)
    ref[1:1 + m.shape[0], 1:1 + m.shape[1], 1:1 + m.shape[2]] = m
    v_grid = torch.tensor((v - filled.transform[:3, 3]) / pitch + 1.5, dtype=torch.float32)
    exact = voxelize_grid(v_grid, f, res).numpy()
    cons = voxelize_grid(v_grid, f, res, conservative=True).numpy()

    # trimesh marks every voxel the surface passes through, like our conservative mode.
    assert (cons & ref).sum() / (cons | ref).sum() >= 0.9
    # Exact mode keeps only centres inside: a subset of trimesh's voxels, with the mesh's volume.
    assert (exact & ref).sum() >= 0.99 * exact.sum()
    assert abs(exact.sum() * pitch**3 / mesh.volume - 1) < 0.03
    assert (cons | exact).sum() == cons.sum()

    # The same through fit_transform (what `bodynet voxelize` does): volume within 3 % at 64³ too.
    for res in (64, 128):
        t = fit_transform(v, res)
        occ = voxelize_grid(torch.tensor(t.apply(v)).float(), f, res)
        assert abs(occ.sum().item() / t.scale**3 / mesh.volume - 1) < 0.03, res


def test_posed_batch_and_part_voxels():
    model = load_body_model()
    body = BodyModel(model)
    g = torch.Generator().manual_seed(0)
    B = 3
    out = body(torch.randn(B, 10, generator=g), torch.zeros(B, 3), torch.randn(B, 69, generator=g) * 0.15)
    t = fit_transform(out.vertices[0], 48)
    grids = voxelize_grid(t.apply(out.vertices), body.faces, 48, closed=True)
    assert grids.shape == (B, 48, 48, 48)
    for b in range(B):
        assert torch.equal(grids[b], voxelize_grid(t.apply(out.vertices[b]), body.faces, 48))
    parts = label_part_voxels(grids[0], t.apply(out.vertices[0]), body.faces, model.vertex_part7)
    assert torch.equal(parts > 0, grids[0])
    assert set(parts.unique().tolist()) == set(range(7))
    # Model space is Y-up: the head (part 1) has larger grid y than the legs (parts 5, 6).
    zyx = {p: (parts == p).nonzero().float().mean(0) for p in (1, 5, 6)}
    assert zyx[1][1] > zyx[5][1] and zyx[1][1] > zyx[6][1]
