"""Reading triangle-mesh files (.obj .ply .stl .off) with trimesh, keeping the file's vertex order."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.errors import BodyNetError

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off")


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: vertices float64 (V, 3), faces int64 (F, 3) 0-based."""

    vertices: np.ndarray
    faces: np.ndarray


def load_mesh(path: str | os.PathLike) -> Mesh:
    """Read a mesh file; every part of a multi-object file is concatenated into one mesh.

    Vertices are neither merged nor reordered (``process=False``), so a mesh written with a body
    model's topology keeps it; the voxelizer welds coincident vertices itself where it matters.
    Raises ``BodyNetError`` naming the file for anything unreadable.
    """
    import trimesh

    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise BodyNetError(f"{path}: not a mesh file; use one of {', '.join(MESH_SUFFIXES)}")
    if not path.is_file():
        raise BodyNetError(f"{path}: no such file")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for malformed files
        raise BodyNetError(f"{path}: not a readable {path.suffix} mesh ({type(e).__name__}: {e})") from None
    vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    return Mesh(vertices, faces)
