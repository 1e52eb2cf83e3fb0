"""A compact batched z-buffer rasterizer in torch (CPU and GPU alike).

Screen points are ``(x, y, Z)``: x, y continuous pixel coordinates (pixel i covers [i, i+1), its
centre is i + 0.5, the convention of BodyNet space) and Z the camera depth in metres (> 0). To render
a crop of an image, pass ``camera_to_grid``-style coordinates at the crop's output size: a crop is only
a shifted and scaled principal point.

The work is a gather over (face, pixel) candidate pairs: every face lists the pixel centres of its
bounding box, the pairs are tested with edge functions, and a scatter-min over the pairs keeps the
nearest face per pixel. This suits meshes whose faces cover a few pixels each (bodies at network
resolution); it is exact for any mesh, only slower for large faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Fragments:
    """What each pixel sees.

    face_index: int64 (B, H, W), the visible face, -1 where no face covers the pixel centre.
    bary: float (B, H, W, 3), perspective-correct barycentric weights of that face's corners (0 on background).
    depth: float (B, H, W), camera depth Z in metres (+inf on background).
    """

    face_index: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """bool (B, H, W): pixels covered by some face."""
        return self.face_index >= 0


def rasterize(points: torch.Tensor, faces: torch.Tensor, height: int, width: int,
              cull_backfaces: bool = False) -> Fragments:
    """Z-buffer rasterization of a batch of meshes sharing one topology.

    points: (B, V, 3) screen points (x pixels, y pixels, Z metres > 0).
    faces: int (F, 3) vertex indices.
    height, width: H, W of the output buffers.
    cull_backfaces: skip faces whose corners run clockwise on screen (x right, y down), i.e. faces
        turned away from the camera when the mesh's faces are ordered counter-clockwise seen from
        outside. Exact for closed meshes and halves the work; leave it off for open meshes.
    Returns ``Fragments``. A pixel is covered when its centre lies inside or on a face's edges; ties in
    depth go to the lower face index, so results do not depend on the batch or the device.
    """
    assert points.ndim == 3 and points.shape[-1] == 3, points.shape
    B, device, dtype = points.shape[0], points.device, points.dtype
    faces = faces.to(device=device, dtype=torch.long)
    F = faces.shape[0]
    n_pix = B * height * width

    tri = points[:, faces]  # (B, F, 3 corners, 3)
    x, y, z = tri[..., 0], tri[..., 1], tri[..., 2]  # (B, F, 3)
    # twice the signed area; positive = clockwise in (x right, y down) = counter-clockwise in y-up
    area = (x[..., 1] - x[..., 0]) * (y[..., 2] - y[..., 0]) - (x[..., 2] - x[..., 0]) * (y[..., 1] - y[..., 0])
    # pixel index ranges whose centres i + 0.5 fall in the face's bounding box
    x_lo = torch.ceil(x.amin(-1) - 0.5).clamp(min=0)
    x_hi = torch.floor(x.amax(-1) - 0.5).clamp(max=width - 1)
    y_lo = torch.ceil(y.amin(-1) - 0.5).clamp(min=0)
    y_hi = torch.floor(y.amax(-1) - 0.5).clamp(max=height - 1)
    nx = (x_hi - x_lo + 1).clamp(min=0)
    ny = (y_hi - y_lo + 1).clamp(min=0)
    keep = (area != 0) & (z.amin(-1) > 0) & (nx > 0) & (ny > 0)
    if cull_backfaces:
        keep &= area < 0
    b_idx, f_idx = keep.nonzero(as_tuple=True)
    counts = (nx * ny)[b_idx, f_idx].long()
    total = int(counts.sum())

    face_index = torch.full((n_pix,), -1, dtype=torch.long, device=device)
    bary = torch.zeros((n_pix, 3), dtype=dtype, device=device)
    depth = torch.full((n_pix,), float("inf"), dtype=dtype, device=device)
    if total == 0:
        return Fragments(face_index.view(B, height, width), bary.view(B, height, width, 3),
                         depth.view(B, height, width))

    # expand every kept face into the pixels of its bounding box
    pair = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts)
    start = torch.cumsum(counts, 0) - counts
    k = torch.arange(total, device=device) - start[pair]
    nxp = nx[b_idx, f_idx].long()[pair]
    pb, pf = b_idx[pair], f_idx[pair]
    px = x_lo[pb, pf].long() + k % nxp
    py = y_lo[pb, pf].long() + torch.div(k, nxp, rounding_mode="floor")

    # edge functions at the pixel centres -> screen-space barycentrics
    cx_, cy_ = px.to(dtype) + 0.5, py.to(dtype) + 0.5
    tx, ty, tz = x[pb, pf], y[pb, pf], z[pb, pf]  # (N, 3)
    a = area[pb, pf]
    w0 = (tx[:, 1] - cx_) * (ty[:, 2] - cy_) - (tx[:, 2] - cx_) * (ty[:, 1] - cy_)
    w1 = (tx[:, 2] - cx_) * (ty[:, 0] - cy_) - (tx[:, 0] - cx_) * (ty[:, 2] - cy_)
    w2 = (tx[:, 0] - cx_) * (ty[:, 1] - cy_) - (tx[:, 1] - cx_) * (ty[:, 0] - cy_)
    lam = torch.stack([w0, w1, w2], -1) / a[:, None]
    inside = (lam >= 0).all(-1)
    lam, tz, pb, pf, px, py = lam[inside], tz[inside], pb[inside], pf[inside], px[inside], py[inside]

    # 1/Z is affine in screen space: interpolate it, then correct the weights for perspective
    lz = lam / tz
    inv_z = lz.sum(-1)
    d = 1.0 / inv_z
    pid = (pb * height + py) * width + px
    depth.scatter_reduce_(0, pid, d, reduce="amin")
    nearest = d == depth[pid]
    # ties in depth go to the lowest face index (amax of the negated index)
    best = torch.full((n_pix,), -(F + 1), dtype=torch.long, device=device)
    best.scatter_reduce_(0, pid[nearest], -pf[nearest], reduce="amax")
    win = nearest.clone()
    win[nearest] = pf[nearest] == -best[pid[nearest]]
    face_index[pid[win]] = pf[win]
    bary[pid[win]] = lz[win] / inv_z[win, None]
    return Fragments(face_index.view(B, height, width), bary.view(B, height, width, 3), depth.view(B, height, width))


def interpolate(fragments: Fragments, faces: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """Per-pixel values of per-vertex attributes, weighted by the fragments' barycentrics.

    fragments: from ``rasterize`` (B, H, W).
    faces: int (F, 3).
    attributes: (B, V, C) or (V, C) per-vertex values.
    Returns (B, H, W, C), zero where no face is visible.
    """
    fi = fragments.face_index
    B, H, W = fi.shape
    faces = faces.to(device=fi.device, dtype=torch.long)
    if attributes.ndim == 2:
        attributes = attributes.unsqueeze(0).expand(B, -1, -1)
    C = attributes.shape[-1]
    fg = fi >= 0
    b = torch.arange(B, device=fi.device)[:, None, None].expand(B, H, W)[fg]
    corners = faces[fi[fg]]  # (N, 3)
    vals = attributes[b[:, None], corners]  # (N, 3, C)
    out = torch.zeros((B, H, W, C), dtype=attributes.dtype, device=fi.device)
    out[fg] = (fragments.bary[fg].to(attributes.dtype)[..., None] * vals).sum(1)
    return out
