"""What every command shares: option aliases, the error edge, device choice, batch reports."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from bodynet_cli.errors import EXIT_PARTIAL, EXIT_USER_ERROR, BodyNetError
from bodynet_cli.pipelines.batch import Failure

console = Console(stderr=True, highlight=False, soft_wrap=True)  # one message = one line, at any width
# Paths and messages are printed through ``escape``: rich would take "[nan, 1.0]" or "photo[1].jpg" for markup.

# Shared option aliases: one name and one help text for one thing across commands.
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")]
BodyModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--body-model",
        help="SMPL-format body model (.pkl or .npz). Default: $BODYNET_BODY_MODEL, else the bundled "
        "open model.",
        dir_okay=False,
    ),
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (GPU when there is one), cpu, cuda or cuda:N.")
]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Items per batch.")]
ResOpt = Annotated[int, typer.Option("--res", min=8, help="Voxel grid resolution R (R³ voxels).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same output.")]

F = TypeVar("F", bound=Callable)


def user_errors(fn: F) -> F:
    """Turn ``BodyNetError`` into one red line on stderr and exit code 2 (the command edge)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BodyNetError as e:
            console.print(f"[red]error:[/red] {escape(str(e))}")
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper  # type: ignore[return-value]


def resolve_device(name: str):
    """``auto`` -> cuda when available, else cpu; validates explicit names."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise BodyNetError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BodyNetError(f"--device {name}: no CUDA GPU is visible here; use --device cpu or auto")
    return dev


def finish_batch(failures: list[Failure], n_total: int, what: str = "items") -> None:
    """Report a batch's failures (one line each) and exit 3 if there were any."""
    for f in failures:
        console.print(f"[red]failed:[/red] {escape(f.item)}: {escape(f.reason)}")
    if failures:
        console.print(f"{len(failures)} of {n_total} {what} failed")
        raise typer.Exit(EXIT_PARTIAL)


def is_tty() -> bool:
    return sys.stderr.isatty()
