"""The default checkpoint that ships in the package: it loads, it is the model card's, and the main job
(``bodynet predict`` on the bundled examples without ``--checkpoint``) runs on it as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from bodynet_cli.cli.app import app
from bodynet_cli.io.sample import load_sample
from bodynet_cli.models.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from bodynet_cli.models.config import get_config

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "images"


def test_default_checkpoint_loads_and_is_small():
    ck = load_checkpoint(DEFAULT_CHECKPOINT)
    assert ck.config == get_config("proxy")  # model v2: the 3D nets read the front end's joints and mask
    assert (DEFAULT_CHECKPOINT / "model.safetensors").stat().st_size < 30 * 2**20
    # Trained through the paper's stages: the weights are those of the end-to-end stage, after some steps.
    assert ck.info["stage"] == "end2end" and ck.info["steps"] > 0
    assert set(ck.info["loss_weights"]) == {"segm", "pose3d", "voxels", "fv", "sv"}  # balanced, recorded
    card = (REPO / "README.md").read_text()
    assert ck.sha256 in card, "the README model card must name the shipped weights' sha256"
    shown = CliRunner().invoke(app, ["info"])
    assert shown.exit_code == 0 and f"proxy@{ck.sha256[:12]}" in shown.output.replace("\n", "")


def test_main_job_runs_on_the_default_checkpoint(tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "bodynet_cli", "predict", str(EXAMPLES), "--out", str(out), "--mesh", "obj"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    ck = load_checkpoint(DEFAULT_CHECKPOINT)
    names = sorted(p.stem for p in EXAMPLES.iterdir())
    assert sorted(p.stem for p in out.glob("*.npz")) == names
    for name in names:
        s = load_sample(out / f"{name}.npz")
        assert s.voxels.shape == (64, 64, 64)
        # A trained model makes a body: neither an empty grid nor a filled one (random weights fill ~half).
        occupancy = float(np.mean(s.voxels))
        assert 0.002 < occupancy < 0.15, (name, occupancy)
        assert s.meta["checkpoint_sha256"] == ck.sha256
        assert (out / f"{name}.obj").stat().st_size > 0
    assert len(json.loads((out / "joints.json").read_text())["images"]) == len(names)
