"""``bodynet train`` through Typer's runner and as real processes, including a 2-process gloo DDP run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_fixture import TINY, make_dataset
from typer.testing import CliRunner

from bodynet_cli.cli.app import app
from bodynet_cli.models.checkpoint import load_checkpoint

runner = CliRunner()
FAST = ["--batch-size", "2", "--workers", "0", "--log-every", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("tiny"), n=12, n_val=2)
    (root / "tiny.json").write_text(json.dumps(TINY.to_dict()))
    return root


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def test_cli_trains_and_resumes(data, tmp_path):
    out = tmp_path / "run"
    args = ["train", str(data), "--out", str(out), "--config", str(data / "tiny.json"), "--stage", "2d",
            "--steps", "2", *FAST, "--device", "cpu"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert (out / "final" / "model.safetensors").is_file() and (out / "2d" / "checkpoint" / "resume.json").is_file()
    assert load_checkpoint(out / "final").info["steps"] == 2
    # the same command again: nothing to do; more steps: continues from step 2
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "already finished" in r.output, r.output
    r = runner.invoke(app, [*args[:-4], "--steps", "3", "--device", "cpu"])
    assert r.exit_code == 0 and "resumed from step 2" in r.output, r.output
    assert load_checkpoint(out / "final").info["steps"] == 3


@pytest.mark.parametrize("extra, message", [
    (["--stage", "4d"], "unknown stage"),
    (["--config", "huge"], "--config"),
    (["--optimizer", "lbfgs"], "--optimizer"),
    (["--steps", "2", "--epochs", "1"], "--steps and --epochs"),
    (["--batch-size", "64"], "--batch-size"),
])  # fmt: skip
def test_cli_user_errors(data, tmp_path, extra, message):
    base = ["train", str(data), "--out", str(tmp_path / "r"), "--config", str(data / "tiny.json"), "--workers", "0"]
    r = runner.invoke(app, [*base, *extra])
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_cli_missing_data_dir(tmp_path):
    r = runner.invoke(app, ["train", str(tmp_path), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "index.json" in r.output, r.output


def test_subprocess_run(data, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bodynet_cli", "train", str(data), "--out", str(out), "--config",
           str(data / "tiny.json"), "--stage", "2d,3d", "--steps", "2", *FAST, "--device", "cpu"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert p.returncode == 0, p.stderr + p.stdout
    assert load_checkpoint(out / "final").info["stages"] == ["2d", "3d"]


def _train_two_processes(data, out, config, stage: str, steps: int):
    """`bodynet train` under torchrun with two CPU processes (gloo); returns the final checkpoint."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
           "bodynet_cli", "train", str(data), "--out", str(out), "--config", str(config), "--stage", stage,
           "--steps", str(steps), *FAST, "--device", "cpu"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert p.returncode == 0, p.stderr[-4000:] + p.stdout[-2000:]
    return load_checkpoint(out / "final")


def test_ddp_two_processes_gloo(data, tmp_path):
    out = tmp_path / "ddp"
    ckpt = _train_two_processes(data, out, data / "tiny.json", "voxels_proj", 3)
    assert ckpt.info["processes"] == 2 and ckpt.info["steps"] == 3
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3]  # one writer: rank 0
    val = [r for r in rows if r["kind"] == "val"][-1]["metrics"]
    assert val["n"] == 2 and val["voxel_iou"] is not None
    assert json.loads((out / "run.json").read_text())["world_size"] == 2


PROXY_TINY = TINY.replace(name="tiny_proxy", pose2d_inputs=(), segm_inputs=("joints", "mask"),
                          pose3d_inputs=("segm", "joints", "mask"), voxels_inputs=("segm", "joints", "mask", "pose3d"))


def test_cli_proxy_config_corruption_file_and_balancing(data, tmp_path):
    (tmp_path / "proxy.json").write_text(json.dumps(PROXY_TINY.to_dict()))
    (tmp_path / "corr.json").write_text(json.dumps({"drop_prob": 0.3, "jitter": 0.05}))
    base = ["train", str(data), "--config", str(tmp_path / "proxy.json"), "--stage", "voxels_proj", "--steps", "1",
            *FAST, "--device", "cpu", "--proxy-corruption", str(tmp_path / "corr.json")]  # fmt: skip
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    info = load_checkpoint(tmp_path / "a" / "final").info
    assert info["proxy_corruption"]["drop_prob"] == 0.3 and info["proxy_corruption"]["mask_radius"] == 3
    assert "balanced loss weights" in r.output and info["loss_weights"]["voxels"] < 10 / 12  # measured
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--no-balance-losses"])
    assert r.exit_code == 0, r.output
    assert load_checkpoint(tmp_path / "b" / "final").info["loss_weights"]["voxels"] == 10 / 12
    # resuming with other corruption settings would not continue the same run
    (tmp_path / "corr.json").write_text(json.dumps({"drop_prob": 0.5}))
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert r.exit_code == 2 and "proxy_corruption" in r.output, r.output
    (tmp_path / "corr.json").write_text(json.dumps({"drop_rate": 0.5}))
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "unknown keys" in r.output, r.output


def test_ddp_two_processes_balanced_proxy(data, tmp_path):
    (tmp_path / "proxy.json").write_text(json.dumps(PROXY_TINY.to_dict()))
    out = tmp_path / "ddp"
    ckpt = _train_two_processes(data, out, tmp_path / "proxy.json", "end2end", 2)
    assert ckpt.info["processes"] == 2 and set(ckpt.info["loss_weights"]) == {"segm", "pose3d", "voxels", "fv", "sv"}
