"""The training stages (docs/architecture.md), as data.

Which sub-nets a stage trains and its loss weights live with the networks (``models.bodynet`` and
``models.losses``; a model trains those of them it has, with ``stage_loss_weights(stage, config)`` or
balanced weights, ``train.balance``); this table adds what the training loop needs: the default length, learning rate,
and whether the data must carry part-voxel labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from bodynet_cli.errors import BodyNetError
from bodynet_cli.models.bodynet import STAGES, stage_upto, trainable_subnets


@dataclass(frozen=True)
class StageSpec:
    """One training stage.

    name: a ``models.bodynet.STAGES`` name. steps: default optimiser steps (``--steps`` overrides).
    lr: default learning rate (``--lr`` overrides). part_voxels: the stage needs 7-class voxel labels and
    a model config with the part-voxel head.
    """

    name: str
    steps: int
    lr: float
    part_voxels: bool = False
    summary: str = ""

    @property
    def subnets(self) -> tuple[str, ...]:
        """The sub-nets this stage updates; every other one is frozen."""
        return trainable_subnets(self.name)

    @property
    def upto(self) -> str:
        """How far the forward pass must run: '2d', '3d' or 'voxels'."""
        return stage_upto(self.name)


# Default lengths are for the `small` config at batch 8 (see tools/train_default.sh for the timing).
STAGE_TABLE: dict[str, StageSpec] = {
    s.name: s
    for s in (
        StageSpec("2d", steps=4000, lr=1e-3, summary="2D pose and part segmentation"),
        StageSpec("3d", steps=3000, lr=1e-3, summary="3D pose; 2D nets frozen"),
        StageSpec("voxels", steps=4000, lr=1e-3, summary="voxels; 2D and 3D nets frozen"),
        StageSpec("voxels_proj", steps=2000, lr=1e-3, summary="voxels with FV+SV re-projection losses"),
        # Fine-tuning everything: a lower rate keeps the pretrained sub-nets from being thrown off.
        StageSpec("end2end", steps=10000, lr=2.5e-4, summary="all four sub-nets, multi-task loss"),
        StageSpec("part_voxels", steps=2000, lr=1e-3, part_voxels=True, summary="7-class part-voxel head"),
    )
}
assert set(STAGE_TABLE) == set(STAGES), "the stage table must cover exactly the model's stages"

# What `--stage all` runs, in order (part voxels are optional in the paper: ask for them by name).
ALL_STAGES = ("2d", "3d", "voxels", "voxels_proj", "end2end")


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
