#!/usr/bin/env bash
# Create (once) and activate the project's virtual environment; source it, don't run it.
# The environment is .venv; TORCH_REQUIREMENT picks the torch to install (default the CPU build 2.13.0, which
# these machines have on disk; a plain `torch` would pull a multi-GB CUDA build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if ! python -c "import torch" 2>/dev/null; then
    python -m pip install -q --upgrade pip
    python -m pip install -q "${TORCH_REQUIREMENT:-torch==2.13.0}"
fi
stamp="$VENV/.bodynet-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    python -m pip install -q -e "$ROOT[dev]"
    touch "$stamp"
fi
set +euo pipefail
