"""Command inputs: folders, files and glob patterns expanded into the files to process, each with the
path its outputs take under ``--out``. ``predict``, ``fit-smpl`` and ``voxelize`` share this, so the same
arguments mean the same files everywhere."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from bodynet_cli.errors import BodyNetError


@dataclass(frozen=True)
class InputFile:
    """One file to process: its ``path`` and ``rel``, the output path stem (no suffix) relative to ``--out``."""

    path: Path
    rel: Path


def _glob_base(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard (outputs mirror what follows it)."""
    base: list[str] = []
    for part in Path(pattern).parts[:-1]:
        if glob.has_magic(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


def discover_inputs(inputs: list[str | os.PathLike], suffixes: tuple[str, ...], *, what: str | None = None,
                    missing_ok: bool = False) -> list[InputFile]:  # fmt: skip
    """Expand folders (recursively), files and glob patterns into a de-duplicated list sorted by ``rel``.

    Folders keep their sub-folder structure in ``rel``; a file given by name maps to its own name. Files
    inside folders and glob matches are picked by suffix (case-insensitive); a file named explicitly is
    taken whatever its suffix (a bad file then fails when read, and the command reports it).
    what: the files' name in messages (default: their suffixes). missing_ok: a path that does not exist
    is kept as an item for the command to report among its failures, instead of stopping everything.
    """
    found: dict[Path, InputFile] = {}

    def add(path: Path, rel: Path) -> None:
        key = path.resolve()
        if key not in found:
            found[key] = InputFile(path=path, rel=rel.with_suffix(""))

    wanted = tuple(s.lower() for s in suffixes)
    for raw in inputs:
        s = str(raw)
        p = Path(s)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in wanted:
                    add(f, f.relative_to(p))
        elif p.is_file():
            add(p, Path(p.name))
        elif glob.has_magic(s):
            base = _glob_base(s)
            matches = [Path(m) for m in sorted(glob.glob(s, recursive=True))]
            matches = [m for m in matches if m.is_file() and m.suffix.lower() in wanted]
            if not matches:
                raise BodyNetError(f"input pattern {s!r} matches no {what or '/'.join(wanted)} files")
            for m in matches:
                add(m, m.relative_to(base))
        elif missing_ok:
            add(p, Path(p.name))
        else:
            raise BodyNetError(f"input {s!r}: no such file or folder")
    return sorted(found.values(), key=lambda item: str(item.rel))
