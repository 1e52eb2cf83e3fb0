#!/usr/bin/env bash
# Train the shipped v1 default checkpoint's recipe (config `small`, RGB input) on synthetic data, from nothing.
# The shipped weights were trained on the generator of commits f8fe04a..9dab563; today's `bodynet synth`
# makes model v2's more varied people (see runs/small/README.md). Model v2: tools/train_proxy.sh.
#
# Every command is resumable: after an interruption (Ctrl-C, kill -9, end of a session) run this script
# again and each step continues where it stopped (`synth` skips finished samples; `train` resumes each
# stage from its last checkpoint with the same batches it would have seen, and skips finished stages).
#
#   tools/train_default.sh                       # defaults below
#   N=20000 DATA=data/synth_small RUN=runs/small tools/train_default.sh
set -euo pipefail

N=${N:-20000}                  # synthetic samples (90% train, 5% val, 5% test)
DATA=${DATA:-data/synth_small}
RUN=${RUN:-runs/small}
SEED=${SEED:-0}
# Two CPU cores: two torch threads for the step, one loader process (augmentation costs ~3 ms a sample).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

bodynet synth --n "$N" --out "$DATA" --config small --seed "$SEED" --workers 2 --no-mesh
# 2d -> 3d -> voxels -> voxels_proj -> end2end, each starting from the previous stage's weights.
bodynet train "$DATA" --out "$RUN" --config small --stage all --batch-size 8 --workers 1 --seed "$SEED" \
    --ckpt-every 250 --val-samples 500
# The checkpoint `bodynet predict` loads by default.
echo "v1 weights: $RUN/final (the package ships model v2, tools/train_proxy.sh)"
