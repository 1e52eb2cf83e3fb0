"""Reading a JSON file a user points at (an option's file, a dataset's index), with one error message."""

from __future__ import annotations

import json
import os

from bodynet_cli.errors import BodyNetError


def read_json(path: str | os.PathLike, label: str | None = None, hint: str = ""):
    """The parsed JSON of ``path``. An unreadable or malformed file raises ``BodyNetError``:
    ``"<label>: not readable JSON (<why>)<hint>"``, label defaulting to the path (e.g. ``--config PATH``)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read())
    except (OSError, ValueError) as e:
        raise BodyNetError(f"{label or path}: not readable JSON ({e}){hint}") from None
