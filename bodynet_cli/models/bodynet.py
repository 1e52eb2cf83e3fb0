"""The four BodyNet sub-networks (docs/architecture.md), their chaining, and the training-stage freezing.

Shapes use the package's dimension letters; here H, W are the heatmap size (input_size / 4), R the
voxel resolution, D the depth bins, P the segmentation classes, and 7 the voxel parts. Voxel
outputs are (B, S, R, R, R) indexed ``[z, y, x]``: the sub-net predicts the R depth slices as
channels (channel = z, nearest the camera first), so a max over dim -3 is the front view.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from bodynet_cli.body.conventions import NUM_VOXEL_PARTS
from bodynet_cli.errors import BodyNetError
from bodynet_cli.models.blocks import Residual, StackedHourglass, Stem, conv_bn_relu
from bodynet_cli.models.config import IMAGE_INPUTS, ModelConfig, input_channels
from bodynet_cli.models.stages import SUBNETS, trainable_subnets


@dataclass
class Proxies:
    """What a person detector (or, in training, the corrupted ground truth) gives a proxy model.

    joints: (B, J, 2) x, y in input-image pixels, continuous (pixel i covers [i, i+1)).
    scores: (B, J) in [0, 1]; 0 = missing (the joint's map is all zero).
    mask: (B, 1, I, I) person mask over the crop in [0, 1].
    """

    joints: torch.Tensor
    scores: torch.Tensor
    mask: torch.Tensor

    def to(self, device) -> Proxies:
        return Proxies(self.joints.to(device), self.scores.to(device), self.mask.to(device))


def joint_maps(joints: torch.Tensor, scores: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """The ``joints`` input: Gaussians (peak = the joint's score) at pixel centres of a size×size map.

    joints: (B, J, 2) pixels of that map; scores: (B, J) -> (B, J, size, size); joints outside are zero.
    """
    from bodynet_cli.models.targets import heatmaps_from_joints

    hm, _ = heatmaps_from_joints(joints, size, sigma)
    return hm * scores[..., None, None].to(hm.dtype)


@dataclass
class BodyNetOutput:
    """Every intermediate output of ``BodyNet``, stacked per hourglass stack (S).

    heatmaps: (B, S, J, H, W) 2D-pose Gaussian heatmaps; None when the model has no pose2d net.
    segm_logits: (B, S, P, H, W) part-segmentation logits (P = 15); None without a segm net.
    volumes: (B, S, J·D, H, W) 3D-pose volumes, channel j·D + d; None when not computed.
    voxel_logits: (B, S, R, R, R) occupancy logits ``[z, y, x]`` (pre-sigmoid); None when not computed.
    part_voxel_logits: (B, S, 7, R, R, R) part-voxel logits; None unless the config has part voxels.
    """

    heatmaps: torch.Tensor | None = None
    segm_logits: torch.Tensor | None = None
    volumes: torch.Tensor | None = None
    voxel_logits: torch.Tensor | None = None
    part_voxel_logits: torch.Tensor | None = None

    @property
    def voxel_probs(self) -> torch.Tensor:
        """Occupancy probabilities (B, S, R, R, R): the paper's sigmoid output."""
        if self.voxel_logits is None:
            raise ValueError("voxel_logits were not computed (forward(..., upto='voxels') computes them)")
        return torch.sigmoid(self.voxel_logits)


class HourglassNet(nn.Module):
    """Stem + stacked hourglass: (B, c_in, 4H, 4W) -> (B, S, c_out, H, W). The 2D pose, segmentation
    and 3D pose sub-networks are this with different inputs and outputs."""

    def __init__(self, c_in: int, c_out: int, cfg: ModelConfig):
        super().__init__()
        self.stem = Stem(c_in, cfg.features, cfg.stem_channels)
        self.hourglass = StackedHourglass(cfg.features, c_out, cfg.stacks, cfg.depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hourglass(self.stem(x))[0]


class VoxelUpsample(nn.Module):
    """Bilinear upsample of depth-slice channels to R×R, ReLU, 3×3 conv (c → c): (B, c, H, W) -> (B, c, R, R)."""

    def __init__(self, channels: int, res: int):
        super().__init__()
        self.res = res
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(self.res, self.res), mode="bilinear", align_corners=False)
        return self.conv(F.relu(x))


class PartVoxelHead(nn.Module):
    """Per stack: 1×1 conv F → 7·R at heatmap resolution, then ``VoxelUpsample`` (7·R channels)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        r, p = cfg.voxel_res, NUM_VOXEL_PARTS
        self.outputs = nn.ModuleList(nn.Conv2d(cfg.features, p * r, 1) for _ in range(cfg.stacks))
        self.upsample = nn.ModuleList(VoxelUpsample(p * r, r) for _ in range(cfg.stacks))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """feats: S maps (B, F, H, W) -> logits (B, S, 7, R, R, R), channel = part·R + z."""
        outs = [up(out(f)) for f, out, up in zip(feats, self.outputs, self.upsample, strict=True)]
        b, _, r, _ = outs[0].shape
        return torch.stack(outs, dim=1).view(b, len(outs), NUM_VOXEL_PARTS, r, r, r)


class VoxelNet(nn.Module):
    """The voxel sub-network (docs/architecture.md).

    Input x: (B, c_in, 4H, 4W) (the paper: 3+J+P) and the last-stack 3D pose (B, J·D, H, W) when
    ``fuse_pose3d``. Its own stem (7×7/2 conv, Residual(64→128), pool) gives 128 ch at H×W; concatenated
    with the 3D pose, then Residual(128+J·D→128), Residual(128→F), S hourglasses whose per-stack 1×1
    output has R channels (depth slices) at H×W; each is upsampled to R×R by ``VoxelUpsample``. No sigmoid: logits out.
    """

    def __init__(self, cfg: ModelConfig, c_in: int, fuse_pose3d: bool = True):
        super().__init__()
        jd = cfg.num_joints * cfg.depth_bins if fuse_pose3d else 0
        c1, c2 = cfg.stem_channels
        self.stem = nn.Sequential(conv_bn_relu(c_in, c1, kernel=7, stride=2), Residual(c1, c2), nn.MaxPool2d(2, 2))
        self.fuse = nn.Sequential(Residual(c2 + jd, c2), Residual(c2, cfg.features))
        self.hourglass = StackedHourglass(cfg.features, cfg.voxel_res, cfg.stacks, cfg.depth)
        self.upsample = nn.ModuleList(VoxelUpsample(cfg.voxel_res, cfg.voxel_res) for _ in range(cfg.stacks))
        self.part_head = PartVoxelHead(cfg) if cfg.part_voxels else None

    def forward(self, x: torch.Tensor, volume: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns voxel logits (B, S, R, R, R) and part-voxel logits (B, S, 7, R, R, R) or None."""
        h = self.stem(x)
        h = self.fuse(h if volume is None else torch.cat([h, volume], dim=1))
        low, feats = self.hourglass(h)
        voxels = torch.stack([up(low[:, s]) for s, up in enumerate(self.upsample)], dim=1)
        parts = self.part_head(feats) if self.part_head is not None else None
        return voxels, parts

    @torch.no_grad()
    def init_part_head_from_binary(self) -> None:
        """Initialise the part head from the binary head as the paper did: every weight and bias copied
        7× (along outputs, and inputs for the 3×3 conv) and divided by 7, so each part's logit starts
        as the binary logit / 7."""
        if self.part_head is None:
            raise BodyNetError("this model config has part_voxels=false; there is no part-voxel head to initialise")
        p = NUM_VOXEL_PARTS
        for s in range(len(self.upsample)):
            src, dst = self.hourglass.outputs[s], self.part_head.outputs[s]
            dst.weight.copy_(src.weight.repeat(p, 1, 1, 1) / p)
            dst.bias.copy_(src.bias.repeat(p) / p)
            src, dst = self.upsample[s].conv, self.part_head.upsample[s].conv
            dst.weight.copy_(src.weight.repeat(p, p, 1, 1) / p)
            dst.bias.copy_(src.bias.repeat(p) / p)


class BodyNet(nn.Module):
    """The chained sub-networks, each built only when the config gives it inputs. ``forward(rgb, proxies)``
    takes RGB in [0, 1] (B, 3, I, I), I = input_size, normalised with the config's mean and std, and the
    ``Proxies`` a proxy config needs. Each sub-net's input is the concatenation, in ``IMAGE_INPUTS`` order, of
    the config's inputs at the input size (the paper: RGB ⊕ heatmaps ⊕ segmentation)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.input_size != 4 * cfg.heatmap_size or cfg.heatmap_size % (2**cfg.depth):
            raise BodyNetError(
                f"model config {cfg.name!r}: input_size must be 4 × heatmap_size and heatmap_size divisible "
                f"by 2**depth, got {cfg.input_size}, {cfg.heatmap_size}, depth {cfg.depth}"
            )
        self.config = cfg
        j, p, jd = cfg.num_joints, cfg.num_seg, cfg.num_joints * cfg.depth_bins
        c = {name: input_channels(cfg, cfg.inputs(name)) for name in ("pose2d", "segm", "pose3d", "voxels")}
        self.pose2d = HourglassNet(c["pose2d"], j, cfg) if cfg.has("pose2d") else None
        self.segm = HourglassNet(c["segm"], p, cfg) if cfg.has("segm") else None
        self.pose3d = HourglassNet(c["pose3d"], jd, cfg)
        self.voxels = VoxelNet(cfg, c["voxels"], fuse_pose3d="pose3d" in cfg.inputs("voxels"))
        # Normalisation constants come from the config, so they stay out of the weights file.
        self.register_buffer("rgb_mean", torch.tensor(cfg.rgb_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(cfg.rgb_std).view(1, 3, 1, 1), persistent=False)
        self.stage: str | None = None

    def subnet(self, name: str) -> nn.Module:
        """The module of a sub-net named in ``SUBNETS``."""
        if name == "part_voxels":
            if self.voxels.part_head is None:
                raise BodyNetError("this model config has part_voxels=false; stage 'part_voxels' needs it")
            return self.voxels.part_head
        if name not in SUBNETS:
            raise ValueError(f"unknown sub-net {name!r}")
        module = getattr(self, name)
        if module is None:
            raise BodyNetError(f"model config {self.config.name!r} has no {name} sub-net (no {name}_inputs)")
        return module

    def built_subnets(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Those of ``names`` this model has ('part_voxels' only with the part head)."""
        have = {"part_voxels": self.voxels.part_head is not None}
        return tuple(n for n in names if have.get(n, getattr(self, n, None) is not None))

    def forward(self, rgb: torch.Tensor, proxies: Proxies | None = None, upto: str = "voxels") -> BodyNetOutput:
        """rgb: (B, 3, I, I) in [0, 1]; proxies: needed when the config reads 'joints' or 'mask'.
        ``upto``: '2d' (pose2d + segm), '3d' (+ pose3d) or 'voxels' (all)."""
        if upto not in ("2d", "3d", "voxels"):
            raise ValueError(f"upto must be '2d', '3d' or 'voxels', got {upto!r}")
        cfg = self.config
        if cfg.uses_proxies and proxies is None:
            raise BodyNetError(f"model config {cfg.name!r} reads proxy joints and a person mask: pass "
                               "proxies=Proxies(joints, scores, mask) (a person detector's, or the data's)")
        size = rgb.shape[-2:]
        feats: dict[str, torch.Tensor] = {"rgb": (rgb - self.rgb_mean) / self.rgb_std}
        if proxies is not None:
            feats["joints"] = joint_maps(proxies.joints, proxies.scores, size[-1], cfg.proxy_sigma).to(rgb.dtype)
            feats["mask"] = proxies.mask.to(rgb.dtype)

        def inputs(subnet: str) -> torch.Tensor:
            names = cfg.inputs(subnet)
            return torch.cat([feats[n] for n in IMAGE_INPUTS if n in names], dim=1)

        def up(x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

        out = BodyNetOutput()
        if self.pose2d is not None:
            out.heatmaps = self.pose2d(inputs("pose2d"))
            feats["heatmaps"] = up(out.heatmaps[:, -1])
        if self.segm is not None:
            out.segm_logits = self.segm(inputs("segm"))
            feats["segm"] = up(out.segm_logits[:, -1].softmax(dim=1))
        if upto == "2d":
            return out
        out.volumes = self.pose3d(inputs("pose3d"))
        if upto == "3d":
            return out
        volume = out.volumes[:, -1] if "pose3d" in cfg.inputs("voxels") else None
        out.voxel_logits, out.part_voxel_logits = self.voxels(inputs("voxels"), volume)
        return out

    def set_stage(self, stage: str) -> None:
        """Freeze every sub-net the stage does not train (requires_grad False, eval mode: BN statistics
        stay fixed); ``train()`` keeps frozen ones in eval mode."""
        wanted = trainable_subnets(stage)
        if "part_voxels" in wanted:
            self.subnet("part_voxels")  # refuse 'part_voxels' on a model without the head
        names = self.built_subnets(wanted)
        if not names:
            raise BodyNetError(f"training stage {stage!r} trains {', '.join(wanted)}, none of which model config "
                               f"{self.config.name!r} has")
        self.stage = stage
        for p in self.parameters():
            p.requires_grad_(False)
        for name in names:
            for p in self.subnet(name).parameters():
                p.requires_grad_(True)
        if "part_voxels" not in names and self.voxels.part_head is not None:
            # The head lives inside the voxel net but only its own stage trains it.
            for p in self.voxels.part_head.parameters():
                p.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> BodyNet:
        super().train(mode)
        if mode and self.stage is not None:
            trainable = trainable_subnets(self.stage)
            for name in self.built_subnets(("pose2d", "segm", "pose3d", "voxels")):
                if name not in trainable:
                    self.subnet(name).eval()
            if "part_voxels" in trainable:
                # The head is inside the frozen voxel trunk: keep the trunk's BN fixed, train the head.
                self.voxels.part_head.train()
        return self

