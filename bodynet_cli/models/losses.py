"""BodyNet's losses (docs/architecture.md), one pure function per term, each returning per-stack values (S,).

Shapes: B batch, S stacks, J joints, D depth bins, P segmentation classes, H, W heatmap size,
R voxel resolution, 7 voxel parts. Voxel grids are ``[z, y, x]``. ``compute_losses`` combines the
terms of a training stage with the paper's multi-task weights, normalised by their sum; stacks are
summed (intermediate supervision: every stack gets the full loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import front_view, side_view
from bodynet_cli.models.bodynet import BodyNetOutput
from bodynet_cli.models.stages import TERM_SUBNET, get_stage


def stage_loss_weights(stage: str, config=None) -> dict[str, float]:
    """The stage's loss-term weights, normalised to sum to 1. With a ``ModelConfig``, the terms of sub-nets
    it does not build (e.g. pose2d in a proxy model) are left out before normalising."""
    w = get_stage(stage).weights
    if config is not None:
        w = {k: v for k, v in w.items() if TERM_SUBNET[k] == "part_voxels" or config.has(TERM_SUBNET[k])}
    total = sum(w.values())
    return {k: v / total for k, v in w.items()}


def _per_stack_mean(x: torch.Tensor) -> torch.Tensor:
    """(B, S, ...) -> (S,) mean over everything but the stack."""
    return x.transpose(0, 1).flatten(1).mean(dim=1)


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """2D-pose loss. pred: (B, S, J, H, W); target: (B, J, H, W) -> (S,) mean squared error per stack."""
    return _per_stack_mean((pred - target.unsqueeze(1)).square())


def volume_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """3D-pose loss. pred: (B, S, J·D, H, W); target: (B, J·D, H, W) -> (S,) mean squared error per stack."""
    return heatmap_mse(pred, target)


def segmentation_ce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Spatial cross-entropy. logits: (B, S, P, H, W); labels: (B, H, W) int64; mask: bool (B,) samples that
    have segmentation ground truth (None: all) -> (S,) mean over their pixels (0 when none has)."""
    b, s = logits.shape[:2]
    ce = F.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(s, dim=0), reduction="none")
    ce = ce.view(b, s, *ce.shape[1:])
    if mask is None:
        return _per_stack_mean(ce)
    per_sample = ce.flatten(2).mean(dim=2)  # (B, S)
    w = mask.to(per_sample.dtype)[:, None]
    return (per_sample * w).sum(dim=0) / w.sum().clamp_min(1.0)


def voxel_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Voxel loss. logits: (B, S, R, R, R); target: (B, R, R, R) in {0, 1} -> (S,) mean per stack.

    BCE-with-logits equals the paper's sigmoid followed by BCE, without the overflow of log(sigmoid).
    """
    t = target.to(logits.dtype).unsqueeze(1).expand_as(logits)
    return _per_stack_mean(F.binary_cross_entropy_with_logits(logits, t, reduction="none"))


def part_voxel_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Part-voxel loss. logits: (B, S, 7, R, R, R); labels: (B, R, R, R) int64 in 0..6 -> (S,) mean CE."""
    return segmentation_ce(logits, labels)


def part_front_view(grid: torch.Tensor) -> torch.Tensor:
    """Part front view: background (class 0) projects with min, parts with max.
    grid: (..., 7, R, R, R) -> (..., 7, R, R) ``[y, x]``."""
    return torch.cat([grid[..., :1, :, :, :].amin(dim=-3), grid[..., 1:, :, :, :].amax(dim=-3)], dim=-3)


def part_side_view(grid: torch.Tensor) -> torch.Tensor:
    """Part side view: background with min over x, parts with max. grid: (..., 7, R, R, R) -> (..., 7, R, R)
    ``[y, z]``."""
    return torch.cat([grid[..., :1, :, :, :].amin(dim=-1), grid[..., 1:, :, :, :].amax(dim=-1)], dim=-3).transpose(
        -1, -2
    )


def _bce_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, S, ...) logits, (B, ...) target -> (S,)."""
    t = target.to(logits.dtype).unsqueeze(1).expand_as(logits)
    return _per_stack_mean(F.binary_cross_entropy_with_logits(logits, t, reduction="none"))


def reprojection_bce(logits: torch.Tensor, fv_target: torch.Tensor, sv_target: torch.Tensor):
    """FV and SV re-projection losses. logits: (B, S, R, R, R); fv_target: (B, R, R) ``[y, x]``;
    sv_target: (B, R, R) ``[y, z]`` -> (fv (S,), sv (S,)).

    BCE of the max-projected sigmoid probabilities. The sigmoid is monotonic, so max of sigmoid is
    sigmoid of the max logit and the loss is computed stably with BCE-with-logits.
    """
    return _bce_logits(front_view(logits), fv_target), _bce_logits(side_view(logits), sv_target)


def part_reprojection_bce(logits: torch.Tensor, fv_target: torch.Tensor, sv_target: torch.Tensor):
    """Part FV and SV losses. logits: (B, S, 7, R, R, R); fv_target: (B, 7, R, R) ``[y, x]``; sv_target:
    (B, 7, R, R) ``[y, z]`` (one-hot per class) -> (fv (S,), sv (S,)).

    As in the paper code, each class's probability is its own sigmoid; background projects with
    min, parts with max; min/max commute with the sigmoid, so BCE-with-logits applies.
    """
    return _bce_logits(part_front_view(logits), fv_target), _bce_logits(part_side_view(logits), sv_target)


@dataclass
class LossTargets:
    """Ground truth for ``compute_losses``; a stage needs only its own terms' fields.

    heatmaps: (B, J, H, W). segmentation: (B, H, W) int64 at heatmap size; segmentation_mask: bool (B,)
    the samples that have it (None: all). volumes: (B, J·D, H, W).
    voxels: (B, R, R, R) {0, 1}. fv: (B, R, R) ``[y, x]`` silhouette (default: front view of ``voxels``).
    sv: (B, R, R) ``[y, z]`` (default: side view of ``voxels``). part_voxels: (B, R, R, R) int64 0..6.
    part_fv, part_sv: (B, 7, R, R) one-hot (default: projections of ``part_voxels``).
    """

    heatmaps: torch.Tensor | None = None
    segmentation: torch.Tensor | None = None
    segmentation_mask: torch.Tensor | None = None
    volumes: torch.Tensor | None = None
    voxels: torch.Tensor | None = None
    fv: torch.Tensor | None = None
    sv: torch.Tensor | None = None
    part_voxels: torch.Tensor | None = None
    part_fv: torch.Tensor | None = None
    part_sv: torch.Tensor | None = None


@dataclass
class LossBreakdown:
    """per_stack: term -> (S,) unweighted values; terms: term -> scalar (sum over stacks);
    weights: the normalised stage weights; total: Σ weight · term, the value to back-propagate."""

    per_stack: dict[str, torch.Tensor]
    terms: dict[str, torch.Tensor]
    weights: dict[str, float]
    total: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        """Plain numbers for logs and checkpoint metrics: every term plus 'total'."""
        out = {k: float(v.detach()) for k, v in self.terms.items()}
        out["total"] = float(self.total.detach())
        return out


def _need(value, name: str, stage: str):
    if value is None:
        raise BodyNetError(f"training stage {stage!r} needs the {name!r} target, which this data lacks")
    return value


def compute_losses(output: BodyNetOutput, targets: LossTargets, stage: str,
                   weights: dict[str, float] | None = None) -> LossBreakdown:  # fmt: skip
    """Every loss term of ``stage`` (per stack, unweighted), and the weighted total. ``weights``: term ->
    weight (default: ``stage_loss_weights(stage)``); its keys are the terms computed."""
    from bodynet_cli.models.targets import part_one_hot

    weights = stage_loss_weights(stage) if weights is None else dict(weights)
    per_stack: dict[str, torch.Tensor] = {}
    if "pose2d" in weights:
        per_stack["pose2d"] = heatmap_mse(output.heatmaps, _need(targets.heatmaps, "heatmaps", stage))
    if "segm" in weights:
        per_stack["segm"] = segmentation_ce(output.segm_logits, _need(targets.segmentation, "segmentation", stage),
                                            targets.segmentation_mask)  # fmt: skip
    if "pose3d" in weights:
        per_stack["pose3d"] = volume_mse(_need(output.volumes, "volumes output", stage),
                                         _need(targets.volumes, "volumes", stage))  # fmt: skip
    if "voxels" in weights:
        per_stack["voxels"] = voxel_bce(_need(output.voxel_logits, "voxel output", stage),
                                        _need(targets.voxels, "voxels", stage))  # fmt: skip
    if "fv" in weights:
        vox = targets.voxels
        fv = targets.fv if targets.fv is not None else front_view(_need(vox, "voxels", stage))
        sv = targets.sv if targets.sv is not None else side_view(_need(vox, "voxels", stage))
        per_stack["fv"], per_stack["sv"] = reprojection_bce(output.voxel_logits, fv, sv)
    if "part_voxels" in weights:
        logits = _need(output.part_voxel_logits, "part_voxels output", stage)
        labels = targets.part_voxels
        per_stack["part_voxels"] = part_voxel_ce(logits, _need(labels, "part_voxels", stage))
        one_hot = part_one_hot(labels) if targets.part_fv is None or targets.part_sv is None else None
        fv = targets.part_fv if targets.part_fv is not None else part_front_view(one_hot)
        sv = targets.part_sv if targets.part_sv is not None else part_side_view(one_hot)
        per_stack["part_fv"], per_stack["part_sv"] = part_reprojection_bce(logits, fv, sv)
    terms = {k: v.sum() for k, v in per_stack.items()}
    total = sum(weights[k] * v for k, v in terms.items())
    return LossBreakdown(per_stack=per_stack, terms=terms, weights=weights, total=total)
