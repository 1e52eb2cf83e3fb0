"""Hourglass building blocks (Newell et al. 2016, as used by BodyNet): residual, hourglass, stacks.

Every tensor is (B, C, H, W); stacked predictions are (B, S, C, H, W) so per-stack losses index S.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    """Conv → BN → ReLU (the hourglass 'lin' layer and the 7×7/2 stems)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Residual(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-1×1 (c_out/2), BN-ReLU-3×3 (c_out/2), BN-ReLU-1×1 (c_out).

    The skip is the identity, or a 1×1 conv only when the channel counts differ.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        mid = c_out // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, c_out, 1),
        )  # fmt: skip
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """Recursive hourglass of ``depth`` down-sampling levels, one residual per level, ``features`` wide.

    H and W must be divisible by 2**depth.
    """

    def __init__(self, depth: int, features: int):
        super().__init__()
        self.up1 = Residual(features, features)
        self.pool = nn.MaxPool2d(2, 2)
        self.low1 = Residual(features, features)
        self.low2 = Hourglass(depth - 1, features) if depth > 1 else Residual(features, features)
        self.low3 = Residual(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(self.pool(x))))
        return self.up1(x) + nn.functional.interpolate(low, scale_factor=2, mode="nearest")


class Stem(nn.Module):
    """7×7/2 conv → c1, BN, ReLU, Residual(c1→c2), max-pool, Residual(c2→c2), Residual(c2→F).

    The paper has (c1, c2) = (64, 128). x: (B, c_in, H, W) -> (B, F, H/4, W/4).
    """

    def __init__(self, c_in: int, features: int, channels: tuple[int, int] = (64, 128)):
        super().__init__()
        c1, c2 = channels
        self.layers = nn.Sequential(
            conv_bn_relu(c_in, c1, kernel=7, stride=2),
            Residual(c1, c2),
            nn.MaxPool2d(2, 2),
            Residual(c2, c2),
            Residual(c2, features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class StackedHourglass(nn.Module):
    """S hourglasses with intermediate supervision, working on stem features (B, F, H, W).

    Each stack: Hourglass → Residual → 1×1 conv-BN-ReLU (the stack's features) → 1×1 conv to
    ``out_channels`` (the stack's prediction). Between stacks, prediction and features are merged
    back into the running features through 1×1 convs. ``forward`` returns the predictions
    (B, S, C, H, W) and the list of S per-stack feature maps (B, F, H, W) (the voxel net's part head
    reads them).
    """

    def __init__(self, features: int, out_channels: int, stacks: int, depth: int):
        super().__init__()
        self.hourglasses = nn.ModuleList(Hourglass(depth, features) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(features, features), conv_bn_relu(features, features)) for _ in range(stacks)
        )
        self.outputs = nn.ModuleList(nn.Conv2d(features, out_channels, 1) for _ in range(stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(features, features, 1) for _ in range(stacks - 1))
        self.merge_outputs = nn.ModuleList(nn.Conv2d(out_channels, features, 1) for _ in range(stacks - 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        preds, feats = [], []
        stacks = zip(self.hourglasses, self.features, self.outputs, strict=True)
        for i, (hourglass, feature, output) in enumerate(stacks):
            feat = feature(hourglass(x))
            pred = output(feat)
            preds.append(pred)
            feats.append(feat)
            if i < len(self.merge_features):
                x = x + self.merge_features[i](feat) + self.merge_outputs[i](pred)
        return torch.stack(preds, dim=1), feats
