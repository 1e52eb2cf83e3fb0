"""Resume state without pickle, crash-safe checkpoint swaps, and the step-indexed sharded batch order."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bodynet_cli.errors import BodyNetError
from bodynet_cli.pipelines.train.loop import make_optimizer
from bodynet_cli.pipelines.train.sampler import StepBatchSampler, epoch_order, steps_per_epoch
from bodynet_cli.pipelines.train.state import (
    RESUME_JSON,
    capture_rng,
    commit_dir,
    flatten_optimizer_state,
    recover,
    restore_rng,
    swap_in,
    unflatten_optimizer_state,
)


def _steps(model, opt, n, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(5, 4, generator=g)
        loss = model(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


@pytest.mark.parametrize("name", ["rmsprop", "adam", "sgd"])
def test_optimizer_state_round_trip_continues_identically(name):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    opt = make_optimizer(name, model.parameters(), 1e-2)
    _steps(model, opt, 3, seed=1)
    tensors, plain = flatten_optimizer_state(opt.state_dict())
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    import json

    plain = json.loads(json.dumps(plain))  # what the JSON file gives back
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    expected = _steps(model, opt, 3, seed=2)

    model.load_state_dict(weights)
    fresh = make_optimizer(name, model.parameters(), 1e-2)
    fresh.load_state_dict(unflatten_optimizer_state(tensors, plain))
    assert _steps(model, fresh, 3, seed=2) == expected


def test_rng_round_trip():
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    tensors, plain = capture_rng()
    a = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(9)
    np.random.seed(9)
    random.seed(9)
    restore_rng(tensors, plain)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_swap_in_and_recover_after_crashes(tmp_path):
    final = tmp_path / "checkpoint"

    def write(version: int) -> None:
        tmp = commit_dir(final)
        (tmp / "w").write_text(str(version))
        (tmp / RESUME_JSON).write_text("{}")

    assert recover(final) is None
    write(1)
    swap_in(final)
    assert (final / "w").read_text() == "1" and recover(final) == final
    # killed while writing version 2: the partial .tmp is ignored
    tmp = commit_dir(final)
    (tmp / "w").write_text("2")
    assert recover(final) == final and (recover(final) / "w").read_text() == "1"
    # killed between the two renames of swap_in: only .old is complete
    write(2)
    final.rename(final.with_name("checkpoint.old"))
    assert (recover(final) / "w").read_text() == "1"
    swap_in(final)  # the next save finishes the job
    assert (recover(final) / "w").read_text() == "2" and not final.with_name("checkpoint.old").exists()


def test_sampler_resumes_mid_epoch_and_shards_disjointly():
    n, batch, seed = 23, 3, 5
    full = list(StepBatchSampler(n, batch, seed, 0, 20))
    assert list(StepBatchSampler(n, batch, seed, 7, 20)) == full[7:]
    per = steps_per_epoch(n, batch, 1)
    assert per == 7
    epoch0 = [i for b in full[:per] for _, i in b]
    assert len(set(epoch0)) == len(epoch0) == per * batch
    assert {e for b in full[per : 2 * per] for e, _ in b} == {1}
    # two ranks: disjoint shards of each epoch's order, together covering it
    ranks = [list(StepBatchSampler(24, batch, seed, 0, 4, rank=r, world_size=2)) for r in range(2)]
    assert steps_per_epoch(24, batch, 2) == 4
    seen = [[i for b in rk for _, i in b] for rk in ranks]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(24))
    # 23 items over 2 ranks: the order is padded by wrapping around (its first item is seen twice)
    ranks = [list(StepBatchSampler(n, batch, seed, 0, 4, rank=r, world_size=2)) for r in range(2)]
    seen = [i for rk in ranks for b in rk for _, i in b]
    order = epoch_order(n, seed, 0)
    assert sorted(seen) == sorted(np.r_[order, order[:1]].tolist())
    with pytest.raises(BodyNetError, match="--batch-size"):
        StepBatchSampler(3, 4, 0, 0, 1)
