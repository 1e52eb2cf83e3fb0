"""Input discovery shared by predict, fit-smpl and voxelize: folders mirrored, files by name, globs,
suffix filtering, de-duplication, and missing paths either fatal or kept for the command to report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.inputs import discover_inputs
from bodynet_cli.pipelines.batch import collect
from bodynet_cli.pipelines.voxelize import SUFFIXES as VOXELIZE_SUFFIXES


def _tree(root: Path) -> None:
    for rel in ("a.npz", "B.NPZ", "notes.txt", "sub/c.npz", "sub/deep/d.npz", "sub/e.obj"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")


def test_folders_files_globs_and_duplicates(tmp_path):
    _tree(tmp_path)
    items = discover_inputs([tmp_path], (".npz",))
    assert [str(i.rel) for i in items] == ["B", "a", "sub/c", "sub/deep/d"]
    assert all(i.path.is_file() for i in items)
    # A glob mirrors what follows its first wildcard; a file named twice (or also in a folder) counts once.
    items = discover_inputs([str(tmp_path / "sub" / "**" / "*.npz"), tmp_path / "a.npz", tmp_path / "a.npz"], (".npz",))
    assert [str(i.rel) for i in items] == ["a", "c", "deep/d"]
    # A file named explicitly is taken whatever its suffix (the command then reports it as unreadable).
    assert [str(i.rel) for i in discover_inputs([tmp_path / "notes.txt"], (".npz",))] == ["notes"]


def test_missing_inputs(tmp_path):
    with pytest.raises(BodyNetError, match="no such file or folder"):
        discover_inputs([tmp_path / "missing.npz"], (".npz",))
    kept = discover_inputs([tmp_path / "missing.npz"], (".npz",), missing_ok=True)
    assert [(i.path, str(i.rel)) for i in kept] == [(tmp_path / "missing.npz", "missing")]
    with pytest.raises(BodyNetError, match=r"matches no \.npz files"):
        discover_inputs([str(tmp_path / "*.npz")], (".npz",))


def test_commands_share_the_discovery(tmp_path):
    _tree(tmp_path)
    fit_suffixes = (".npz",)
    found = [str(rel) for _, rel in collect([tmp_path], fit_suffixes)]
    assert found == ["B.npz", "a.npz", "sub/c.npz", "sub/deep/d.npz"]
    assert [str(rel) for _, rel in collect([tmp_path / "sub"], VOXELIZE_SUFFIXES)] == ["c.npz", "deep/d.npz", "e.npz"]
    assert [str(rel) for _, rel in collect([tmp_path / "gone.npz"], fit_suffixes)] == ["gone.npz"]
