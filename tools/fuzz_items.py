"""Which promises of "bad input never crashes a batch" (issue 17) a checkout keeps, item by item.

    python tools/fuzz_items.py [--tree DIR]        # default: this checkout

Builds the seeded fuzz inputs of ``tests/fuzz_inputs.py`` and runs the batch commands of the checkout
at ``--tree`` on them as subprocesses (address space capped at 3 GiB, so unbounded allocations fail
instead of taking the machine down): first each batch whole, then each batch with only one item's bad
inputs (items 1-4, 6-8), so an early crash cannot hide the other items; then the option checks of items
5 (``--out`` a file, or below one) and 9 (``--help`` shows ``<bool>`` or cites the specification outside
the repository). Prints one line per run: the number of bad inputs, the number of broken promises, and the first few.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

ITEMS = {"predict": [6, 7, 8], "predict-boxes": [4], "fit-smpl": [1, 6, 7, 8], "voxelize": [2, 6, 7, 8], "eval": [3, 6]}


def _batch(name: str, root: Path, ckpt: Path):
    import fuzz_inputs as fz

    rng = np.random.default_rng(17)
    makers = {"predict": lambda: fz.predict_batch(root, ckpt, rng), "fit-smpl": lambda: fz.fit_batch(root, rng),
              "predict-boxes": lambda: fz.boxes_batch(root, ckpt, rng), "eval": lambda: fz.eval_batch(root, rng),
              "voxelize": lambda: fz.voxelize_batch(root, rng)}  # fmt: skip
    return makers[name]()


def _only(batch, item: int) -> None:
    """Keep the bad inputs of ``item`` only; a previous run's outputs only for item 7, the truncated output
    only for item 8."""
    src = Path(batch.args[1])
    for bad in batch.bad:
        if bad.item != item:
            for p in [src / bad.name, *src.parent.rglob(bad.name)]:
                if p.is_symlink() or p.exists():
                    p.unlink()
    batch.bad = [b for b in batch.bad if b.item == item]
    if batch.args[0] != "eval" and batch.out.is_dir():
        for p in batch.out.iterdir():
            keep = (item == 7 and p.name != "g0.npz") or (item == 8 and p.name == "g0.npz")
            if not keep:
                p.unlink()
    if item != 7:
        batch.joints_json = None


def _report(label: str, batch) -> None:
    from test_fuzz import _check

    problems = _check(label, batch)[:-1]
    shown = "; ".join(p.split(": ", 1)[1][:80] for p in problems[:3])
    print(f"| {label} | {len(batch.bad)} | {len(problems)} | {shown} |", flush=True)


def _options(tree: str, root: Path) -> None:
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1")
    (root / "in").mkdir(parents=True)
    (root / "in" / "x.npz").write_bytes(b"")
    (root / "taken").write_text("a file")
    commands = {"predict": ["predict", str(root / "in" / "x.npz")], "fit-smpl": ["fit-smpl", str(root / "in")],
                "voxelize": ["voxelize", str(root / "in")],
                "eval": ["eval", str(root / "in"), "--gt", str(root / "in")]}
    for name, args in commands.items():
        broken = []
        for out in (root / "taken", root / "taken" / "sub"):
            p = subprocess.run([sys.executable, "-m", "bodynet_cli", *args, "--out", str(out)], env=env, cwd=tree,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
            if p.returncode != 2 or "Traceback" in p.stderr:
                broken.append(f"--out {out.relative_to(root)}: exit {p.returncode}"
                              + (", traceback" if "Traceback" in p.stderr else ""))
        print(f"| {name} item 5 | 2 | {len(broken)} | {'; '.join(broken)} |", flush=True)
    broken = []
    for name in ("predict", "fit-smpl", "voxelize", "eval", "synth"):
        p = subprocess.run([sys.executable, "-m", "bodynet_cli", name, "--help"], env=env, cwd=tree,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        broken += [f"{name}: {w}" for w in ("<bool>", "S" "PEC") if w in p.stdout]
    print(f"| --help item 9 | 5 | {len(broken)} | {'; '.join(broken[:4])} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", default=str(REPO), help="checkout whose bodynet_cli runs (default: this one)")
    args = ap.parse_args()
    os.environ["FUZZ_TREE"] = str(Path(args.tree).resolve())
    import fuzz_inputs as fz

    with tempfile.TemporaryDirectory(prefix="fuzz_items") as tmp:
        root = Path(tmp)
        ckpt = fz.tiny_checkpoint(root / "ckpt")
        print(f"tree: {os.environ['FUZZ_TREE']}\n")
        print("| run | bad inputs | broken promises | first ones |\n|---|---|---|---|")
        for name, items in ITEMS.items():
            _report(name, _batch(name, root / name, ckpt))
            for item in items:
                batch = _batch(name, root / f"{name}_{item}", ckpt)
                _only(batch, item)
                _report(f"{name} item {item}", batch)
        _options(os.environ["FUZZ_TREE"], root / "options")


if __name__ == "__main__":
    main()
