"""The process group of a ``torchrun`` run, shared by every command that scales past one process
(``train`` with DDP, ``predict`` with sharded inputs).

One process per device. ``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them the run is a
single process. The backend is NCCL on GPUs and gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from bodynet_cli.errors import BodyNetError


@dataclass(frozen=True)
class DistContext:
    """rank, world_size, local_rank of this process; ``is_main`` writes files and prints."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group when started by ``torchrun`` (env RANK/WORLD_SIZE/LOCAL_RANK)."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return DistContext()
    import torch.distributed as dist

    ctx = DistContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return ctx


def local_device(device: torch.device, ctx: DistContext) -> torch.device:
    """Each process of a multi-GPU run takes the GPU of its LOCAL_RANK."""
    if device.type == "cuda" and ctx.distributed:
        if ctx.local_rank >= torch.cuda.device_count():
            raise BodyNetError(f"LOCAL_RANK {ctx.local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
                               "start torchrun with --nproc-per-node at most the GPU count")
        torch.cuda.set_device(ctx.local_rank)
        return torch.device("cuda", ctx.local_rank)
    return device


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
