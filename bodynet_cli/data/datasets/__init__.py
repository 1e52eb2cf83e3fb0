"""Readers of the paper's datasets (SURREAL, UP-3D, MPII) into our sample schema (docs/formats.md).

A reader lists the frames of one split (``len``, ``name(i)``) and returns each as an
``frames.AnnotatedFrame`` in our conventions (``frame(i)``); ``frames.make_sample`` crops it for a model
and builds the ground truth. ``bodynet convert`` writes them as sample files, ``bodynet train --data
KIND:PATH`` reads them directly (``training.ReaderDataset``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bodynet_cli.errors import BodyNetError

KINDS = ("surreal", "up3d", "mpii")


@dataclass(frozen=True)
class DataSource:
    """One ``--data`` value: ``kind`` (synth, surreal, up3d, mpii) and ``path``."""

    kind: str
    path: Path


def parse_source(text: str) -> DataSource:
    """``KIND:PATH`` (surreal, up3d, mpii) or a plain folder written by ``bodynet synth`` / ``bodynet convert``."""
    kind, sep, rest = text.partition(":")
    if sep and kind.lower() in KINDS + ("synth",):
        return DataSource(kind.lower(), Path(rest))
    return DataSource("synth", Path(text))


def open_reader(kind: str, path: str | os.PathLike, split: str, body_model: str | os.PathLike | None = None,
                frames: str = "all", clips: str | os.PathLike | None = None):  # fmt: skip
    """The reader of ``split`` of a dataset of ``kind`` at ``path`` (SURREAL: ``frames`` and ``clips``, see
    ``surreal.Surreal``)."""
    if kind == "surreal":
        from bodynet_cli.data.datasets.surreal import Surreal

        return Surreal(path, split, frames=frames, body_model=body_model, clips=clips)
    if frames != "all" or clips is not None:
        raise BodyNetError("--frames and --clips are SURREAL's; leave them out for " + kind)
    if kind == "up3d":
        from bodynet_cli.data.datasets.up3d import Up3d

        return Up3d(path, split, body_model=body_model)
    if kind == "mpii":
        from bodynet_cli.data.datasets.mpii import Mpii

        return Mpii(path, split)
    raise BodyNetError(f"unknown dataset {kind!r}; choose one of {', '.join(KINDS)}")
