"""Triangle-mesh files, the one place for them: reading .obj .ply .stl .off with trimesh (keeping the
file's vertex order), checking a mesh's arrays, and writing OBJ (our own text) or binary PLY, atomically."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.npz import atomic_write_bytes

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off")


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: vertices float64 (V, 3), faces int64 (F, 3) 0-based."""

    vertices: np.ndarray
    faces: np.ndarray


_TEXT_FORMATS = (".obj", ".off")  # .ply and .stl may be binary


def check_mesh(path, vertices: np.ndarray | None, faces: np.ndarray, what: str = "faces") -> None:
    """A mesh's arrays must make a mesh: vertices (V, 3) finite, faces (F, 3) whole 0-based indices
    below V. Raises ``BodyNetError`` naming ``path`` (``what``: how the faces are named in the message)."""
    f = np.asarray(faces)
    if vertices is not None and not np.all(np.isfinite(np.asarray(vertices, dtype=np.float64))):
        raise BodyNetError(f"{path}: the vertices hold NaN or infinite coordinates")
    if not f.size:
        return
    if not np.issubdtype(f.dtype, np.integer) and not (
        np.issubdtype(f.dtype, np.floating) and np.all(np.isfinite(f)) and np.all(f == np.round(f))
    ):
        raise BodyNetError(f"{path}: {what} must hold whole vertex indices, got {f.dtype} values")
    n = None if vertices is None else len(vertices)
    lo, hi = int(f.min()), int(f.max())
    if lo < 0 or (n is not None and hi >= n):
        raise BodyNetError(f"{path}: {what} index vertices {lo}..{hi}, but there are {n} vertices (0-based "
                           f"indices 0..{(n or 0) - 1})")


def load_mesh(path: str | os.PathLike) -> Mesh:
    """Read a mesh file; every part of a multi-object file is concatenated into one mesh.

    Vertices are neither merged nor reordered (``process=False``), so a mesh written with a body
    model's topology keeps it; the voxelizer welds coincident vertices itself where it matters.
    Raises ``BodyNetError`` naming the file for anything unreadable.
    """
    import trimesh

    from bodynet_cli.io.inputs import unreadable_reason

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise BodyNetError(f"{path}: not a mesh file; use one of {', '.join(MESH_SUFFIXES)}")
    if not path.is_file():
        raise BodyNetError(f"{path}: {unreadable_reason(path)}")
    source: str | io.BytesIO = str(path)
    if suffix in _TEXT_FORMATS or suffix == ".stl":
        data = path.read_bytes()
        if suffix == ".stl" and len(data) >= 84 and len(data) == 84 + 50 * int.from_bytes(data[80:84], "little"):
            pass  # binary STL: a header, a triangle count and 50 bytes per triangle
        elif b"\0" in data:
            what = "a binary STL of the right length or ASCII text" if suffix == ".stl" else f"text {suffix}"
            raise BodyNetError(f"{path}: binary data, not {what} mesh file")
        else:
            # Decode text here: trimesh guesses unknown encodings with an optional package it may not find.
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:  # e.g. Latin-1 comments or names: the numbers are ASCII either way
                source = io.BytesIO(data.decode("latin-1").encode("utf-8"))
    try:
        mesh = trimesh.load(source, file_type=suffix[1:], force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for malformed files
        raise BodyNetError(f"{path}: not a readable {path.suffix} mesh ({type(e).__name__}: {e})") from None
    vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    check_mesh(path, vertices, faces)
    return Mesh(vertices, faces)


def obj_text(vertices: np.ndarray, faces: np.ndarray) -> str:
    """Wavefront OBJ of a triangle mesh: vertices (V, 3), faces (F, 3) 0-based (written 1-based)."""
    buf = io.StringIO()
    np.savetxt(buf, np.asarray(vertices, dtype=np.float64), fmt="v %.6f %.6f %.6f")
    np.savetxt(buf, np.asarray(faces, dtype=np.int64) + 1, fmt="f %d %d %d")
    return buf.getvalue()


def write_obj(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Atomically write a triangle mesh as a Wavefront OBJ (0-based faces (F, 3), vertices (V, 3))."""
    atomic_write_bytes(path, obj_text(vertices, faces).encode())


def write_mesh(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Atomically write a triangle mesh, vertices (V, 3), faces (F, 3), as OBJ or binary PLY (by suffix)."""
    if path.suffix == ".obj":
        write_obj(path, vertices, faces)
    else:
        import trimesh  # binary PLY writer

        mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
        atomic_write_bytes(path, mesh.export(file_type="ply"))
