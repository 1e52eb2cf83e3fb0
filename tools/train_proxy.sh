#!/usr/bin/env bash
# Train model v2 (config `proxy`: the 3D nets read proxy 2D joints and a person mask, not RGB) on synthetic
# data, from nothing, with the schedule of the shipped v2 weights (README, model card). The proxies are made
# from the ground truth with the default ProxyCorruption settings (or those of PROXY_CORRUPTION, a JSON file);
# each stage's loss weights are balanced at its start.
#
# Resumable like tools/train_default.sh: run it again after an interruption; a stage that reached its length
# is skipped, and a longer length continues it.
#
#   tools/train_proxy.sh                                   # defaults below
#   CONFIG=proxy128 DATA=data/synth_128 RUN=runs/proxy128 tools/train_proxy.sh   # 128³ voxels (data at 128³)
#
# Stage lengths (optimiser steps at batch 8): the paper's order, with `voxels` and `voxels_proj` cut short to
# fit the CPU budget (the voxel loss had flattened by step 500), and `end2end` as long as the budget allowed.
set -euo pipefail

N=${N:-16000}                  # synthetic samples (90% train, 5% val, 5% test)
CONFIG=${CONFIG:-proxy}        # proxy (64³ voxels) or proxy128 (128³)
DATA=${DATA:-data/synth_$CONFIG}
RUN=${RUN:-runs/$CONFIG}
SEED=${SEED:-0}
STEPS_2D=${STEPS_2D:-4000}
STEPS_3D=${STEPS_3D:-3000}
STEPS_VOXELS=${STEPS_VOXELS:-2250}
STEPS_VOXELS_PROJ=${STEPS_VOXELS_PROJ:-1000}
STEPS_END2END=${STEPS_END2END:-1750}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
EXTRA=()
if [ -n "${PROXY_CORRUPTION:-}" ]; then EXTRA+=(--proxy-corruption "$PROXY_CORRUPTION"); fi

# The data take the config's input size and voxel resolution (proxy: 128², 64³ as small; proxy128: 128³).
bodynet synth --n "$N" --out "$DATA" --config "$CONFIG" --seed "$SEED" --workers 2 --no-mesh
for stage_steps in "2d $STEPS_2D" "3d $STEPS_3D" "voxels $STEPS_VOXELS" "voxels_proj $STEPS_VOXELS_PROJ" \
                   "end2end $STEPS_END2END"; do
    read -r stage steps <<< "$stage_steps"
    bodynet train "$DATA" --out "$RUN" --config "$CONFIG" --stage "$stage" --steps "$steps" --batch-size 8 \
        --workers 1 --seed "$SEED" --ckpt-every 250 --val-samples 500 --balance-losses "${EXTRA[@]}"
done
python tools/eval_proxy_checkpoint.py "$RUN/final" "$DATA" "$RUN/eval"
