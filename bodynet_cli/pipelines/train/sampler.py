"""The deterministic, step-indexed batch order of training: any step can be the first after a resume,
and every rank of a ``torchrun`` run takes its own share (DistributedSampler semantics)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from bodynet_cli.errors import BodyNetError


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
