"""``bodynet info`` names the body model in use (CliRunner and a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from bodynet_cli.body.load import ENV_VAR, load_body_model
from bodynet_cli.cli.app import app


def test_info_shows_the_bundled_model(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    res = CliRunner().invoke(app, ["info"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())  # rich wraps long rows
    data = load_body_model()
    assert data.model_id in out and f"{data.num_vertices} vertices" in out


def test_info_subprocess_reports_a_bad_model_variable(tmp_path):
    env = {**os.environ, ENV_VAR: str(tmp_path / "missing.npz"), "COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-m", "bodynet_cli", "info"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    out = " ".join((res.stdout + res.stderr).split())
    assert "unreadable" in out and "missing.npz" in out and ENV_VAR in out
