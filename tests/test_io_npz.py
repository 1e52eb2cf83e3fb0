import numpy as np
import pytest

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.npz import pack_voxels, read_npz, unpack_voxels, write_npz
from bodynet_cli.io.sample import Sample, load_sample, save_sample


@pytest.mark.parametrize("shape", [(8, 8, 8), (5, 7, 3), (64, 64, 64)])
def test_pack_round_trip(rng, shape):
    occ = rng.random(shape) < 0.3
    packed, vshape = pack_voxels(occ)
    assert packed.dtype == np.uint8 and packed.size == (occ.size + 7) // 8
    assert vshape.dtype == np.int32
    np.testing.assert_array_equal(unpack_voxels(packed, vshape), occ)


def test_pack_bit_order_hand_checked():
    occ = np.zeros((2, 2, 2), bool)
    occ[0, 0, 0] = True  # first bit = most significant bit of byte 0
    occ[1, 1, 1] = True  # last bit
    packed, _ = pack_voxels(occ)
    assert packed.tolist() == [0b10000001]


def test_sample_round_trip(tmp_path, rng):
    s = Sample(
        voxels=rng.random((16, 16, 16)) < 0.5,
        joints2d=rng.random((16, 2)).astype(np.float32),
        joints3d=rng.random((16, 3)).astype(np.float32),
        segmentation=rng.integers(0, 15, (32, 32)).astype(np.uint8),
        crop=np.array([1, 2, 300, 256], np.float32),
        meta={"tool": "test", "n": 1},
    )
    save_sample(tmp_path / "a.npz", s)
    t = load_sample(tmp_path / "a.npz", required=("voxels", "joints2d"))
    np.testing.assert_array_equal(t.voxels, s.voxels)
    np.testing.assert_array_equal(t.joints2d, s.joints2d)
    np.testing.assert_array_equal(t.segmentation, s.segmentation)
    assert t.meta == s.meta
    assert t.camera is None
    assert not list(tmp_path.glob("*.tmp"))


def test_sample_errors_name_file_and_key(tmp_path):
    with pytest.raises(BodyNetError, match="missing key 'camera'"):
        save_sample(tmp_path / "b.npz", Sample(crop=np.array([0.0, 0.0, 100.0, 64.0])))
        load_sample(tmp_path / "b.npz", required=("camera",))
    write_npz(tmp_path / "c.npz", joints2d=np.zeros((15, 2), np.float32))
    with pytest.raises(BodyNetError, match=r"c\.npz: key 'joints2d' has shape \(15, 2\)"):
        load_sample(tmp_path / "c.npz")
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(BodyNetError, match="d.npz: not a readable .npz"):
        read_npz(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", x=np.array([object()], dtype=object))
    with pytest.raises(BodyNetError, match="pickled"):
        read_npz(tmp_path / "e.npz")
    with pytest.raises(BodyNetError, match="no such file"):
        read_npz(tmp_path / "missing.npz")


def test_not_a_zip_and_file_mode(tmp_path):
    import os
    import stat

    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(BodyNetError, match="not an .npz file"):
        read_npz(tmp_path / "t.npz")
    write_npz(tmp_path / "m.npz", a=np.zeros(3))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "m.npz").stat().st_mode) == 0o666 & ~mask
