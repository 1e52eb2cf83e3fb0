#!/usr/bin/env bash
# The v2 model card's synthetic numbers: a proxy checkpoint scored on the training data's held-out test split
# and on a set made with a seed never used in training, each with fitted bodies for the surface error.
#
#   tools/model_card.sh [CHECKPOINT] [DATA] [OUT]
#
# CHECKPOINT: default the bundled one; DATA: the training data (default data/synth_proxy, made by
# tools/train_proxy.sh); OUT: work folder (default runs/model_card). The unseen set is OUT/../synth_seed1 by
# default (FRESH=...; N_FRESH samples, default 800, `bodynet synth --seed 1`, about 2 minutes); FIT bodies of
# each set are fitted (default 100). Prints a markdown table and writes OUT/card.json.
set -euo pipefail
CKPT=${1:-bodynet_cli/assets/checkpoints/proxy}
DATA=${2:-data/synth_proxy}
OUT=${3:-runs/model_card}
FRESH=${FRESH:-data/synth_proxy_seed1}
N_FRESH=${N_FRESH:-800}
FIT=${FIT:-100}
THREADS=${THREADS:-2}

CONFIG=$(python -c "import json,sys; print(json.load(open(sys.argv[1] + '/config.json'))['config']['name'])" "$CKPT")
bodynet synth --n "$N_FRESH" --out "$FRESH" --config "$CONFIG" --seed 1 --workers 2 --no-mesh
python tools/eval_proxy_checkpoint.py "$CKPT" "$DATA" "$OUT/test" --split test --fit "$FIT" --threads "$THREADS" || true
python tools/eval_proxy_checkpoint.py "$CKPT" "$FRESH" "$OUT/seed1" --split all --fit "$FIT" --threads "$THREADS" || true
python tools/model_card_table.py "$OUT"
