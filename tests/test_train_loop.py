"""The training loop: it learns, it resumes bit-identically, and each stage updates only its sub-nets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from train_fixture import TINY, make_dataset

from bodynet_cli.distributed import DistContext
from bodynet_cli.errors import BodyNetError
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.checkpoint import load_checkpoint, save_checkpoint
from bodynet_cli.models.stages import STAGE_TABLE, SUBNETS, parse_stages
from bodynet_cli.pipelines.train import loop
from bodynet_cli.pipelines.train.loop import TrainOptions, train, train_stage

CTX = DistContext()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny"), n=24, n_val=4)


def _opts(data, out, **kw) -> TrainOptions:
    base = dict(data_dir=data, out_dir=out, config=TINY, stages=(STAGE_TABLE["2d"],), steps=6, batch_size=2,
                workers=0, ckpt_every=3, log_every=1, progress=False, seed=1)  # fmt: skip
    base.update(kw)
    return TrainOptions(**base)


def test_a_few_steps_lower_the_loss(data, tmp_path):
    opts = _opts(data, tmp_path / "run", steps=30, batch_size=4, augment=False, ckpt_every=100, lr=2e-3)
    res = train_stage(STAGE_TABLE["2d"], opts, CTX, log=lambda m: None)
    first, last = np.mean(res.losses[:5]), np.mean(res.losses[-5:])
    assert last < 0.8 * first, res.losses


def test_resume_continues_bit_identically(data, tmp_path, monkeypatch):
    spec = STAGE_TABLE["voxels_proj"]
    full = train_stage(spec, _opts(data, tmp_path / "a"), CTX, log=lambda m: None)
    assert len(full.losses) == 6

    real = loop.forward_losses
    calls = {"n": 0}

    def dies_at_step_5(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # as if killed during step 5; the last checkpoint is step 3
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "forward_losses", dies_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        train_stage(spec, _opts(data, tmp_path / "b"), CTX, log=lambda m: None)
    monkeypatch.setattr(loop, "forward_losses", real)
    resumed = train_stage(spec, _opts(data, tmp_path / "b"), CTX, log=lambda m: None)
    assert resumed.losses == full.losses[3:]  # exact equality: same batches, weights, optimiser state

    a = load_checkpoint(tmp_path / "a" / spec.name / "checkpoint").model.state_dict()
    b = load_checkpoint(tmp_path / "b" / spec.name / "checkpoint").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the log reads like one run: every step once, the interrupted run's step 4 dropped
    rows = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]
    logged = [r["loss"]["total"] for r in rows if r["kind"] == "train"]
    np.testing.assert_allclose(logged, full.losses, rtol=1e-6)
    # finished: a re-run skips it
    assert train_stage(spec, _opts(data, tmp_path / "b"), CTX, log=lambda m: None).skipped


@pytest.mark.parametrize("stage", ["2d", "3d", "voxels", "part_voxels"])
def test_a_stage_updates_exactly_its_subnets(data, tmp_path, stage):
    torch.manual_seed(0)
    init = save_checkpoint(tmp_path / "init", BodyNet(TINY), TINY, {})
    spec = STAGE_TABLE[stage]
    res = train_stage(spec, _opts(data, tmp_path / "run", steps=2, init=init), CTX, log=lambda m: None)
    before = load_checkpoint(init).model
    after = load_checkpoint(res.checkpoint).model
    trained = set(spec.subnets)
    for name in SUBNETS:
        if name == "part_voxels":
            continue  # the head lives inside the voxel net; checked below
        a = before.subnet(name).state_dict()
        b = {k: v for k, v in after.subnet(name).state_dict().items()}
        if stage == "part_voxels" and name == "voxels":
            b = {k: v for k, v in b.items() if not k.startswith("part_head.")}
        changed = [k for k in a if not torch.equal(a[k], b[k])]
        if name in trained:
            weights = [k for k in a if k.endswith("weight")]
            assert len(set(changed) & set(weights)) > 0.9 * len(weights), (name, len(changed))
        else:
            assert changed == [], (stage, name, changed[:3])  # weights and BN statistics untouched
    if stage == "part_voxels":
        head = after.voxels.part_head.state_dict()
        src = before.voxels.hourglass.outputs[0].bias.repeat(7) / 7  # the paper's initialisation ...
        assert not torch.equal(head["outputs.0.bias"], src)  # ... which training then moved


def test_all_stages_chain_and_publish_final(data, tmp_path):
    opts = _opts(data, tmp_path / "run", steps=2, stages=tuple(parse_stages("2d,3d")), ckpt_every=100)
    results = train(opts, CTX, log=lambda m: None)
    assert [r.stage for r in results] == ["2d", "3d"]
    final = load_checkpoint(tmp_path / "run" / "final")
    stage3d = load_checkpoint(results[-1].checkpoint)
    assert final.sha256 == stage3d.sha256 and final.info["stages"] == ["2d", "3d"]
    assert "started_from" in stage3d.info and stage3d.info["started_from"].endswith("checkpoint")
    val = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    val = [r for r in val if r["kind"] == "val" and r["stage"] == "3d"]
    assert {"pckh", "segmentation_miou", "joint3d_error_mm", "loss"} <= set(val[-1]["metrics"])
    # a different seed cannot resume this run
    with pytest.raises(BodyNetError, match="seed"):
        train(_opts(data, tmp_path / "run", seed=2, stages=tuple(parse_stages("2d"))), CTX, log=lambda m: None)
