"""Body model loading: restricted unpickler, .npz, look-up order, cache, one-line errors."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
from test_body_helpers import random_smpl_dict

from bodynet_cli.body import load as body_load
from bodynet_cli.body.load import load_body_model, read_body_model_file
from bodynet_cli.errors import BodyNetError


@pytest.fixture
def fake_chumpy(monkeypatch):
    """A module ``chumpy.ch`` with a ``Ch`` class that pickles like chumpy's (its __dict__ as state)."""
    ch_mod = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, dtype=np.float64)
            self._dirty_vars = {"x"}
            self._itr = None

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch_mod.Ch = Ch
    pkg = types.ModuleType("chumpy")
    pkg.ch = ch_mod
    monkeypatch.setitem(sys.modules, "chumpy", pkg)
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch_mod)
    return Ch


def _smpl_pickle(tmp_path, d, Ch, name="SMPL_TEST.pkl", sparse="csc", protocol=2):
    obj = dict(d)
    obj["v_template"] = Ch(d["v_template"])
    obj["shapedirs"] = Ch(d["shapedirs"])
    obj["J_regressor"] = (scipy.sparse.csc_matrix if sparse == "csc" else scipy.sparse.csr_matrix)(d["J_regressor"])
    obj["bs_style"] = "lbs"
    obj["pose_training_info"] = {"nsubj": 1}
    p = tmp_path / name
    raw = pickle.dumps(obj, protocol=protocol)
    if protocol == 0:  # the module names of the official files, written by Python 2 and old numpy/scipy
        raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        raw = raw.replace(b"scipy.sparse._csc\n", b"scipy.sparse.csc\n")
        assert b"copy_reg\n_reconstructor" in raw and b"numpy.core.multiarray" in raw
    p.write_bytes(raw)
    return p


@pytest.mark.parametrize(("sparse", "protocol"), [("csc", 2), ("csr", 2), ("csc", 0)])
def test_restricted_unpickler_reads_chumpy_style_pickle(tmp_path, fake_chumpy, sparse, protocol):
    d = random_smpl_dict(np.random.default_rng(0), n_verts=30)
    data = read_body_model_file(_smpl_pickle(tmp_path, d, fake_chumpy, sparse=sparse, protocol=protocol))
    np.testing.assert_array_equal(data.v_template, d["v_template"])
    np.testing.assert_array_equal(data.shapedirs, d["shapedirs"])
    np.testing.assert_array_equal(data.posedirs, d["posedirs"])
    np.testing.assert_allclose(data.J_regressor, d["J_regressor"], rtol=0, atol=0)
    assert data.parents[0] == -1 and data.parents[1:].tolist() == d["kintree_table"][0, 1:].tolist()
    assert data.faces.dtype == np.int64 and data.name == "SMPL_TEST" and len(data.sha256) == 64


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"v_template": _Evil(marker)}, protocol=2))
    with pytest.raises(BodyNetError) as e:
        read_body_model_file(p)
    msg = str(e.value)
    assert "evil.pkl" in msg and "system" in msg and "\n" not in msg
    assert not marker.exists()


def _save_npz(path, d):
    np.savez(path, **d)
    return path


def test_npz_round_trip_and_derived_labels(tmp_path):
    d = random_smpl_dict(np.random.default_rng(1), n_verts=50, posedirs=False)
    data = read_body_model_file(_save_npz(tmp_path / "m.npz", d))
    assert data.posedirs is None
    np.testing.assert_array_equal(data.vertex_parts24, d["weights"].argmax(1))
    from bodynet_cli.body.conventions import SEG_TO_VOXEL_PART, SMPL_PART_TO_SEG

    np.testing.assert_array_equal(data.vertex_seg15, SMPL_PART_TO_SEG[d["weights"].argmax(1)])
    np.testing.assert_array_equal(data.vertex_part7, SEG_TO_VOXEL_PART[data.vertex_seg15])


def _expect_one_line(path, match):
    with pytest.raises(BodyNetError, match=match) as e:
        read_body_model_file(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_bad_files_give_one_line_errors(tmp_path, fake_chumpy):
    rng = np.random.default_rng(2)
    d = random_smpl_dict(rng, n_verts=30)
    good = _save_npz(tmp_path / "good.npz", d).read_bytes()
    (tmp_path / "trunc.npz").write_bytes(good[: len(good) // 2])
    _expect_one_line(tmp_path / "trunc.npz", "truncated")
    pkl = _smpl_pickle(tmp_path, d, fake_chumpy).read_bytes()
    (tmp_path / "trunc.pkl").write_bytes(pkl[: len(pkl) // 2])
    _expect_one_line(tmp_path / "trunc.pkl", "truncated")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    _expect_one_line(tmp_path / "garbage.npz", "not a readable")
    _expect_one_line(_save_npz(tmp_path / "nokeys.npz", {"a": np.zeros(3)}), "missing key")
    _expect_one_line(_save_npz(tmp_path / "shape.npz", {**d, "weights": d["weights"][:, :23]}),
                     r"key 'weights' has shape \(30, 23\), expected \(30, 24\)")
    _expect_one_line(_save_npz(tmp_path / "dirs.npz", {**d, "shapedirs": d["shapedirs"][:5]}), "'shapedirs' has shape")
    nan = {**d, "v_template": d["v_template"].copy()}
    nan["v_template"][3, 1] = np.nan
    _expect_one_line(_save_npz(tmp_path / "nan.npz", nan), "NaN")
    _expect_one_line(_save_npz(tmp_path / "faces.npz", {**d, "f": d["f"] + 100}), "'f' indexes vertices")
    obj = tmp_path / "obj.npz"
    np.savez(obj, **{**d, "weights": np.array([None, 1], dtype=object)})
    _expect_one_line(obj, "pickled")
    _expect_one_line(tmp_path / "missing.npz", "no such")
    (tmp_path / "m.obj").write_text("v 0 0 0\n")
    _expect_one_line(tmp_path / "m.obj", "unknown body model format")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2], protocol=2))
    _expect_one_line(tmp_path / "list.pkl", "expected a dict")


def test_lookup_order_and_cache(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    a = _save_npz(tmp_path / "a.npz", random_smpl_dict(rng, n_verts=20))
    b = _save_npz(tmp_path / "b.npz", random_smpl_dict(rng, n_verts=25))
    monkeypatch.setenv(body_load.ENV_VAR, str(b))
    assert load_body_model(a).num_vertices == 20  # explicit path first
    assert load_body_model().num_vertices == 25  # then the environment
    assert load_body_model() is load_body_model()  # cached
    st = os.stat(b)
    _save_npz(b, random_smpl_dict(rng, n_verts=26))
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_body_model().num_vertices == 26  # a changed file is read again
    monkeypatch.setenv(body_load.ENV_VAR, str(tmp_path / "nope.npz"))
    with pytest.raises(BodyNetError, match="BODYNET_BODY_MODEL"):
        load_body_model()
    with pytest.raises(BodyNetError, match="--body-model"):
        load_body_model(tmp_path / "nope.npz")
