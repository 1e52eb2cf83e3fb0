"""Distributed set-up from ``torchrun``'s environment, and the deterministic step-indexed batch order.

One process per device. ``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them the run is a
single process. The backend is NCCL on GPUs and gloo on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
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


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of ``n`` items in ``epoch``: a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


def steps_per_epoch(n: int, batch_size: int, world_size: int) -> int:
    """Full batches per process per epoch (the shard is padded to equal length; the last partial
    batch is dropped, as DistributedSampler + drop_last)."""
    return -(-n // world_size) // batch_size


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches of ``(epoch, index)`` keys for optimiser steps ``start_step .. total_steps - 1`` of one rank.

    Each epoch shuffles the ``n`` items with ``epoch_order``, pads the order by wrapping around to a multiple
    of ``world_size`` and gives rank r the items r, r + W, r + 2W, ... (DistributedSampler semantics). Step k
    is batch ``k % steps_per_epoch`` of epoch ``k // steps_per_epoch``, so any step can be the first one.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start_step, self.total_steps = start_step, total_steps
        self.rank, self.world_size = rank, world_size
        self.per_epoch = steps_per_epoch(n, batch_size, world_size)
        if self.per_epoch == 0:
            raise BodyNetError(f"the training split has {n} samples, fewer than one batch of {batch_size} per "
                               f"process × {world_size} processes; lower --batch-size or generate more data")

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def shard(self, epoch: int) -> np.ndarray:
        order = epoch_order(self.n, self.seed, epoch)
        padded = -(-self.n // self.world_size) * self.world_size
        order = np.concatenate([order, order[: padded - self.n]]) if padded > self.n else order
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, shard = -1, None
        for step in range(self.start_step, self.total_steps):
            e, pos = divmod(step, self.per_epoch)
            if e != epoch:
                epoch, shard = e, self.shard(e)
            yield [(epoch, int(i)) for i in shard[pos * self.batch_size : (pos + 1) * self.batch_size]]
