"""BodyNet networks: blocks against functional references, shapes of both configs, gradients, stages."""

import pytest
import torch
from torch.nn import functional as F

from bodynet_cli.body.conventions import NUM_VOXEL_PARTS
from bodynet_cli.errors import BodyNetError
from bodynet_cli.models.blocks import Hourglass, Residual, StackedHourglass
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.config import CONFIGS, ModelConfig, get_config
from bodynet_cli.models.losses import LossTargets, compute_losses
from bodynet_cli.models.stages import STAGES, stage_upto, trainable_subnets
from bodynet_cli.models.targets import heatmaps_from_joints, volume_from_joints

TINY = get_config("small").replace(
    name="tiny", input_size=32, heatmap_size=8, voxel_res=16, features=16, depth=2, stem_channels=(8, 16)
)


def _randomise_bn(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Non-trivial BN statistics and affine parameters, so eval-mode references test them."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen, dtype=m.running_mean.dtype))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen, dtype=m.running_var.dtype) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=gen, dtype=m.weight.dtype))
                m.bias.copy_(torch.randn(m.num_features, generator=gen, dtype=m.bias.dtype))


def _bn(x, m):
    """Eval-mode batch norm written out."""
    shape = (1, -1, 1, 1)
    return (x - m.running_mean.view(shape)) / torch.sqrt(m.running_var.view(shape) + m.eps) * m.weight.view(
        shape
    ) + m.bias.view(shape)


def _residual_ref(x, res: Residual):
    bn1, _, c1, bn2, _, c2, bn3, _, c3 = res.body
    h = F.conv2d(torch.relu(_bn(x, bn1)), c1.weight, c1.bias)
    h = F.conv2d(torch.relu(_bn(h, bn2)), c2.weight, c2.bias, padding=1)
    h = F.conv2d(torch.relu(_bn(h, bn3)), c3.weight, c3.bias)
    skip = x if isinstance(res.skip, torch.nn.Identity) else F.conv2d(x, res.skip.weight, res.skip.bias)
    return h + skip


@pytest.mark.parametrize("c_in,c_out", [(6, 6), (5, 8)])
def test_residual_matches_functional_reference_values_and_gradients(c_in, c_out):
    gen = torch.Generator().manual_seed(1)
    res = Residual(c_in, c_out).double().eval()
    _randomise_bn(res, gen)
    assert isinstance(res.skip, torch.nn.Identity) == (c_in == c_out)
    x = torch.randn(2, c_in, 7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    y = res(x)
    y_ref = _residual_ref(x, res)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    gx, gw = torch.autograd.grad(y, (x, res.body[2].weight), g)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, res.body[2].weight), g)
    torch.testing.assert_close(gx, gx_ref)
    torch.testing.assert_close(gw, gw_ref)


def _hourglass_ref(x, hg: Hourglass):
    """The recursion written out: upper branch + nearest-upsampled lower branch."""
    up1 = _residual_ref(x, hg.up1)
    low = _residual_ref(F.max_pool2d(x, 2), hg.low1)
    low = _hourglass_ref(low, hg.low2) if isinstance(hg.low2, Hourglass) else _residual_ref(low, hg.low2)
    low = _residual_ref(low, hg.low3)
    return up1 + low.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


def test_hourglass_and_stacks_match_reference():
    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    hg = Hourglass(3, 8).double().eval()
    _randomise_bn(hg, gen)
    x = torch.randn(2, 8, 16, 16, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(hg(x), _hourglass_ref(x, hg))

    sh = StackedHourglass(features=8, out_channels=3, stacks=3, depth=2).double().eval()
    _randomise_bn(sh, gen)
    preds, feats = sh(x)
    assert preds.shape == (2, 3, 3, 16, 16) and len(feats) == 3
    # Reference: explicit intermediate supervision and merge-back.
    h = x
    for s in range(3):
        feat = sh.features[s](sh.hourglasses[s](h))
        pred = sh.outputs[s](feat)
        torch.testing.assert_close(preds[:, s], pred)
        torch.testing.assert_close(feats[s], feat)
        if s < 2:
            h = h + sh.merge_features[s](feat) + sh.merge_outputs[s](pred)


def test_small_chain_input_is_rgb_upsampled_heatmaps_and_softmaxed_segmentation():
    """The paper's pose3d/voxel input: normalised RGB ⊕ last-stack heatmaps ⊕ softmaxed segmentation, both
    bilinearly upsampled ×4, written out against what the sub-nets receive."""
    gen = torch.Generator().manual_seed(3)
    model = BodyNet(TINY).eval()
    seen = {}
    model.pose3d.register_forward_pre_hook(lambda m, a: seen.__setitem__("pose3d", a[0]))
    model.voxels.register_forward_pre_hook(lambda m, a: seen.__setitem__("voxels", a[0]))
    rgb = torch.rand(2, 3, 32, 32, generator=gen)
    with torch.no_grad():
        out = model(rgb)
    x = seen["pose3d"]
    assert x.shape == (2, 34, 32, 32)
    torch.testing.assert_close(x[:, :3], (rgb - model.rgb_mean) / model.rgb_std)
    hm = out.heatmaps[:, -1]
    # Upsampling ×4 with align_corners=False: output pixels 0, 1 lie left of input centre 0 -> input pixel 0.
    torch.testing.assert_close(x[:, 3:19, 0, 0], hm[:, :, 0, 0])
    torch.testing.assert_close(x[:, 19:, 31, 31], out.segm_logits[:, -1, :, -1, -1].softmax(dim=1))
    torch.testing.assert_close(x[:, 19:].sum(dim=1), torch.ones(2, 32, 32))
    torch.testing.assert_close(seen["voxels"], x)


def _shapes(cfg: ModelConfig, out, batch: int):
    s, h, r = cfg.stacks, cfg.heatmap_size, cfg.voxel_res
    assert out.heatmaps.shape == (batch, s, cfg.num_joints, h, h)
    assert out.segm_logits.shape == (batch, s, cfg.num_seg, h, h)
    assert out.volumes.shape == (batch, s, cfg.num_joints * cfg.depth_bins, h, h)
    assert out.voxel_logits.shape == (batch, s, r, r, r)
    assert out.voxel_probs.min() >= 0 and out.voxel_probs.max() <= 1


def test_small_config_output_shapes_with_part_voxels():
    cfg = CONFIGS["small"].replace(part_voxels=True)
    assert (cfg.input_size, cfg.heatmap_size, cfg.voxel_res) == (128, 32, 64)
    torch.manual_seed(0)
    model = BodyNet(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 128, 128))
    _shapes(cfg, out, 2)
    assert out.part_voxel_logits.shape == (2, 2, NUM_VOXEL_PARTS, 64, 64, 64)


@pytest.mark.slow
def test_paper_config_output_shapes_batch1():
    cfg = CONFIGS["paper"]
    assert (cfg.input_size, cfg.heatmap_size, cfg.voxel_res, cfg.features, cfg.stacks, cfg.depth_bins) == (
        256, 64, 128, 256, 2, 19
    )  # fmt: skip
    torch.manual_seed(0)
    model = BodyNet(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 256, 256))
    _shapes(cfg, out, 1)
    assert out.volumes.shape[2] == 304 and out.part_voxel_logits is None


def test_upto_stops_early():
    model = BodyNet(TINY).eval()
    with torch.no_grad():
        out2 = model(torch.rand(1, 3, 32, 32), upto="2d")
        out3 = model(torch.rand(1, 3, 32, 32), upto="3d")
    assert out2.volumes is None and out2.voxel_logits is None
    assert out3.volumes is not None and out3.voxel_logits is None
    with pytest.raises(ValueError):
        _ = out3.voxel_probs


def _targets(cfg, batch, gen):
    h, r = cfg.heatmap_size, cfg.voxel_res
    joints = torch.rand(batch, cfg.num_joints, 2, generator=gen) * h
    return LossTargets(
        heatmaps=heatmaps_from_joints(joints, h)[0],
        segmentation=torch.randint(0, cfg.num_seg, (batch, h, h), generator=gen),
        volumes=volume_from_joints(joints, torch.randn(batch, cfg.num_joints, generator=gen) * 0.2, h),
        voxels=(torch.rand(batch, r, r, r, generator=gen) > 0.5).float(),
        part_voxels=torch.randint(0, NUM_VOXEL_PARTS, (batch, r, r, r), generator=gen),
    )


def test_gradients_reach_every_parameter_and_flow_through_the_chain():
    gen = torch.Generator().manual_seed(4)
    torch.manual_seed(4)
    cfg = TINY.replace(part_voxels=True)
    model = BodyNet(cfg).train()
    rgb = torch.rand(2, 3, 32, 32, generator=gen)
    targets = _targets(cfg, 2, gen)
    out = model(rgb)
    loss = compute_losses(out, targets, "end2end").total + compute_losses(out, targets, "part_voxels").total
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name

    # The voxel loss alone reaches the 2D pose and segmentation nets through the chained inputs.
    model.zero_grad()
    from bodynet_cli.models.losses import voxel_bce

    voxel_bce(model(rgb).voxel_logits, targets.voxels).sum().backward()
    for sub in (model.pose2d, model.segm, model.pose3d):
        assert sum(float(p.grad.abs().sum()) for p in sub.parameters() if p.grad is not None) > 0


def test_stage_freezing_and_trainable_subnets():
    gen = torch.Generator().manual_seed(5)
    model = BodyNet(TINY.replace(part_voxels=True))
    assert set(STAGES) == {"2d", "3d", "voxels", "voxels_proj", "end2end", "part_voxels"}
    for stage in STAGES:
        model.set_stage(stage)
        model.train()
        names = trainable_subnets(stage)
        for sub in ("pose2d", "segm", "pose3d", "voxels"):
            module = model.subnet(sub)
            trains = sub in names
            own = [p for n, p in module.named_parameters() if not n.startswith("part_head.")]
            assert all(p.requires_grad == trains for p in own), (stage, sub)
            assert module.training == trains, (stage, sub)
        head = model.voxels.part_head
        assert all(p.requires_grad == (stage == "part_voxels") for p in head.parameters())
    assert stage_upto("2d") == "2d" and stage_upto("3d") == "3d" and stage_upto("end2end") == "voxels"

    # A frozen sub-net's BN statistics do not move during a training-mode forward.
    model.set_stage("3d")
    model.train()
    before = model.pose2d.stem.layers[0][1].running_mean.clone()
    model(torch.rand(2, 3, 32, 32, generator=gen), upto="3d")
    torch.testing.assert_close(model.pose2d.stem.layers[0][1].running_mean, before)

    with pytest.raises(BodyNetError, match="unknown training stage"):
        model.set_stage("pose")
    with pytest.raises(BodyNetError, match="part_voxels=false"):
        BodyNet(TINY).set_stage("part_voxels")


def test_part_head_initialised_from_binary_head_gives_binary_logit_over_7():
    torch.manual_seed(6)
    model = BodyNet(TINY.replace(part_voxels=True)).eval()
    model.voxels.init_part_head_from_binary()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
    for part in range(NUM_VOXEL_PARTS):
        torch.testing.assert_close(out.part_voxel_logits[:, :, part], out.voxel_logits / 7, atol=1e-5, rtol=1e-4)
    with pytest.raises(BodyNetError, match="part_voxels=false"):
        BodyNet(TINY).voxels.init_part_head_from_binary()


def test_bad_geometry_is_refused():
    with pytest.raises(BodyNetError, match="input_size must be 4"):
        BodyNet(TINY.replace(input_size=40))
