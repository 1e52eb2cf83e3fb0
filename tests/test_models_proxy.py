"""Model v2: sub-net inputs as configuration, proxy inputs, and the unchanged paper/small chain."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from bodynet_cli.errors import BodyNetError
from bodynet_cli.models.bodynet import BodyNet, Proxies, joint_maps
from bodynet_cli.models.checkpoint import load_checkpoint, save_checkpoint
from bodynet_cli.models.config import CONFIGS, ModelConfig, get_config
from bodynet_cli.models.losses import stage_loss_weights

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "bodynet_cli" / "assets" / "checkpoints" / "proxy"
TINY = get_config("small").replace(
    name="tiny", input_size=32, heatmap_size=8, voxel_res=16, features=16, depth=2, stem_channels=(8, 16)
)
TINY_PROXY = TINY.replace(name="tiny_proxy", pose2d_inputs=(), segm_inputs=("joints", "mask"),
                          pose3d_inputs=("segm", "joints", "mask"), voxels_inputs=("segm", "joints", "mask", "pose3d"))
J, P, D = 16, 15, 19
CH = {"rgb": 3, "heatmaps": J, "segm": P, "joints": J, "mask": 1}


def _proxies(b: int, size: int, gen: torch.Generator) -> Proxies:
    return Proxies(joints=torch.rand(b, J, 2, generator=gen) * size, scores=torch.rand(b, J, generator=gen),
                   mask=(torch.rand(b, 1, size, size, generator=gen) > 0.5).float())  # fmt: skip


def test_small_and_paper_keep_their_hash_and_dict_and_the_shipped_proxy_checkpoint_loads():
    # The hashes recorded in every output's meta before the proxy inputs existed (v1 checkpoints still load).
    assert get_config("small").hash() == "aab891fafa7c" and get_config("paper").hash() == "ec22e9e2882b"
    assert "voxels_inputs" not in get_config("small").to_dict()
    small = BodyNet(get_config("small"))
    assert small.pose2d is not None and not get_config("small").uses_proxies
    meta = json.loads((SHIPPED / "config.json").read_text())
    assert get_config("proxy").to_dict() == ModelConfig.from_dict(meta["config"]).to_dict()
    ck = load_checkpoint(SHIPPED)
    assert ck.config == get_config("proxy") and ck.model.pose2d is None and ck.config.uses_proxies
    # A proxy config records its inputs, so its hash differs and it round-trips through a dict.
    proxy = get_config("proxy")
    assert proxy.to_dict()["voxels_inputs"] == ("segm", "joints", "mask", "pose3d")
    assert ModelConfig.from_dict(json.loads(json.dumps(proxy.to_dict()))) == proxy
    assert proxy.hash() != get_config("small").hash() != get_config("proxy128").hash()


def test_proxy_configs_are_small_sized_without_rgb_in_the_3d_nets():
    small, proxy, p128 = CONFIGS["small"], CONFIGS["proxy"], CONFIGS["proxy128"]
    for c in (proxy, p128):
        assert (c.input_size, c.heatmap_size, c.features, c.stem_channels) == (128, 32, 64, (32, 64))
        assert c.uses_proxies and not c.has("pose2d")
        assert "rgb" not in c.pose3d_inputs + c.voxels_inputs
    assert (proxy.voxel_res, p128.voxel_res, small.voxel_res) == (64, 128, 64)


# Every combination of image-level inputs that is valid for the 3D-pose net (heatmaps/segm need their net).
COMBOS = [c for n in range(1, 6) for c in itertools.combinations(("rgb", "heatmaps", "segm", "joints", "mask"), n)]


@pytest.mark.parametrize("names", COMBOS, ids=["+".join(c) for c in COMBOS])
def test_channel_counts_of_every_input_combination(names):
    cfg = TINY.replace(name="combo", pose3d_inputs=names, voxels_inputs=(*names, "pose3d"))
    model = BodyNet(cfg)
    want = sum(CH[n] for n in names)
    assert model.pose3d.stem.layers[0][0].in_channels == want
    assert model.voxels.stem[0][0].in_channels == want
    c2 = cfg.stem_channels[1]
    assert model.voxels.fuse[0].body[0].num_features == c2 + J * D
    seen = {}
    model.pose3d.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0]))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        out = model.eval()(torch.rand(1, 3, 32, 32, generator=gen), _proxies(1, 32, gen), upto="3d")
    assert seen["x"].shape == (1, want, 32, 32) and out.volumes.shape == (1, 2, J * D, 8, 8)


def test_voxel_net_without_pose3d_fusion_and_other_subnet_inputs():
    model = BodyNet(TINY.replace(name="nofuse", voxels_inputs=("rgb", "segm")))
    assert model.voxels.fuse[0].body[0].num_features == TINY.stem_channels[1]
    with torch.no_grad():
        out = model.eval()(torch.rand(1, 3, 32, 32))
    assert out.voxel_logits.shape == (1, 2, 16, 16, 16)
    m2 = BodyNet(TINY.replace(name="p2", pose2d_inputs=("joints", "mask"), segm_inputs=("rgb", "heatmaps")))
    assert m2.pose2d.stem.layers[0][0].in_channels == J + 1 and m2.segm.stem.layers[0][0].in_channels == 3 + J


def test_invalid_inputs_are_refused():
    with pytest.raises(BodyNetError, match="pose2d_inputs"):
        TINY.replace(pose2d_inputs=("segm",))
    with pytest.raises(BodyNetError, match="once"):
        TINY.replace(segm_inputs=("rgb", "rgb"))
    with pytest.raises(BodyNetError, match="not built"):
        TINY.replace(pose2d_inputs=())  # pose3d still reads heatmaps
    with pytest.raises(BodyNetError, match="needs at least one"):
        TINY_PROXY.replace(voxels_inputs=("pose3d",))
    with pytest.raises(BodyNetError, match="once"):
        TINY.replace(segm_inputs=("depth",))


def test_joint_maps_against_a_loop_reference():
    gen = torch.Generator().manual_seed(1)
    joints = torch.rand(2, J, 2, generator=gen, dtype=torch.float64) * 14 - 1  # some outside [0, 12)
    scores = torch.rand(2, J, generator=gen, dtype=torch.float64)
    got = joint_maps(joints, scores, 12, 1.5)
    ref = torch.zeros_like(got)
    for b, j, y, x in itertools.product(range(2), range(J), range(12), range(12)):
        jx, jy = float(joints[b, j, 0]), float(joints[b, j, 1])
        if 0 <= jx < 12 and 0 <= jy < 12:
            d2 = (x + 0.5 - jx) ** 2 + (y + 0.5 - jy) ** 2
            ref[b, j, y, x] = float(scores[b, j]) * torch.exp(torch.tensor(-d2 / (2 * 1.5**2), dtype=torch.float64))
    torch.testing.assert_close(got, ref)


def test_proxy_forward_shapes_of_both_configs_and_the_missing_proxies_error():
    gen = torch.Generator().manual_seed(2)
    for name, r in (("proxy", 64), ("proxy128", 128)):
        cfg = CONFIGS[name]
        torch.manual_seed(0)
        model = BodyNet(cfg).eval()
        assert model.pose2d is None
        with torch.no_grad():
            out = model(torch.rand(1, 3, 128, 128, generator=gen), _proxies(1, 128, gen))
        assert out.heatmaps is None
        assert out.segm_logits.shape == (1, 2, P, 32, 32)
        assert out.volumes.shape == (1, 2, J * D, 32, 32)
        assert out.voxel_logits.shape == (1, 2, r, r, r)
    with pytest.raises(BodyNetError, match="proxies"):
        BodyNet(TINY_PROXY)(torch.rand(1, 3, 32, 32))


def test_proxy_model_ignores_rgb_and_reads_the_proxies():
    gen = torch.Generator().manual_seed(3)
    model = BodyNet(TINY_PROXY).eval()
    prox = _proxies(2, 32, gen)
    with torch.no_grad():
        a = model(torch.rand(2, 3, 32, 32, generator=gen), prox)
        b = model(torch.rand(2, 3, 32, 32, generator=gen), prox)
        c = model(torch.rand(2, 3, 32, 32, generator=gen), Proxies(prox.joints, prox.scores, 1 - prox.mask))
    assert torch.equal(a.voxel_logits, b.voxel_logits)
    assert not torch.allclose(a.voxel_logits, c.voxel_logits)


def test_stages_of_a_model_without_pose2d_and_their_losses():
    model = BodyNet(TINY_PROXY.replace(part_voxels=True))
    model.set_stage("2d")
    model.train()
    assert all(p.requires_grad for p in model.segm.parameters())
    assert not any(p.requires_grad for p in model.pose3d.parameters())
    assert not model.pose3d.training and model.segm.training
    model.set_stage("end2end")
    assert model.built_subnets(("pose2d", "segm", "pose3d", "voxels")) == ("segm", "pose3d", "voxels")
    with pytest.raises(BodyNetError, match="no pose2d sub-net"):
        model.subnet("pose2d")
    w = stage_loss_weights("2d", TINY_PROXY)
    assert w == {"segm": 1.0}
    w = stage_loss_weights("end2end", TINY_PROXY)
    assert set(w) == {"segm", "pose3d", "voxels", "fv", "sv"} and sum(w.values()) == pytest.approx(1.0)
    assert stage_loss_weights("end2end", TINY) == stage_loss_weights("end2end")
    only2d = TINY.replace(name="only2d", segm_inputs=(), pose3d_inputs=("rgb", "heatmaps"),
                          voxels_inputs=("rgb", "pose3d"))  # fmt: skip
    BodyNet(only2d).set_stage("2d")  # pose2d alone
    nothing = TINY_PROXY
    with pytest.raises(BodyNetError, match="none of which"):
        m = BodyNet(nothing.replace(segm_inputs=(), pose3d_inputs=("joints",), voxels_inputs=("mask",)))
        m.set_stage("2d")


def test_proxy_checkpoint_round_trip(tmp_path):
    torch.manual_seed(4)
    model = BodyNet(TINY_PROXY)
    save_checkpoint(tmp_path / "ck", model, TINY_PROXY)
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.config == TINY_PROXY and loaded.model.pose2d is None
    assert all(torch.equal(v, loaded.model.state_dict()[k]) for k, v in model.state_dict().items())
