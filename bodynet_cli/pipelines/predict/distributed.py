"""``torchrun --nproc-per-node N -m bodynet_cli predict ...``: each rank takes every N-th image.

Ranks share nothing while they work (each writes its own images' files); at the end they exchange
their failure lists so rank 0 writes joints.json and failures.csv for the whole run. The process
group itself is ``bodynet_cli.distributed``'s (one set-up for every command).
"""

from __future__ import annotations

from typing import TypeVar

from bodynet_cli.distributed import DistContext

T = TypeVar("T")


def shard(items: list[T], ctx: DistContext) -> list[T]:
    """This rank's share: items rank, rank + world, ... (round robin keeps the shares balanced)."""
    return items[ctx.rank :: ctx.world_size]


def gather_lists(values: list, ctx: DistContext) -> list:
    """Concatenate every rank's ``values`` (small objects made by this program) on every rank."""
    if not ctx.distributed:
        return list(values)
    import torch.distributed as dist

    parts: list = [None] * ctx.world_size
    dist.all_gather_object(parts, values)
    return [v for part in parts for v in part]


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank if ``flag`` is True on any of them."""
    return any(gather_lists([flag], ctx))


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as dist

        dist.barrier()
