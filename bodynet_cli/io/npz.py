"""Safe NPZ reading, atomic writing, and the bit-packed voxel encoding of docs/formats.md."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Collection
from pathlib import Path

import numpy as np

from bodynet_cli.errors import BodyNetError


def pack_voxels(occupancy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bit-pack an occupancy grid.

    occupancy: bool-like (R, R, R) in ``[z, y, x]`` order.
    Returns ``(voxels uint8 (ceil(R³/8),), voxel_shape int32 (3,))``; bits are big-endian within a
    byte (``numpy.packbits`` default) over the C-order flattened grid.
    """
    occ = np.asarray(occupancy)
    if occ.ndim != 3:
        raise ValueError(f"occupancy must be 3-D, got shape {occ.shape}")
    return np.packbits(occ.astype(bool).ravel()), np.asarray(occ.shape, dtype=np.int32)


def unpack_voxels(voxels: np.ndarray, voxel_shape: np.ndarray) -> np.ndarray:
    """Inverse of ``pack_voxels``: bool (R, R, R) ``[z, y, x]``."""
    shape = tuple(int(s) for s in np.asarray(voxel_shape).ravel())
    n = int(np.prod(shape))
    bits = np.unpackbits(np.asarray(voxels, dtype=np.uint8), count=n)
    return bits.astype(bool).reshape(shape)


def read_npz(path: str | os.PathLike, keys: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an NPZ file (all, or those of ``keys`` present), never unpickling.

    An unreadable file raises ``BodyNetError``. ``keys`` skips decompressing arrays a caller does not
    need (e.g. ``voxel_probs``).
    """
    from bodynet_cli.io.inputs import unreadable_reason

    path = Path(path)
    if not path.is_file():
        raise BodyNetError(f"{path}: {unreadable_reason(path)}")
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # every .npz is a zip archive; anything else is not ours to parse
            raise BodyNetError(f"{path}: not an .npz file (not a zip archive); write it with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files if keys is None or k in keys}
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e).lower():
            raise BodyNetError(f"{path}: holds pickled objects, which bodynet never loads; "
                               "re-save it with plain numeric arrays") from None
        raise BodyNetError(f"{path}: not a readable .npz file ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise BodyNetError(f"{path}: not a readable .npz file, it may be truncated ({e})") from None


def npz_complete(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a whole zip archive (its central directory, written last, is there): tells a
    finished output from one truncated or damaged since, without reading the arrays."""
    try:
        with zipfile.ZipFile(path) as zf:
            return bool(zf.namelist())
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def _umask_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_file_mode()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600 files; outputs get the usual umask-based mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_npz(path: str | os.PathLike, compress: bool = True, **arrays) -> None:
    """Atomically write an NPZ of plain arrays (no object arrays: they would need pickling).

    The same arrays always give the same bytes (fixed zip timestamps), so reproducible datasets compare
    byte for byte. Compression is zlib level 1: on sample files about three times as fast as
    ``numpy.savez_compressed``'s level 6, for sizes within a few percent (benchmarks/bench_npz.py).
    """
    import io

    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"array {k!r} has dtype object; NPZ files here must load without pickle")
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        for key, value in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.asanyarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, npy.getvalue(), compress_type=method, compresslevel=1 if compress else None)
    atomic_write_bytes(path, buf.getvalue())


def encode_meta(meta: dict) -> np.ndarray:
    """A JSON string as a 0-d unicode array, readable with ``allow_pickle=False``."""
    return np.asarray(json.dumps(meta, sort_keys=True))


def decode_meta(value: np.ndarray) -> dict:
    return json.loads(str(np.asarray(value)[()]))
