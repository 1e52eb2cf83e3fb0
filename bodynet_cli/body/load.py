"""Find and read SMPL-format body models (.pkl or .npz) safely, with a per-file cache.

Official SMPL ``.pkl`` files are Python 2 pickles holding chumpy objects and scipy sparse matrices.
They are read by a restricted unpickler: only numpy array reconstruction and a few stand-in classes
can be created, so neither chumpy nor arbitrary code from the file ever runs.
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import os
import pickle
import threading
import zipfile
from pathlib import Path

import numpy as np

from bodynet_cli.body.model_data import NUM_SMPL_JOINTS, BodyModelData
from bodynet_cli.errors import BodyNetError

ENV_VAR = "BODYNET_BODY_MODEL"
BUNDLED_NAME = "open_body_model.npz"
REQUIRED_KEYS = ("v_template", "shapedirs", "J_regressor", "weights", "kintree_table", "f")


class _ChStandIn:
    """Stands in for ``chumpy.ch.Ch`` (and its subclasses): keeps the pickled state, runs nothing."""

    def __setstate__(self, state) -> None:
        self.state = state


class _SparseStandIn:
    """Stands in for scipy sparse matrices: keeps ``data``, ``indices``, ``indptr`` and the shape."""

    fmt = ""

    def __setstate__(self, state) -> None:
        self.state = state


class _CscStandIn(_SparseStandIn):
    fmt = "csc"


class _CsrStandIn(_SparseStandIn):
    fmt = "csr"


def _numpy_globals() -> dict[tuple[str, str], object]:
    try:  # numpy >= 2 moved the reconstruction helpers; old pickles still name numpy.core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    out: dict[tuple[str, str], object] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "_reconstruct")] = _reconstruct
        out[(mod, "scalar")] = scalar
    out[("numpy", "ndarray")] = np.ndarray
    out[("numpy", "dtype")] = np.dtype
    return out


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What Python 3 protocol-2 pickles call (``_codecs.encode``) to rebuild bytes; latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], object] = {
    ("_codecs", "encode"): _latin1_bytes,
    **_numpy_globals(),
    # Python 2 names (protocol < 3) and their Python 3 spellings.
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
}
for _mod in ("scipy.sparse.csc", "scipy.sparse._csc"):
    _ALLOWED[(_mod, "csc_matrix")] = _CscStandIn
for _mod in ("scipy.sparse.csr", "scipy.sparse._csr"):
    _ALLOWED[(_mod, "csr_matrix")] = _CsrStandIn


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: Path) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChStandIn
        raise BodyNetError(
            f"{self.source}: refused to load the pickled global {module}.{name}; a body model .pkl may hold "
            "only arrays, chumpy arrays and sparse matrices (convert it to .npz if it is genuine)"
        )


def _sparse_to_dense(obj: _SparseStandIn, source: Path, key: str) -> np.ndarray:
    s = obj.state
    try:
        data, indices, indptr = (np.asarray(s[k]) for k in ("data", "indices", "indptr"))
        shape = tuple(int(v) for v in s.get("_shape", s.get("shape")))
        dense = np.zeros(shape, dtype=np.float64)
        major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))  # column (csc) or row (csr) of each entry
        if obj.fmt == "csc":
            np.add.at(dense, (indices, major), data)
        else:
            np.add.at(dense, (major, indices), data)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise BodyNetError(f"{source}: key {key!r} is a malformed sparse matrix ({e})") from None
    return dense


def _to_array(value, source: Path, key: str) -> np.ndarray:
    """A loaded value (array, chumpy stand-in, sparse stand-in) as a plain ndarray."""
    while isinstance(value, _ChStandIn):
        state = value.state if isinstance(value.state, dict) else {}
        if "x" not in state:
            raise BodyNetError(f"{source}: key {key!r} is a chumpy expression, not a stored array; "
                               "convert the model to .npz with plain arrays")
        value = state["x"]
    if isinstance(value, _SparseStandIn):
        return _sparse_to_dense(value, source, key)
    return np.asarray(value)


def _read_pkl(raw: bytes, path: Path) -> dict:
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), path).load()
    except BodyNetError:
        raise
    except Exception as e:  # truncated or garbled pickles raise many different errors
        raise BodyNetError(f"{path}: not a readable body model pickle, it may be truncated ({type(e).__name__}: "
                           f"{e})") from None
    if not isinstance(obj, dict):
        raise BodyNetError(f"{path}: holds a {type(obj).__name__}, expected a dict of SMPL arrays")
    return obj


def _read_npz(raw: bytes, path: Path) -> dict:
    if not raw.startswith(b"PK"):  # else numpy would take it for a pickle and report that
        raise BodyNetError(f"{path}: not a readable .npz file (no zip header); is it really an .npz?")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise BodyNetError(f"{path}: holds pickled objects, which bodynet never loads; "
                               "re-save it with plain numeric arrays") from None
        raise BodyNetError(f"{path}: not a readable .npz file ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise BodyNetError(f"{path}: not a readable .npz file, it may be truncated ({e})") from None


def _float_array(d: dict, key: str, path: Path) -> np.ndarray:
    a = _to_array(d[key], path, key)
    if a.dtype.kind not in "biuf":
        raise BodyNetError(f"{path}: key {key!r} has dtype {a.dtype}, expected numbers")
    return np.ascontiguousarray(a, dtype=np.float64)


def _parents_from_kintree(kt: np.ndarray, path: Path) -> np.ndarray:
    if kt.dtype.kind not in "iuf" or kt.ndim != 2 or kt.shape != (2, NUM_SMPL_JOINTS):
        raise BodyNetError(f"{path}: key 'kintree_table' has shape {kt.shape}, expected (2, {NUM_SMPL_JOINTS})")
    parents = kt[0].astype(np.int64)
    parents[0] = -1  # SMPL stores the root's parent as uint32 max
    return parents


def body_model_from_dict(d: dict, path: Path, name: str, sha256: str) -> BodyModelData:
    """Build and validate a ``BodyModelData`` from the SMPL keys of a loaded file."""
    missing = [k for k in REQUIRED_KEYS if k not in d]
    if missing:
        raise BodyNetError(f"{path}: missing key(s) {', '.join(missing)}; an SMPL-format body model needs "
                           f"{', '.join(REQUIRED_KEYS)} (posedirs optional)")
    posedirs = d.get("posedirs")
    posedirs = None if posedirs is None else _float_array(d, "posedirs", path)
    if posedirs is not None and posedirs.size == 0:
        posedirs = None
    faces = _to_array(d["f"], path, "f")
    if faces.dtype.kind not in "iu":
        raise BodyNetError(f"{path}: key 'f' has dtype {faces.dtype}, expected integers")
    return BodyModelData(
        v_template=_float_array(d, "v_template", path),
        shapedirs=_float_array(d, "shapedirs", path),
        posedirs=posedirs,
        J_regressor=_float_array(d, "J_regressor", path),
        weights=_float_array(d, "weights", path),
        parents=_parents_from_kintree(_to_array(d["kintree_table"], path, "kintree_table"), path),
        faces=faces.astype(np.int64),
        name=name,
        sha256=sha256,
        source=str(path),
    )


def read_body_model_file(path: str | os.PathLike, name: str | None = None) -> BodyModelData:
    """Read one ``.pkl`` or ``.npz`` SMPL-format file (no cache, no look-up)."""
    path = Path(path)
    if not path.is_file():
        raise BodyNetError(f"{path}: no such body model file")
    suffix = path.suffix.lower()
    if suffix not in (".pkl", ".npz"):
        raise BodyNetError(f"{path}: unknown body model format {suffix!r}; use an SMPL .pkl or .npz file")
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    d = _read_pkl(raw, path) if suffix == ".pkl" else _read_npz(raw, path)
    if name is None:
        stored = d.get("name")
        name = str(np.asarray(stored)[()]) if isinstance(stored, np.ndarray) and stored.dtype.kind == "U" else path.stem
    return body_model_from_dict(d, path, name, sha)


def bundled_model_path() -> Path:
    """Where the open default body model of this installation lives."""
    from importlib.resources import files

    return Path(str(files("bodynet_cli") / "assets" / BUNDLED_NAME))


def resolve_body_model_path(path: str | os.PathLike | None = None) -> Path:
    """Explicit ``path``, else ``$BODYNET_BODY_MODEL``, else the bundled open model."""
    if path is not None and str(path) != "":
        p = Path(path).expanduser()
        if not p.is_file():
            raise BodyNetError(f"{p}: no such body model file (given with --body-model)")
        return p.resolve()
    env = os.environ.get(ENV_VAR, "")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise BodyNetError(f"{p}: no such body model file (from ${ENV_VAR}); fix or unset the variable")
        return p.resolve()
    p = bundled_model_path()
    if not p.is_file():
        raise BodyNetError(f"the bundled open body model {p} is missing from this installation; reinstall bodynet "
                           f"or pass --body-model / set ${ENV_VAR}")
    return p.resolve()


_cache: dict[tuple[str, int, int], BodyModelData] = {}
_cache_lock = threading.Lock()


def load_body_model(path: str | os.PathLike | None = None) -> BodyModelData:
    """The body model to use: ``path``, else ``$BODYNET_BODY_MODEL``, else the bundled open model.

    Cached per resolved file, its modification time and size (commands call this often).
    """
    p = resolve_body_model_path(path)
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    name = "open" if p == bundled_model_path().resolve() else None
    data = read_body_model_file(p, name=name)
    with _cache_lock:
        for k in [k for k in _cache if k[0] == key[0]]:  # drop stale versions of the same file
            del _cache[k]
        _cache[key] = data
    return data
