"""Checkpoints: bit-exact round trip, and clear refusals of missing, truncated, foreign or mismatched files."""

import hashlib
import json
import pickle

import pytest
import torch

from bodynet_cli.errors import BodyNetError
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint, save_checkpoint
from bodynet_cli.models.config import get_config

TINY = get_config("small").replace(
    name="tiny", input_size=32, heatmap_size=8, voxel_res=16, features=16, depth=2, stem_channels=(8, 16)
)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = BodyNet(TINY.replace(part_voxels=True))
    # One training-mode forward so BN running statistics differ from their initial values.
    model.train()
    model(torch.rand(2, 3, 32, 32))
    info = {"data": "synth seed 0", "metrics": {"voxel_iou": 0.5}}
    save_checkpoint(tmp_path / "ckpt", model, model.config, info)
    return tmp_path / "ckpt", model, info


def test_save_load_is_bit_exact(saved):
    path, model, info = saved
    assert sorted(p.name for p in path.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    loaded = load_checkpoint(path)
    assert loaded.config == model.config and loaded.info == info
    assert loaded.sha256 == hashlib.sha256((path / WEIGHTS_FILE).read_bytes()).hexdigest()
    a, b = model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    assert not loaded.model.training
    x = torch.rand(1, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        o1, o2 = model(x), loaded.model(x)
    assert torch.equal(o1.voxel_logits, o2.voxel_logits) and torch.equal(o1.part_voxel_logits, o2.part_voxel_logits)
    # The weights file itself also loads by name.
    assert load_checkpoint(path / WEIGHTS_FILE).sha256 == loaded.sha256


def test_missing_checkpoint_and_missing_parts(tmp_path, saved):
    with pytest.raises(BodyNetError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope")
    path, _, _ = saved
    (path / CONFIG_FILE).unlink()
    with pytest.raises(BodyNetError, match=f"{CONFIG_FILE}: missing"):
        load_checkpoint(path)


def test_truncated_weights_are_refused(saved):
    path, _, _ = saved
    data = (path / WEIGHTS_FILE).read_bytes()
    (path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(BodyNetError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_a_pickle_is_never_unpickled(saved, tmp_path):
    path, model, _ = saved
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (path / WEIGHTS_FILE).write_bytes(pickle.dumps({"state": model.state_dict(), "x": Evil()}))
    with pytest.raises(BodyNetError, match="truncated or corrupt"):
        load_checkpoint(path)
    assert not marker.exists()


def test_mismatched_architecture_is_refused_with_a_clear_message(saved, tmp_path):
    path, _, _ = saved
    # Weights of another architecture beside this config (sha256 entry removed, as a hand-made mix would).
    other = BodyNet(TINY.replace(features=32))
    save_checkpoint(tmp_path / "other", other, other.config)
    (path / WEIGHTS_FILE).write_bytes((tmp_path / "other" / WEIGHTS_FILE).read_bytes())
    meta = json.loads((path / CONFIG_FILE).read_text())
    meta.pop("weights_sha256")
    (path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(BodyNetError, match=r"does not match the architecture .* wrong shape") as e:
        load_checkpoint(path)
    assert "tiny" in str(e.value)
    # A config without the part head for weights that have one: unexpected tensors.
    save_checkpoint(tmp_path / "parts", BodyNet(TINY.replace(part_voxels=True)), TINY.replace(part_voxels=True))
    (path / WEIGHTS_FILE).write_bytes((tmp_path / "parts" / WEIGHTS_FILE).read_bytes())
    meta["config"]["part_voxels"] = False
    (path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(BodyNetError, match="unexpected"):
        load_checkpoint(path)


def test_weights_from_another_checkpoint_and_bad_config_are_refused(saved, tmp_path):
    path, model, _ = saved
    save_checkpoint(tmp_path / "b", BodyNet(model.config), model.config)
    (path / WEIGHTS_FILE).write_bytes((tmp_path / "b" / WEIGHTS_FILE).read_bytes())
    with pytest.raises(BodyNetError, match="sha256 does not match"):
        load_checkpoint(path)
    (path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(BodyNetError, match="not a bodynet checkpoint config"):
        load_checkpoint(path)
    (path / CONFIG_FILE).write_text(json.dumps({"format": "bodynet-checkpoint", "config": {"name": "x", "bogus": 1}}))
    with pytest.raises(BodyNetError, match="unknown keys"):
        load_checkpoint(path)
