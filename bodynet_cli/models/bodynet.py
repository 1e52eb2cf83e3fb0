"""The four BodyNet sub-networks (SPEC section 2), their chaining, and the training-stage freezing.

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
from bodynet_cli.models.config import ModelConfig

SUBNETS = ("pose2d", "segm", "pose3d", "voxels", "part_voxels")

# SPEC training order. Each stage trains these sub-nets; every other one is frozen (eval mode).
STAGE_SUBNETS: dict[str, tuple[str, ...]] = {
    "2d": ("pose2d", "segm"),
    "3d": ("pose3d",),
    "voxels": ("voxels",),
    "voxels_proj": ("voxels",),
    "end2end": ("pose2d", "segm", "pose3d", "voxels"),
    # The part-voxel head learns on top of the trained (frozen) voxel trunk, so the binary voxel
    # output of the same checkpoint stays what stage 'voxels_proj'/'end2end' made it.
    "part_voxels": ("part_voxels",),
}
STAGES = tuple(STAGE_SUBNETS)


def trainable_subnets(stage: str) -> tuple[str, ...]:
    """Names (from ``SUBNETS``) of the sub-nets a training stage updates."""
    try:
        return STAGE_SUBNETS[stage]
    except KeyError:
        raise BodyNetError(f"unknown training stage {stage!r}; choose one of {', '.join(STAGES)}") from None


@dataclass
class BodyNetOutput:
    """Every intermediate output of ``BodyNet``, stacked per hourglass stack (S).

    heatmaps: (B, S, J, H, W) 2D-pose Gaussian heatmaps.
    segm_logits: (B, S, P, H, W) part-segmentation logits (P = 15).
    volumes: (B, S, J·D, H, W) 3D-pose volumes, channel j·D + d; None when not computed.
    voxel_logits: (B, S, R, R, R) occupancy logits ``[z, y, x]`` (pre-sigmoid); None when not computed.
    part_voxel_logits: (B, S, 7, R, R, R) part-voxel logits; None unless the config has part voxels.
    """

    heatmaps: torch.Tensor
    segm_logits: torch.Tensor
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
    """The voxel sub-network (SPEC section 2).

    Input x: (B, 3+J+P, 4H, 4W) and the last-stack 3D pose (B, J·D, H, W). Its own stem (7×7/2 conv,
    Residual(64→128), pool) gives 128 ch at H×W; concatenated with the 3D pose, then
    Residual(128+J·D→128), Residual(128→F), S hourglasses whose per-stack 1×1 output has R channels
    (depth slices) at H×W; each is upsampled to R×R by ``VoxelUpsample``. No sigmoid: logits out.
    """

    def __init__(self, cfg: ModelConfig, c_in: int):
        super().__init__()
        jd = cfg.num_joints * cfg.depth_bins
        c1, c2 = cfg.stem_channels
        self.stem = nn.Sequential(conv_bn_relu(c_in, c1, kernel=7, stride=2), Residual(c1, c2), nn.MaxPool2d(2, 2))
        self.fuse = nn.Sequential(Residual(c2 + jd, c2), Residual(c2, cfg.features))
        self.hourglass = StackedHourglass(cfg.features, cfg.voxel_res, cfg.stacks, cfg.depth)
        self.upsample = nn.ModuleList(VoxelUpsample(cfg.voxel_res, cfg.voxel_res) for _ in range(cfg.stacks))
        self.part_head = PartVoxelHead(cfg) if cfg.part_voxels else None

    def forward(self, x: torch.Tensor, volume: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns voxel logits (B, S, R, R, R) and part-voxel logits (B, S, 7, R, R, R) or None."""
        h = self.fuse(torch.cat([self.stem(x), volume], dim=1))
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


def network_input(rgb: torch.Tensor, heatmaps: torch.Tensor, segm_logits: torch.Tensor) -> torch.Tensor:
    """The 3D-pose and voxel nets' input: RGB ⊕ last-stack heatmaps ⊕ softmaxed segmentation, the
    latter two bilinearly upsampled to the input size.

    rgb: (B, 3, 4H, 4W) normalised; heatmaps: (B, S, J, H, W); segm_logits: (B, S, P, H, W)
    -> (B, 3+J+P, 4H, 4W).
    """
    size = rgb.shape[-2:]
    up = [
        F.interpolate(heatmaps[:, -1], size=size, mode="bilinear", align_corners=False),
        F.interpolate(segm_logits[:, -1].softmax(dim=1), size=size, mode="bilinear", align_corners=False),
    ]
    return torch.cat([rgb, *up], dim=1)


class BodyNet(nn.Module):
    """The four chained sub-networks. ``forward(rgb)`` takes RGB in [0, 1] (B, 3, I, I), I = input_size,
    and normalises it with the config's mean and std."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.input_size != 4 * cfg.heatmap_size or cfg.heatmap_size % (2**cfg.depth):
            raise BodyNetError(
                f"model config {cfg.name!r}: input_size must be 4 × heatmap_size and heatmap_size divisible "
                f"by 2**depth, got {cfg.input_size}, {cfg.heatmap_size}, depth {cfg.depth}"
            )
        self.config = cfg
        j, p, jd = cfg.num_joints, cfg.num_seg, cfg.num_joints * cfg.depth_bins
        self.pose2d = HourglassNet(3, j, cfg)
        self.segm = HourglassNet(3, p, cfg)
        self.pose3d = HourglassNet(3 + j + p, jd, cfg)
        self.voxels = VoxelNet(cfg, 3 + j + p)
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
        return getattr(self, name)

    def forward(self, rgb: torch.Tensor, upto: str = "voxels") -> BodyNetOutput:
        """rgb: (B, 3, I, I) in [0, 1]. ``upto``: '2d' (pose2d + segm), '3d' (+ pose3d) or 'voxels' (all)."""
        if upto not in ("2d", "3d", "voxels"):
            raise ValueError(f"upto must be '2d', '3d' or 'voxels', got {upto!r}")
        x = (rgb - self.rgb_mean) / self.rgb_std
        out = BodyNetOutput(heatmaps=self.pose2d(x), segm_logits=self.segm(x))
        if upto == "2d":
            return out
        x = network_input(x, out.heatmaps, out.segm_logits)
        out.volumes = self.pose3d(x)
        if upto == "3d":
            return out
        out.voxel_logits, out.part_voxel_logits = self.voxels(x, out.volumes[:, -1])
        return out

    def set_stage(self, stage: str) -> None:
        """Freeze every sub-net the stage does not train (requires_grad False, eval mode: BN statistics
        stay fixed); ``train()`` keeps frozen ones in eval mode."""
        names = trainable_subnets(stage)
        for name in names:
            self.subnet(name)  # refuse 'part_voxels' on a model without the head
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
            for name in ("pose2d", "segm", "pose3d", "voxels"):
                if name not in trainable:
                    self.subnet(name).eval()
            if "part_voxels" in trainable:
                # The head is inside the frozen voxel trunk: keep the trunk's BN fixed, train the head.
                self.voxels.part_head.train()
        return self


def stage_upto(stage: str) -> str:
    """How far ``BodyNet.forward`` must run for a training stage's losses."""
    trainable_subnets(stage)  # validates the name
    return {"2d": "2d", "3d": "3d"}.get(stage, "voxels")
