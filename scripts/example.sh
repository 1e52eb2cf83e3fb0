#!/usr/bin/env bash
# Set up (first time) and run the main job: predict on the bundled example images with the bundled
# checkpoint, writing results/ (NPZ per image, joints.json, meshes, picture panels).
#   bash scripts/example.sh [extra predict options]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
bodynet predict examples/images --out results --viz --mesh obj "$@"
