"""Compare two output trees file by file (tools/compare_outputs.sh runs it).

    python tools/compare_trees.py BEFORE AFTER

Every file present on either side is compared byte for byte. Where two NPZ files differ as bytes
(a zip archive also records member timestamps), they are compared array by array: same keys, dtypes,
shapes and values (NaN equal to NaN); the 'meta' JSON string is compared as parsed JSON with the keys
in IGNORED_META removed. The commands' stderr logs (``*.log``) are compared too, after LOG_REWRITES
turn messages whose wording changed on purpose into the new wording on the BEFORE side. Prints one
line per file that differs and a summary; exit 1 if any differs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

IGNORED_META: tuple[str, ...] = ()  # no meta key is excluded: both sides run in the same folder
# Issue 16 gave the batch commands one output-collision rule with predict's message; voxelize said
# "its output X is already written for Y; rename one input" before (stderr only; no file changes).
LOG_REWRITES: tuple[tuple[str, str], ...] = (
    (r"its output \S+ is already written for (\S+); rename one input", r"same output name as \1; rename one of them"),
)


def _meta(a: np.ndarray) -> dict:
    meta = json.loads(str(a[()]))
    for key in IGNORED_META:
        meta.pop(key, None)
    return meta


def _rewritten(log: str) -> str:
    for pattern, replacement in LOG_REWRITES:
        log = re.sub(pattern, replacement, log)
    return log


def compare_npz(a: Path, b: Path) -> str | None:
    """None when the two NPZ files hold the same arrays, else what differs."""
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if sorted(za.files) != sorted(zb.files):
            return f"keys {sorted(za.files)} != {sorted(zb.files)}"
        for k in za.files:
            x, y = za[k], zb[k]
            if k == "meta":
                if _meta(x) != _meta(y):
                    return f"meta differs: {_meta(x)} != {_meta(y)}"
                continue
            if x.dtype != y.dtype or x.shape != y.shape:
                return f"{k}: {x.dtype}{x.shape} != {y.dtype}{y.shape}"
            if not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
                return f"{k}: values differ"
    return None


def main(before: Path, after: Path) -> int:
    files = sorted({p.relative_to(before) for p in before.rglob("*") if p.is_file()}
                   | {p.relative_to(after) for p in after.rglob("*") if p.is_file()})
    n_bytes = n_arrays = n_logs = 0
    bad: list[str] = []
    for rel in files:
        a, b = before / rel, after / rel
        if not a.is_file() or not b.is_file():
            bad.append(f"{rel}: only {'after' if b.is_file() else 'before'}")
        elif a.read_bytes() == b.read_bytes():
            n_bytes += 1
        elif rel.suffix == ".log" and _rewritten(a.read_text()) == b.read_text():
            n_logs += 1
        elif rel.suffix == ".npz":
            why = compare_npz(a, b)
            if why:
                bad.append(f"{rel}: {why}")
            else:
                n_arrays += 1
        else:
            bad.append(f"{rel}: bytes differ")
    for line in bad:
        print(f"DIFFERS {line}")
    print(f"{len(files)} files: {n_bytes} byte-identical, {n_arrays} NPZ identical array by array, "
          f"{n_logs} logs identical after LOG_REWRITES, {len(bad)} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
