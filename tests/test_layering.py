"""The layering rule of docs/architecture.md: every import inside bodynet_cli points to a lower layer (or
stays inside its own package), so nothing below imports cli and no two packages import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import bodynet_cli

ROOT = Path(bodynet_cli.__file__).parent
# Layer of each top-level package or module of bodynet_cli, highest first (docs/architecture.md).
LAYERS = {
    "__main__": 8,
    "cli": 7,
    "pipelines": 6,
    "data": 5,
    "models": 4, "fitting": 4,
    "io": 3, "metrics": 3, "viz": 3, "people": 3,
    "body": 2, "geometry": 2, "distributed": 2,
    "errors": 1, "__init__": 1, "assets": 1,
}  # fmt: skip


def _package(parts: tuple[str, ...]) -> str:
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[str, int]]:
    """(top-level package imported, line) for every bodynet_cli import of a file, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bodynet_cli":
            parts = node.module.split(".")[1:]
            names = [parts[0]] if parts else [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("bodynet_cli.")]
        found += [(n if n != "__version__" else "__init__", node.lineno) for n in names]
    return found


def test_every_package_has_a_layer():
    packages = {_package(p.relative_to(ROOT).parts) for p in ROOT.iterdir() if p.suffix == ".py" or p.is_dir()}
    packages.discard("__pycache__")
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


def test_imports_point_downward_only():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        source = _package(path.relative_to(ROOT).parts)
        for target, line in _imports(path):
            if target != source and LAYERS[target] >= LAYERS[source]:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({source}, layer {LAYERS[source]}) imports "
                              f"{target} (layer {LAYERS[target]})")
    assert not upward, "\n".join(upward)
