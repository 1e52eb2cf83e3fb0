"""The training stages (docs/architecture.md, training stages), one table.

Each row says everything about a stage: the sub-nets it trains (every other one is frozen, in eval
mode), its loss terms with their unnormalised weights, how far the forward pass runs, and the
training loop's defaults (length, learning rate, whether the data need part-voxel labels). The
networks (``models.bodynet``), the losses (``models.losses``) and the training pipeline read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bodynet_cli.errors import BodyNetError

SUBNETS = ("pose2d", "segm", "pose3d", "voxels", "part_voxels")
# The sub-net whose output each loss term scores.
TERM_SUBNET = {"pose2d": "pose2d", "segm": "segm", "pose3d": "pose3d", "voxels": "voxels", "fv": "voxels",
               "sv": "voxels", "part_voxels": "part_voxels", "part_fv": "part_voxels", "part_sv": "part_voxels"}


@dataclass(frozen=True)
class StageSpec:
    """One training stage.

    name: the stage's name. subnets: the sub-nets it updates (names from ``SUBNETS``). weights: its loss
    terms (``TERM_SUBNET`` keys) and their weights before normalising to sum 1. upto: how far
    ``BodyNet.forward`` runs ('2d', '3d' or 'voxels'). steps: default optimiser steps (``--steps``
    overrides). lr: default learning rate (``--lr`` overrides). part_voxels: the stage needs 7-class voxel
    labels and a model config with the part-voxel head.
    """

    name: str
    subnets: tuple[str, ...]
    weights: dict[str, float] = field(hash=False)
    upto: str
    steps: int
    lr: float
    part_voxels: bool = False
    summary: str = ""


# The paper's order and weights; 'end2end' and 'voxels_proj' are the paper's multi-task weights,
# single-network stages use one unit weight per term, 'part_voxels' mirrors 'voxels_proj' for the
# 7-class grid and its projections. Default lengths are for the `small` config at batch 8 (see
# tools/train_default.sh for the timing).
STAGE_TABLE: dict[str, StageSpec] = {
    s.name: s
    for s in (
        StageSpec("2d", ("pose2d", "segm"), {"segm": 1.0, "pose2d": 1.0}, "2d", steps=4000, lr=1e-3,
                  summary="2D pose and part segmentation"),
        StageSpec("3d", ("pose3d",), {"pose3d": 1.0}, "3d", steps=3000, lr=1e-3,
                  summary="3D pose; 2D nets frozen"),
        StageSpec("voxels", ("voxels",), {"voxels": 1.0}, "voxels", steps=4000, lr=1e-3,
                  summary="voxels; 2D and 3D nets frozen"),
        StageSpec("voxels_proj", ("voxels",), {"voxels": 10.0, "fv": 1.0, "sv": 1.0}, "voxels", steps=2000,
                  lr=1e-3, summary="voxels with FV+SV re-projection losses"),
        # Fine-tuning everything: a lower rate keeps the pretrained sub-nets from being thrown off.
        StageSpec("end2end", ("pose2d", "segm", "pose3d", "voxels"),
                  {"segm": 1e7, "pose2d": 1e3, "pose3d": 1e6, "voxels": 10.0, "fv": 1.0, "sv": 1.0}, "voxels",
                  steps=10000, lr=2.5e-4, summary="all four sub-nets, multi-task loss"),
        # The part-voxel head learns on top of the trained (frozen) voxel trunk, so the binary voxel
        # output of the same checkpoint stays what stage 'voxels_proj'/'end2end' made it.
        StageSpec("part_voxels", ("part_voxels",), {"part_voxels": 10.0, "part_fv": 1.0, "part_sv": 1.0}, "voxels",
                  steps=2000, lr=1e-3, part_voxels=True, summary="7-class part-voxel head"),
    )
}  # fmt: skip
STAGES = tuple(STAGE_TABLE)
# What `--stage all` runs, in order (part voxels are optional in the paper: ask for them by name).
ALL_STAGES = ("2d", "3d", "voxels", "voxels_proj", "end2end")


def get_stage(name: str) -> StageSpec:
    """The stage called ``name``; ``BodyNetError`` for an unknown name."""
    try:
        return STAGE_TABLE[name]
    except KeyError:
        raise BodyNetError(f"unknown training stage {name!r}; choose one of {', '.join(STAGES)}") from None


def trainable_subnets(stage: str) -> tuple[str, ...]:
    """Names (from ``SUBNETS``) of the sub-nets a training stage updates."""
    return get_stage(stage).subnets


def stage_upto(stage: str) -> str:
    """How far ``BodyNet.forward`` must run for a training stage's losses."""
    return get_stage(stage).upto


def parse_stages(text: str) -> list[StageSpec]:
    """``--stage``: 'all', one stage name, or a comma-separated list, run in the given order."""
    names = list(ALL_STAGES) if text.strip() == "all" else [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in STAGE_TABLE]
    if unknown or not names:
        raise BodyNetError(f"--stage {text!r}: unknown stage {', '.join(unknown) or '(empty)'}; choose 'all' or "
                           f"some of {', '.join(STAGE_TABLE)} (comma-separated)")
    return [STAGE_TABLE[n] for n in names]


def previous_stage(name: str) -> str | None:
    """The stage whose final weights this one starts from (None for the first)."""
    order = list(ALL_STAGES) + ["part_voxels"]
    i = order.index(name)
    return order[i - 1] if i > 0 else None
