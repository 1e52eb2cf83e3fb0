"""Command inputs and the output folder: folders, files and glob patterns expanded into the files to
process, each with the path its outputs take under ``--out``, and the one rule for ``--out`` itself.
``predict``, ``fit-smpl``, ``voxelize`` (and ``eval`` for ``--out``) share this, so the same arguments mean
the same files everywhere.

Inputs that cannot be read are never dropped silently: a dangling symbolic link or a link loop with a
wanted suffix is kept as an item, and the command reports it (``unreadable_reason`` says why). Files
inside the output folder are never inputs, so a run does not read back what an earlier run wrote.
"""

from __future__ import annotations

import errno
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from bodynet_cli.errors import BodyNetError


@dataclass(frozen=True)
class InputFile:
    """One file to process: its ``path`` and ``rel``, the output path stem (no suffix) relative to ``--out``;
    ``frame``: for one frame of a video, its number (from 0)."""

    path: Path
    rel: Path
    frame: int | None = None


def _glob_base(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard (outputs mirror what follows it)."""
    base: list[str] = []
    for part in Path(pattern).parts[:-1]:
        if glob.has_magic(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


def unreadable_reason(path: str | os.PathLike) -> str:
    """Why ``path`` cannot be opened as a file, in a few words (for messages): a missing file, a dangling
    symbolic link, a link loop, a folder."""
    path = Path(path)
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop; point the link at a real file"
        if path.is_symlink():
            return f"broken symbolic link (its target {os.readlink(path)} does not exist)"
        return "no such file"
    return "a folder, not a file" if path.is_dir() else "not a regular file"


def check_out_dir(out: str | os.PathLike, option: str = "--out") -> Path:
    """The output-folder rule of every command: ``out`` may exist as a folder or not at all, never as a
    file (or a dangling link), and nothing above it may be a file. Raises ``BodyNetError`` (exit 2)
    before any work is done; the folder itself is created by the first file written into it."""
    out = Path(out)
    for p in (out, *out.parents):
        if p.is_dir():
            break
        if p.is_symlink() or p.exists():
            what = "is a file" if p.exists() else "is a broken symbolic link"
            if p == out:
                raise BodyNetError(f"{option} {out} {what}; give a folder (it is created if missing)")
            raise BodyNetError(f"{option} {out}: {p} {what}, so no folder can be made below it; choose another "
                               f"{option}")
    return out


def _real(path: str | os.PathLike) -> Path:
    """The absolute path with links resolved as far as they go (a link loop or a dangling link stays as
    it is, where ``Path.resolve`` would raise)."""
    return Path(os.path.realpath(path))


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (links followed as far as they go; never raises)."""
    return _real(a) == _real(b)


def _within(path: Path, folder: Path | None) -> bool:
    return folder is not None and (path == folder or folder in path.parents)


def discover_inputs(inputs: list[str | os.PathLike], suffixes: tuple[str, ...], *, what: str | None = None,
                    missing_ok: bool = False, out: str | os.PathLike | None = None) -> list[InputFile]:  # fmt: skip
    """Expand folders (recursively), files and glob patterns into a de-duplicated list sorted by ``rel``.

    Folders keep their sub-folder structure in ``rel``; a file given by name maps to its own name. Files
    inside folders and glob matches are picked by suffix (case-insensitive), dangling links and link
    loops among them included (they fail when read, and the command lists them); a file named
    explicitly is taken whatever its suffix (a bad file then fails when read, and the command reports it).
    what: the files' name in messages (default: their suffixes). missing_ok: a path that does not exist
    is kept as an item for the command to report among its failures, instead of stopping everything.
    out: the command's output folder: files inside it are not inputs (unless named explicitly), and an
    input folder inside it (or equal to it) is an error, since its outputs would become its inputs.
    """
    found: dict[Path, InputFile] = {}
    out_key = _real(out) if out is not None else None

    def add(path: Path, rel: Path) -> None:
        key = _real(path)
        if key not in found:
            found[key] = InputFile(path=path, rel=rel.with_suffix(""))

    def candidate(f: Path) -> bool:
        return ((f.is_file() or (f.is_symlink() and not f.exists())) and f.suffix.lower() in wanted
                and not _within(_real(f), out_key))  # fmt: skip

    wanted = tuple(s.lower() for s in suffixes)
    for raw in inputs:
        s = str(raw)
        p = Path(s)
        if p.is_dir():
            if _within(_real(p), out_key):
                raise BodyNetError(f"input folder {p} lies in --out {out} (or is it): a later run would read the "
                                   "outputs as inputs; choose an --out outside the input folder")
            for f in sorted(p.rglob("*")):
                if candidate(f):
                    add(f, f.relative_to(p))
        elif p.is_file():
            add(p, Path(p.name))
        elif glob.has_magic(s):
            base = _glob_base(s)
            matches = [Path(m) for m in sorted(glob.glob(s, recursive=True))]
            matches = [m for m in matches if candidate(m)]
            if not matches:
                raise BodyNetError(f"input pattern {s!r} matches no {what or '/'.join(wanted)} files")
            for m in matches:
                add(m, m.relative_to(base))
        elif missing_ok:
            add(p, Path(p.name))
        elif p.is_symlink():
            raise BodyNetError(f"input {s!r}: {unreadable_reason(p)}")
        else:
            raise BodyNetError(f"input {s!r}: no such file or folder")
    return sorted(found.values(), key=lambda item: str(item.rel))
