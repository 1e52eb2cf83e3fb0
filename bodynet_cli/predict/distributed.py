"""``torchrun --nproc-per-node N -m bodynet_cli predict ...``: each rank takes every N-th image.

Ranks share nothing while they work (each writes its own images' files); at the end they exchange
their failure lists so rank 0 writes joints.json and failures.csv for the whole run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's ``rank`` among ``world`` processes; ``local_rank`` picks its GPU."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def ranks_from_env() -> Ranks:
    """The torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK); a single process without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def shard(items: list[T], ranks: Ranks) -> list[T]:
    """This rank's share: items rank, rank + world, ... (round robin keeps the shares balanced)."""
    return items[ranks.rank :: ranks.world]


def init(ranks: Ranks, device_type: str) -> None:
    """Join the process group (NCCL between GPUs, gloo on CPU); nothing for a single process."""
    if ranks.world > 1:
        import torch
        import torch.distributed as dist

        if device_type == "cuda":
            torch.cuda.set_device(ranks.local_rank)  # NCCL collectives run on the current device
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")


def gather_lists(values: list, ranks: Ranks) -> list:
    """Concatenate every rank's ``values`` (picklable objects made by this program) on every rank."""
    if ranks.world == 1:
        return list(values)
    import torch.distributed as dist

    parts: list = [None] * ranks.world
    dist.all_gather_object(parts, values)
    return [v for part in parts for v in part]


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """True on every rank if ``flag`` is True on any of them."""
    return any(gather_lists([flag], ranks))


def finish(ranks: Ranks) -> None:
    if ranks.world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
