#!/usr/bin/env bash
# Prove a refactor changes no output: run synth, predict, voxelize, fit-smpl and eval with the code of
# a reference commit and with this working tree, on the same inputs, and compare every output file.
#
#   tools/compare_outputs.sh [REF_COMMIT] [WORK_DIR]
#
# REF_COMMIT (default a80a23b) is exported with `git archive` into WORK_DIR/ref (no worktree is
# registered); each side runs with PYTHONPATH pointing at its own copy of bodynet_cli. Both sides run
# in the same folder (WORK_DIR/run, moved aside afterwards), so paths recorded in outputs (meta
# 'input', joints.json 'image', metrics.json folders) are the same strings and every file can be
# compared byte for byte. Inputs: `synth --n 8 --config small --seed 5` made by each side (compared
# too), the reference side's synth data then serve as the one input set for predict (--crop full on
# the synth images; examples/images with --viz --mesh obj --people all), voxelize (3 label meshes,
# --parts), fit-smpl (the synth predictions and the ground truth, few iterations), voxelize again (the
# fitted bodies) and eval (--fits --plots; the voxelized labels against the labels).
# Exit 0 when every file is identical (tools/compare_trees.py explains NPZ differences).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REF=${1:-a80a23b}
WORK=${2:-/tmp/bodynet_compare}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

rm -rf "$WORK"
mkdir -p "$WORK/ref"
git -C "$ROOT" archive "$REF" bodynet_cli | tar -x -C "$WORK/ref"

run_side() {  # $1: folder holding bodynet_cli; $2: where this side's outputs end up
  local code=$1 dest=$2 R="$WORK/run"
  rm -rf "$R"
  mkdir -p "$R"
  # Run from $WORK: `python -m` puts the current folder first on sys.path, so running from a checkout
  # would import that checkout's bodynet_cli whatever PYTHONPATH says.
  bn() { (cd "$WORK" && PYTHONPATH="$code" "$PY" -m bodynet_cli "$@"); }
  (cd "$WORK" && PYTHONPATH="$code" "$PY" -c "import bodynet_cli; print(bodynet_cli.__file__)") \
    > "$dest.imports"  # which copy this side ran, outside the compared folder
  bn synth --n 8 --config small --seed 5 --out "$R/synth" > "$R/synth.log" 2>&1
  if [ ! -d "$WORK/inputs" ]; then  # the reference side's data are the inputs of both sides
    cp -r "$R/synth" "$WORK/inputs"
  fi
  local IN="$WORK/inputs"
  bn predict "$ROOT/examples/images" --out "$R/pred_examples" --viz --mesh obj --people all \
    > "$R/pred_examples.log" 2>&1 || echo "predict examples: exit $?" >> "$R/exits.txt"
  bn predict "$IN/images" --out "$R/pred" --crop full > "$R/pred.log" 2>&1 \
    || echo "predict: exit $?" >> "$R/exits.txt"
  bn voxelize "$IN/labels/0000000.npz" "$IN/labels/0000001.npz" "$IN/labels/0000002.npz" --res 64 --parts \
    --out "$R/vox" > "$R/vox.log" 2>&1 || echo "voxelize: exit $?" >> "$R/exits.txt"
  bn fit-smpl "$R/pred" --out "$R/fits" --iters 15 --joint-iters 10 --points 400 > "$R/fits.log" 2>&1 \
    || echo "fit-smpl: exit $?" >> "$R/exits.txt"
  bn eval "$R/pred" --gt "$IN/labels" --fits "$R/fits" --pred-on-gt-crops --out "$R/report" --plots \
    > "$R/eval.log" 2>&1 || echo "eval: exit $?" >> "$R/exits.txt"
  # Camera paths: fits of the ground truth (camera metres), grids voxelized from those fitted bodies
  # (body parameters, fit mode), and eval of the voxelized labels (part voxels, surface error).
  bn fit-smpl "$IN/labels" --out "$R/fits_gt" --iters 15 --joint-iters 10 --points 400 > "$R/fits_gt.log" 2>&1 \
    || echo "fit-smpl gt: exit $?" >> "$R/exits.txt"
  bn voxelize "$R/fits_gt" --res 24 --out "$R/vox_fits" > "$R/vox_fits.log" 2>&1 \
    || echo "voxelize fits: exit $?" >> "$R/exits.txt"
  bn eval "$R/vox" --gt "$IN/labels" --fits "$R/fits_gt" --out "$R/report_vox" > "$R/eval_vox.log" 2>&1 \
    || echo "eval vox: exit $?" >> "$R/exits.txt"
  mv "$R" "$dest"
}

run_side "$WORK/ref" "$WORK/before"
run_side "$ROOT" "$WORK/after"
"$PY" "$ROOT/tools/compare_trees.py" "$WORK/before" "$WORK/after"
