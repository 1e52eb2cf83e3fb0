#!/usr/bin/env bash
# Train model v2 (config `proxy`: the 3D nets read proxy 2D joints and a person mask, not RGB) on synthetic
# data, from nothing. The proxies are made from the ground truth with the default ProxyCorruption settings
# (or those of PROXY_CORRUPTION, a JSON file); each stage's loss weights are balanced at its start.
#
# Resumable like tools/train_default.sh: run it again after an interruption.
#
#   tools/train_proxy.sh                                   # defaults below
#   CONFIG=proxy128 DATA=data/synth_128 RUN=runs/proxy128 tools/train_proxy.sh   # 128³ voxels (data at 128³)
set -euo pipefail

N=${N:-16000}                  # synthetic samples (90% train, 5% val, 5% test)
CONFIG=${CONFIG:-proxy}        # proxy (64³ voxels) or proxy128 (128³)
DATA=${DATA:-data/synth_$CONFIG}
RUN=${RUN:-runs/$CONFIG}
SEED=${SEED:-0}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
EXTRA=()
if [ -n "${PROXY_CORRUPTION:-}" ]; then EXTRA+=(--proxy-corruption "$PROXY_CORRUPTION"); fi

# The data take the config's input size and voxel resolution (proxy: 128², 64³ as small; proxy128: 128³).
bodynet synth --n "$N" --out "$DATA" --config "$CONFIG" --seed "$SEED" --workers 2 --no-mesh
bodynet train "$DATA" --out "$RUN" --config "$CONFIG" --stage all --batch-size 8 --workers 1 --seed "$SEED" \
    --ckpt-every 250 --val-samples 500 --balance-losses "${EXTRA[@]}"
python tools/eval_proxy_checkpoint.py "$RUN/final" "$DATA" "$RUN/eval"
