"""What every batch pipeline shares: failure records, the claim of each output path, progress.

Inputs themselves are found by ``io/inputs.py`` (``discover_inputs``, ``check_out_dir``); a pipeline
turns each into an output path under ``--out`` and claims it here, so two inputs never write one
file and no output overwrites its input. Progress is drawn with rich, the one progress library of
the package, by ``progress_bar``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.inputs import discover_inputs, same_path


def collect(inputs: list[Path], suffixes: tuple[str, ...], out: Path | None = None) -> list[tuple[Path, Path]]:
    """(input file, output ``.npz`` path relative to ``out``) for each input: folders are searched
    recursively and mirrored (files inside ``out`` excepted); a missing or unsupported file named
    explicitly is an item that fails when read, and is reported."""
    found = discover_inputs(inputs, suffixes, missing_ok=True, out=out)
    return [(it.path, it.rel.with_suffix(".npz")) for it in found]


@dataclass(frozen=True, order=True)
class Failure:
    """One item of a batch that failed: ``item`` (its input file, or a pair's or sample's name) and
    ``reason``, a message that says what to do (without the item's name in front)."""

    item: str
    reason: str


def failure(item: str | Path, error: BodyNetError) -> Failure:
    """The failure of ``item`` from a ``BodyNetError``; a message starting with the item's own path loses
    that prefix (the report names the item already)."""
    return Failure(str(item), str(error).removeprefix(f"{item}: "))


@dataclass
class BatchReport:
    """What a batch pipeline did: ``done`` items written, ``failures`` (one per failed item)."""

    done: int = 0
    failures: list[Failure] = field(default_factory=list)


@dataclass
class DatasetReport:
    """What a run that writes a dataset folder (``synth``, ``convert``) did: ``n`` samples asked for,
    ``written`` now, ``skipped`` (already complete), ``failures`` (one per failed sample: its label file)."""

    out: Path
    n: int
    written: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)


class OutputClaims:
    """The output paths of one batch, each claimed by the first input that maps to it.

    ``claim`` raises ``BodyNetError`` (the item fails) when another input has the path already, or when
    the output would be the input file itself.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._owner: dict[Path, Path] = {}

    def claim(self, src: Path, dst: Path) -> None:
        if dst in self._owner:
            raise BodyNetError(f"same output name as {self._owner[dst]}; rename one of them")
        if same_path(dst, src):
            raise BodyNetError(f"the output would overwrite the input; choose another --out than {self.out}")
        self._owner[dst] = src


def progress_bar(label: str, *, console, enabled: bool, fields: tuple[str, ...] = ()):
    """The progress display of every long command (rich, on ``console``; nothing when not ``enabled``):
    ``label``, the bar, done/total, then ``fields`` (rich column formats such as ``"{task.description}"``),
    then the time left. Returns a ``rich.progress.Progress`` to use as a context manager."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), *(TextColumn(f) for f in fields),
                    TimeRemainingColumn(), console=console, disable=not enabled)  # fmt: skip
