"""Exact voxelization of triangle meshes: a voxel is occupied when its centre is inside the mesh.

Unlike ``binvox`` (which also marks every voxel the surface touches, then fills), the default is
volume-accurate: occupancy is decided at voxel centres only. ``conservative=True`` adds the voxels the
surface touches (an exact triangle/box overlap test), which is what ``binvox`` produces.

How: column crossings. Every column of voxel centres along one grid axis is a straight line; its
crossings with the triangles are found by a 2D point-in-triangle test and barycentric interpolation of
the depth, scattered into the column at the first voxel centre at or beyond the crossing, and a running
sum along the column gives inside/outside (see the inside rule below). Ties (a column exactly through
an edge or a vertex) are resolved by symbolic perturbation: the column is treated as moved by an
infinitesimal (δ, δ²) step in its plane, and each edge's side test is computed once from its endpoints
in a canonical order, so two triangles sharing an edge always agree and every crossing is counted
exactly once.

Spaces. The maths runs in a *working space* P whose axes are monotone per-axis functions of the grid
axes, so grid-axis columns are P-axis lines and grid voxels are P-space boxes:

- affine meshes (``voxelize_grid``, ``fit`` mode): P is the grid itself;
- BodyNet space (``voxelize_camera``, docs/formats.md): P = (x, y, q) with x, y the grid's own (an affine
  function of X/Z, Y/Z) and q = Z0·(1 − Z0/Z)·c + R/2, c = f·R/(Z0·S), an affine function of −1/Z
  that equals grid z to first order at the pelvis depth. (X, Y, Z) → (X/Z, Y/Z, −1/Z) is projective,
  so straight camera-space triangles stay straight in P, and the interpolated crossing depth is exact.

Inside rule. For a closed, consistently oriented mesh (the body model) crossings are signed by the
triangle's facing and a voxel is inside where the running sum, the winding number, is non-zero: the
union of overlapping parts, so a posed body whose limbs intersect has no hollow where they overlap. A
closed mesh without a consistent orientation uses parity (exact when it does not self-intersect).
Meshes that are not closed (an edge used by an odd number of faces) make parity wrong along the columns
through a hole. ``check_watertight`` detects them; the voxelizer then warns (``OpenMeshWarning``) and
uses ray voting: parity along all three axes, each axis voting only where its column crosses the
surface an even number of times, the majority deciding. That fills small holes; it cannot invent a
surface where a large part of the mesh is missing.

Grids are bool tensors indexed ``[z, y, x]`` (``[B, z, y, x]`` for batches); index k covers [k, k+1)
and its centre is k + 0.5. Dimension letters: B batch, V vertices, F faces, R resolution.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Camera, Crop, camera_to_grid

# Candidate (triangle, column) pairs processed at once: bounds the memory of big-triangle meshes.
_CHUNK_PAIRS = 1 << 22


class OpenMeshWarning(UserWarning):
    """The mesh is not closed; occupancy came from ray voting, which is robust only to small holes."""


# ----------------------------------------------------------------------------------------------------
# Fit mode
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitTransform:
    """The ``fit`` alignment: grid = scale · mesh + offset, axes kept (mesh X → grid x, Y → y, Z → z).

    Axes are not flipped: every mesh bodynet writes (``fit-smpl``'s ``vertices`` and ``.obj``, sample
    ``vertices``) is already in camera axes (y down, z away from the viewer), like the grid, and
    ``binvox -fit`` keeps axes too. A Y-up mesh therefore appears head-down in ``[z, y, x]`` views.
    scale: grid voxels per mesh unit; offset: (3,) grid coordinates of the mesh origin.
    """

    scale: float
    offset: tuple[float, float, float]

    def apply(self, points):
        """Mesh coordinates (..., 3) (numpy or torch) -> continuous grid coordinates (..., 3)."""
        return points * self.scale + _like(np.asarray(self.offset), points)

    def invert(self, grid_points):
        """Grid coordinates (..., 3) -> mesh coordinates (..., 3); exact inverse of ``apply``."""
        return (grid_points - _like(np.asarray(self.offset), grid_points)) / self.scale

    def to_array(self) -> np.ndarray:
        """float32 (4,): scale, ox, oy, oz (the ``fit_transform`` key of sample files)."""
        return np.array([self.scale, *self.offset], dtype=np.float32)

    @classmethod
    def from_array(cls, a) -> FitTransform:
        s, ox, oy, oz = (float(v) for v in np.asarray(a, dtype=np.float64).ravel()[:4])
        return cls(s, (ox, oy, oz))


def _like(a: np.ndarray, ref):
    if isinstance(ref, torch.Tensor):
        return torch.as_tensor(a, dtype=ref.dtype, device=ref.device)
    return a


def fit_transform(vertices, res: int, margin: float = 1.0) -> FitTransform:
    """Centre the mesh's bounding box in the grid and scale its longest side to ``res - 2·margin`` voxels.

    vertices: (V, 3) mesh coordinates (numpy or torch); res: R; margin: empty voxels kept on each side
    along the longest side.
    """
    v = vertices.detach().cpu().double().numpy() if isinstance(vertices, torch.Tensor) else np.asarray(vertices, float)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise BodyNetError(f"fit mode needs vertices (V, 3) with V > 0, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise BodyNetError("fit mode: the mesh has NaN or infinite vertex coordinates")
    lo, hi = v.min(0), v.max(0)
    extent = float((hi - lo).max())
    if extent <= 0:
        raise BodyNetError("fit mode: the mesh has zero extent (all vertices coincide); nothing to scale")
    if not 0 <= margin < res / 2:
        raise BodyNetError(f"fit margin {margin} must be in [0, {res / 2}) voxels for resolution {res}")
    scale = (res - 2 * margin) / extent
    offset = res / 2 - scale * (lo + hi) / 2
    return FitTransform(scale, tuple(float(o) for o in offset))


# ----------------------------------------------------------------------------------------------------
# Watertightness
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatertightReport:
    """Topology of a triangle mesh, after welding vertices with identical coordinates.

    boundary_edges: edges used by one face; nonmanifold_edges: by three or more; odd_edges: by an odd
    number (what breaks parity); misoriented_edges: edges of two faces that traverse them in the same
    direction (the faces' orientations disagree); degenerate_faces: faces repeating a vertex (ignored).
    """

    n_vertices: int
    n_faces: int
    n_edges: int
    boundary_edges: int
    nonmanifold_edges: int
    odd_edges: int
    misoriented_edges: int
    degenerate_faces: int

    @property
    def empty(self) -> bool:
        return self.n_faces - self.degenerate_faces == 0

    @property
    def closed(self) -> bool:
        """Every edge is used by an even number of faces: column parity is exact."""
        return self.odd_edges == 0

    @property
    def watertight(self) -> bool:
        """Closed and manifold: every edge is used by exactly two faces."""
        return not self.empty and self.boundary_edges == 0 and self.nonmanifold_edges == 0

    @property
    def oriented(self) -> bool:
        """Watertight with consistently oriented faces: the winding-number rule applies."""
        return self.watertight and self.misoriented_edges == 0

    def describe(self) -> str:
        if self.empty:
            return "the mesh has no triangles"
        if self.watertight:
            return "watertight"
        return (f"{self.boundary_edges} boundary edges, {self.nonmanifold_edges} non-manifold edges, "
                f"{self.odd_edges} edges used by an odd number of faces")


def check_watertight(faces, vertices=None) -> WatertightReport:
    """Count the edges of a triangle mesh by how many faces use them.

    faces: int (F, 3); vertices: (V, 3) or None. With vertices, those with identical coordinates are
    welded first (meshes split at texture seams are still closed).
    """
    f = np.asarray(torch.as_tensor(faces).detach().cpu(), dtype=np.int64).reshape(-1, 3)
    n_vertices = 0
    if vertices is not None:
        v = np.asarray(torch.as_tensor(vertices).detach().cpu(), dtype=np.float64).reshape(-1, 3) + 0.0  # -0 -> 0
        n_vertices = len(v)
        if len(v) and len(f):
            rows = np.ascontiguousarray(v).view(np.dtype((np.void, 24))).ravel()  # exact coordinates as bytes
            _, inverse = np.unique(rows, return_inverse=True)
            f = inverse.reshape(-1)[f]
    degenerate = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])
    f = f[~degenerate]
    if len(f) == 0:
        return WatertightReport(n_vertices, len(degenerate), 0, 0, 0, 0, 0, int(degenerate.sum()))
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    base = int(f.max()) + 1
    e = np.sort(directed, axis=1)
    _, counts = np.unique(e[:, 0] * base + e[:, 1], return_counts=True)
    _, directed_counts = np.unique(directed[:, 0] * base + directed[:, 1], return_counts=True)
    return WatertightReport(
        n_vertices=n_vertices,
        n_faces=len(degenerate),
        n_edges=len(counts),
        boundary_edges=int((counts == 1).sum()),
        nonmanifold_edges=int((counts > 2).sum()),
        odd_edges=int((counts % 2 == 1).sum()),
        misoriented_edges=int((directed_counts > 1).sum()),
        degenerate_faces=int(degenerate.sum()),
    )


# ----------------------------------------------------------------------------------------------------
# The working space: per-axis tables of voxel centres and voxel boundaries
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Space:
    """centres: (3, R) P-space coordinate of voxel centres k + 0.5 per axis (x, y, z order), ascending;
    bounds: (3, R + 1) P-space coordinate of voxel boundaries k."""

    centres: torch.Tensor
    bounds: torch.Tensor


def _affine_space(res: int, dtype, device) -> _Space:
    k = torch.arange(res + 1, dtype=dtype, device=device)
    return _Space((k[:-1] + 0.5).expand(3, res).contiguous(), k.expand(3, res + 1).contiguous())


def _camera_depth_constants(camera: Camera, crop: Crop, res: int) -> float:
    """c = f·R/(Z0·S): grid z per metre at the pelvis depth."""
    return camera.f * res / (camera.z0 * crop.side)


def _grid_z_to_q(z: torch.Tensor, camera: Camera, crop: Crop, res: int) -> torch.Tensor:
    """Grid z -> q of P-space; -inf where the grid lies at or behind the camera (never inside a body)."""
    c = _camera_depth_constants(camera, crop, res)
    Z = camera.z0 + (z - res / 2) / c
    q = camera.z0 * (1 - camera.z0 / Z) * c + res / 2
    return torch.where(Z > 0, q, torch.full_like(q, -torch.inf))


def _camera_space(camera: Camera, crop: Crop, res: int, dtype, device) -> _Space:
    aff = _affine_space(res, torch.float64, "cpu")
    centres, bounds = aff.centres.clone(), aff.bounds.clone()
    centres[2] = _grid_z_to_q(centres[2], camera, crop, res)
    bounds[2] = _grid_z_to_q(bounds[2], camera, crop, res)
    return _Space(centres.to(dtype=dtype, device=device), bounds.to(dtype=dtype, device=device))


def _camera_to_working(vertices_cam: torch.Tensor, camera: Camera, crop: Crop, res: int) -> torch.Tensor:
    """Camera metres (..., 3) -> P-space (x, y, q) (..., 3), computed in float64."""
    v = vertices_cam.double()
    if v.numel() and not bool((v[..., 2] > 0).all()):
        raise BodyNetError("the mesh has vertices at or behind the camera (Z <= 0); BodyNet space needs the whole "
                           "body in front of the camera: check transl and the camera's Z0")
    g = camera_to_grid(v, camera, crop, res)
    c = _camera_depth_constants(camera, crop, res)
    q = camera.z0 * (1 - camera.z0 / v[..., 2]) * c + res / 2
    return torch.stack([g[..., 0], g[..., 1], q], dim=-1)


# ----------------------------------------------------------------------------------------------------
# Column crossings
# ----------------------------------------------------------------------------------------------------


def _enumerate(n: torch.Tensor, m: torch.Tensor):
    """Every (t, a, b) with a < n[t], b < m[t], for range sizes n, m: (T,) long. Returns three (N,)."""
    counts = n * m
    t = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(len(t), device=counts.device) - start[t]
    return t, local % n[t], local // n[t]


def _chunks(counts: torch.Tensor):
    """Split triangle indices into consecutive runs whose pair counts sum to about ``_CHUNK_PAIRS``."""
    total = int(counts.sum())
    if total <= _CHUNK_PAIRS:
        yield slice(0, len(counts))
        return
    ends = torch.searchsorted(torch.cumsum(counts, 0), torch.arange(1, total // _CHUNK_PAIRS + 2,
                                                                      device=counts.device) * _CHUNK_PAIRS)
    start = 0
    for e in [*ends.tolist(), len(counts)]:
        e = min(max(int(e), start + 1), len(counts))
        if e > start:
            yield slice(start, e)
            start = e
        if start >= len(counts):
            return


def _column_crossings(P: torch.Tensor, faces: torch.Tensor, space: _Space, axis: int, signed: bool):
    """Crossings along columns parallel to P-axis ``axis`` (0 = x, 1 = y, 2 = z).

    P: (B, V, 3) working-space vertices; faces: long (F, 3). ``signed``: winding numbers (crossings
    signed by the triangle's facing) instead of crossing parity.
    Returns ``(inside, leaks)``: bool (B, R, R, R) ``[z, y, x]``, True where the winding number (or
    parity) of the crossings at or below the voxel centre (along ``axis``) is non-zero; and bool of the
    same rank, size 1 along ``axis``, True for columns whose total is non-zero (a hole or an open mesh).
    """
    B, R = P.shape[0], space.centres.shape[1]
    device = P.device
    a1, a2 = [a for a in (0, 1, 2) if a != axis]
    cu, cv, cd = space.centres[a1], space.centres[a2], space.centres[axis]
    tri = P[:, faces].reshape(-1, 3, 3)  # (B·F, 3 corners, 3 coords)

    # Columns whose centre lies in the triangle's closed 2D bounding box (exact, by table search).
    u_lo = torch.searchsorted(cu, tri[:, :, a1].amin(1), side="left")
    u_hi = torch.searchsorted(cu, tri[:, :, a1].amax(1), side="right")
    v_lo = torch.searchsorted(cv, tri[:, :, a2].amin(1), side="left")
    v_hi = torch.searchsorted(cv, tri[:, :, a2].amax(1), side="right")
    nu, nv = (u_hi - u_lo).clamp(min=0), (v_hi - v_lo).clamp(min=0)
    idx = (nu * nv > 0).nonzero().squeeze(1)  # most small triangles contain no column centre
    tri, u_lo, v_lo, nu, nv = tri[idx], u_lo[idx], v_lo[idx], nu[idx], nv[idx]
    batch = torch.div(idx, len(faces), rounding_mode="floor")
    u, v, d = tri[:, :, a1], tri[:, :, a2], tri[:, :, axis]  # (T, 3)

    # Per edge (i -> i+1): endpoints in canonical (lexicographic) order so both triangles sharing the
    # edge compute bitwise-identical side values; `flip` restores the triangle's own orientation.
    ub, vb = u.roll(-1, 1), v.roll(-1, 1)
    swap = (u > ub) | ((u == ub) & (v > vb))
    lo_u, lo_v = torch.where(swap, ub, u), torch.where(swap, vb, v)
    du, dv = torch.where(swap, u - ub, ub - u), torch.where(swap, v - vb, vb - v)
    flip = 1 - 2 * swap.to(P.dtype)
    # Side of the perturbed column when it lies exactly on the edge's line: sign of the edge function's
    # gradient (-dv, du) along the perturbation direction (1, δ), lexicographically.
    tie = torch.where(dv != 0, -torch.sign(dv), torch.sign(du)) * flip
    area2 = (ub - u)[:, 0] * (v[:, 2] - v[:, 0]) - (vb - v)[:, 0] * (u[:, 2] - u[:, 0])
    per_tri = torch.cat([lo_u, lo_v, du, dv, flip, tie, d], dim=1)  # (T, 21)
    nu = torch.where(area2 != 0, nu, 0)  # triangles seen edge-on cover no column

    shape = [B, R, R, R]  # parity buffer [b, z, y, x] with one slot past the last centre along `axis`
    shape[3 - axis] = R + 1
    strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1]
    # 8-bit sums wrap at 256, which keeps parity and small winding numbers: all the columns need.
    acc = torch.zeros(int(np.prod(shape)), dtype=torch.int8 if signed else torch.uint8, device=device)
    for sl in _chunks(nu * nv):
        t, iu, iv = _enumerate(nu[sl], nv[sl])
        g = per_tri[sl][t]
        iu = iu + u_lo[sl][t]
        iv = iv + v_lo[sl][t]
        pu, pv = cu[iu], cv[iv]
        lo_u, lo_v, du, dv, flip, tie, dd = g.split(3, dim=1)
        e = (du * (pv[:, None] - lo_v) - dv * (pu[:, None] - lo_u)) * flip  # (N, 3) edge functions
        s = torch.where(e != 0, torch.sign(e), tie)
        hit = ((s[:, 0] == s[:, 1]) & (s[:, 1] == s[:, 2])).nonzero().squeeze(1)
        e, dd, facing = e[hit], dd[hit], s[hit, 0]
        # Barycentric weight of corner j is the edge function of the opposite edge (j+1 -> j+2).
        depth = (e[:, 1] * dd[:, 0] + e[:, 2] * dd[:, 1] + e[:, 0] * dd[:, 2]) / e.sum(1)
        k0 = torch.searchsorted(cd, depth, side="left")  # first centre at or beyond the crossing
        flat = batch[sl][t[hit]] * strides[0] + k0 * strides[3 - axis] + iu[hit] * strides[3 - a1] \
            + iv[hit] * strides[3 - a2]
        acc.index_add_(0, flat, facing.to(torch.int8) if signed else torch.ones_like(flat, dtype=torch.uint8))
    # Prefix sum (or XOR) along the column, one slice at a time: contiguous work, unlike cumsum over a
    # middle dimension (which torch runs several times slower on CPU).
    acc = acc.view(shape) if signed else (acc & 1).view(shape)
    for k in range(1, R + 1):
        prev, cur = acc.select(3 - axis, k - 1), acc.select(3 - axis, k)
        cur.add_(prev) if signed else cur.bitwise_xor_(prev)
    return acc.narrow(3 - axis, 0, R) != 0, acc.narrow(3 - axis, R, 1) != 0


def _surface_voxels(P: torch.Tensor, faces: torch.Tensor, space: _Space) -> torch.Tensor:
    """bool (B, R, R, R) ``[z, y, x]``: voxels whose closed box touches a triangle (separating axes)."""
    B, R = P.shape[0], space.centres.shape[1]
    device, dtype = P.device, P.dtype
    tri = P[:, faces].reshape(-1, 3, 3)
    batch = torch.arange(B, device=device).repeat_interleave(len(faces))
    lo, hi, n = [], [], []
    for a in range(3):
        b = space.bounds[a]
        k_lo = torch.searchsorted(b[1:].contiguous(), tri[:, :, a].amin(1).contiguous(), side="left")
        k_hi = torch.searchsorted(b[:-1].contiguous(), tri[:, :, a].amax(1).contiguous(), side="right")
        lo.append(k_lo)
        n.append((k_hi - k_lo).clamp(min=0))
        hi.append(k_hi)
    out = torch.zeros(B * R**3, dtype=torch.bool, device=device)
    counts = n[0] * n[1] * n[2]
    units = torch.eye(3, dtype=dtype, device=device)
    for sl in _chunks(counts):
        t, i0, rest = _enumerate(n[0][sl], n[1][sl] * n[2][sl])
        i1, i2 = rest % n[1][sl][t], rest // n[1][sl][t]
        ix, iy, iz = i0 + lo[0][sl][t], i1 + lo[1][sl][t], i2 + lo[2][sl][t]
        bx, by, bz = space.bounds[0], space.bounds[1], space.bounds[2]
        box_lo = torch.stack([bx[ix], by[iy], bz[iz]], 1)
        box_hi = torch.stack([bx[ix + 1], by[iy + 1], bz[iz + 1]], 1)
        c, h = (box_lo + box_hi) / 2, (box_hi - box_lo) / 2
        vtx = tri[sl][t] - c[:, None, :]  # (N, 3, 3)
        edges = vtx.roll(-1, 1) - vtx
        normal = torch.linalg.cross(edges[:, 0], edges[:, 1])
        axes = torch.linalg.cross(edges[:, :, None, :].expand(-1, 3, 3, 3), units.expand(len(t), 3, 3, 3))
        axes = torch.cat([axes.reshape(-1, 9, 3), normal[:, None, :]], 1)  # (N, 10, 3)
        proj = torch.einsum("nvc,nac->nva", vtx, axes)  # (N, 3, 10)
        radius = torch.einsum("nc,nac->na", h, axes.abs())
        touch = ((proj.amin(1) <= radius) & (proj.amax(1) >= -radius)).all(1)
        # Boxes of grid slices at or behind the camera have infinite bounds: never touched.
        touch &= torch.isfinite(h).all(1)
        flat = ((batch[sl][t] * R + iz) * R + iy) * R + ix
        out[flat[touch]] = True
    return out.view(B, R, R, R)


def _voxelize(P: torch.Tensor, faces: torch.Tensor, space: _Space, conservative: bool, closed: bool | None,
              weld_vertices: torch.Tensor | None) -> torch.Tensor:
    """P: (B, V, 3) working space; returns bool (B, R, R, R)."""
    B, R = P.shape[0], space.centres.shape[1]
    if len(faces) == 0 or P.shape[1] == 0:
        return torch.zeros(B, R, R, R, dtype=torch.bool, device=P.device)
    rule = "winding" if closed else "voting"
    if closed is None:
        report = check_watertight(faces, weld_vertices)
        rule = "winding" if report.oriented else "parity" if report.closed else "voting"
        if rule == "voting":
            warnings.warn(f"mesh is not closed ({report.describe()}); occupancy is by 3-axis ray voting, which "
                          "fills small holes only", OpenMeshWarning, stacklevel=3)
    if rule != "voting":
        occ, _ = _column_crossings(P, faces, space, axis=2, signed=rule == "winding")
    else:
        votes_in = torch.zeros(B, R, R, R, dtype=torch.int8, device=P.device)
        votes_out = torch.zeros_like(votes_in)
        for axis in range(3):
            inside, leaks = _column_crossings(P, faces, space, axis, signed=False)
            votes_in += inside & ~leaks
            votes_out += ~inside & ~leaks
        occ = votes_in > votes_out
    if conservative:
        occ |= _surface_voxels(P, faces, space)
    return occ


def _prepare(vertices, faces) -> tuple[torch.Tensor, torch.Tensor, bool]:
    v = torch.as_tensor(vertices)
    single = v.ndim == 2
    if single:
        v = v[None]
    if v.ndim != 3 or v.shape[-1] != 3:
        raise ValueError(f"vertices must be (V, 3) or (B, V, 3), got {tuple(v.shape)}")
    if not v.is_floating_point():
        v = v.double()
    f = torch.as_tensor(faces, device=v.device).reshape(-1, 3).long()
    if len(f) and (int(f.min()) < 0 or int(f.max()) >= v.shape[1]):
        raise BodyNetError(f"mesh faces index vertices outside 0..{v.shape[1] - 1}; the mesh file is corrupt")
    if v.numel() and not bool(torch.isfinite(v).all()):
        raise BodyNetError("the mesh has NaN or infinite vertex coordinates")
    return v, f, single


def voxelize_grid(vertices_grid, faces, res: int, conservative: bool = False,
                  closed: bool | None = None) -> torch.Tensor:
    """Occupancy of a mesh already in continuous grid coordinates (an affine alignment, e.g. ``fit``).

    vertices_grid: (V, 3) or (B, V, 3) float (x, y, z) grid coordinates (the B meshes share ``faces``);
    faces: int (F, 3); res: R; conservative: also mark every voxel the surface touches (binvox-like);
    closed: None checks the topology (``check_watertight``) and picks the inside rule: winding number for
    oriented watertight meshes, parity for other closed ones, ray voting with an ``OpenMeshWarning`` for
    open ones. True skips the check and uses the winding number: pass it only for meshes known to be
    closed and consistently oriented (``report.oriented``, e.g. the body model). False forces ray voting.
    Returns bool (R, R, R) or (B, R, R, R) ``[z, y, x]``, on the vertices' device. Computed in the
    vertices' floating dtype (float64 input gives float64 arithmetic).
    """
    v, f, single = _prepare(vertices_grid, faces)
    space = _affine_space(res, v.dtype, v.device)
    occ = _voxelize(v, f, space, conservative, closed, v[0])
    return occ[0] if single else occ


def voxelize_camera(vertices_cam, faces, camera: Camera, crop: Crop, res: int, conservative: bool = False,
                    closed: bool | None = None) -> torch.Tensor:
    """Occupancy in BodyNet space (docs/formats.md) of a mesh in camera metres, exact at voxel centres.

    vertices_cam: (V, 3) or (B, V, 3) camera metres (OpenCV axes, all Z > 0); faces: int (F, 3);
    camera, crop: the BodyNet-space alignment; res: R; conservative, closed: as ``voxelize_grid``.
    Returns bool (R, R, R) or (B, R, R, R) ``[z, y, x]``, on the vertices' device; float32 input is
    voxelized in float32 working coordinates (the projective map itself is evaluated in float64).
    """
    v, f, single = _prepare(vertices_cam, faces)
    P = _camera_to_working(v, camera, crop, res).to(v.dtype)
    space = _camera_space(camera, crop, res, v.dtype, v.device)
    occ = _voxelize(P, f, space, conservative, closed, v[0])
    return occ[0] if single else occ


# ----------------------------------------------------------------------------------------------------
# Part voxels
# ----------------------------------------------------------------------------------------------------


def _surface_samples(vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray, spacing: float):
    """Points on the surface no farther than about ``spacing`` apart, each with the label of its
    triangle's corner of largest barycentric weight. Returns (points (N, 3), labels (N,))."""
    pts, labs = [vertices], [labels]
    tri = vertices[faces]  # (F, 3, 3)
    longest = np.linalg.norm(tri - np.roll(tri, -1, axis=1), axis=2).max(1)
    level = np.minimum(np.ceil(longest / spacing), 64).astype(np.int64)
    for n in np.unique(level[level >= 2]):
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        inner = (i + j <= n) & (i < n) & (j < n) & (i + j > 0)
        w = np.stack([i[inner], j[inner], n - i[inner] - j[inner]], 1) / n  # (L, 3), corners excluded
        sel = np.nonzero(level == n)[0]
        pts.append(np.einsum("lk,fkc->flc", w, tri[sel]).reshape(-1, 3))
        labs.append(labels[faces[sel]][:, np.argmax(w, axis=1)].reshape(-1))
    return np.concatenate(pts), np.concatenate(labs)


def label_part_voxels(occupancy, vertices_grid, faces, vertex_labels) -> torch.Tensor:
    """Label each occupied voxel with the body part of the nearest point of the surface.

    occupancy: bool (R, R, R) ``[z, y, x]``; vertices_grid: (V, 3) continuous grid (x, y, z);
    faces: int (F, 3); vertex_labels: int (V,) voxel parts 1..6 (``BodyModelData.vertex_part7``).
    The surface is sampled at most one voxel apart (vertices plus barycentric lattices on larger
    triangles); a sample takes the label of its triangle's nearest corner. Distances are measured in
    grid units. Returns uint8 (R, R, R) on the occupancy's device: 0 outside, else the part.
    """
    from scipy.spatial import cKDTree

    occ_t = torch.as_tensor(occupancy)
    occ = occ_t.detach().cpu().numpy().astype(bool)
    v = torch.as_tensor(vertices_grid).detach().cpu().double().numpy().reshape(-1, 3)
    f = torch.as_tensor(faces).detach().cpu().long().numpy().reshape(-1, 3)
    lab = torch.as_tensor(vertex_labels).detach().cpu().long().numpy().reshape(-1)
    if lab.shape[0] != v.shape[0]:
        raise BodyNetError(f"part labels: {lab.shape[0]} vertex labels for {v.shape[0]} vertices")
    out = np.zeros(occ.shape, dtype=np.uint8)
    zyx = np.argwhere(occ)
    if len(zyx) and len(v):
        pts, labs = _surface_samples(v, f, lab, spacing=1.0)
        # Sliding-midpoint splits build and query several times faster here than the balanced default.
        tree = cKDTree(pts, balanced_tree=False, compact_nodes=False)
        _, nearest = tree.query(zyx[:, ::-1] + 0.5)
        out[tuple(zyx.T)] = labs[nearest]
    return torch.from_numpy(out).to(occ_t.device)
