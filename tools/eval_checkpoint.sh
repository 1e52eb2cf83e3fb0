#!/usr/bin/env bash
# Score a checkpoint on the held-out test split of a `bodynet synth` dataset: the model card's numbers.
#
#   tools/eval_checkpoint.sh [CHECKPOINT] [DATA] [OUT]
#
# CHECKPOINT: a checkpoint folder of an RGB model (`small` or `paper`; the bundled v2 model reads proxies: score
# it with tools/eval_proxy_checkpoint.py or tools/model_card.sh); DATA: a synth folder with index.json
# (default data/synth_small, made by tools/train_default.sh); OUT: work folder (default runs/eval).
# Predicts on the test split's images (which are the ground truth's crops, hence --crop full and
# eval's --pred-on-gt-crops) and writes OUT/report/metrics.json.
set -euo pipefail
CKPT=${1:?usage: tools/eval_checkpoint.sh CHECKPOINT [DATA] [OUT]}
DATA=${2:-data/synth_small}
OUT=${3:-runs/eval}

# Everything is redone: predictions left from another checkpoint must not be scored as this one's.
rm -rf "$OUT/images" "$OUT/gt" "$OUT/pred" "$OUT/report"
mkdir -p "$OUT/images" "$OUT/gt"
python - "$DATA" "$OUT" <<'PY'
import json, os, sys
data, out = (os.path.abspath(a) for a in sys.argv[1:3])
names = json.load(open(os.path.join(data, "index.json")))["splits"]["test"]
for n in names:
    os.symlink(os.path.join(data, "images", n + ".png"), os.path.join(out, "images", n + ".png"))
    os.symlink(os.path.join(data, "labels", n + ".npz"), os.path.join(out, "gt", n + ".npz"))
print(f"{len(names)} test samples")
PY
bodynet predict "$OUT/images" --out "$OUT/pred" --checkpoint "$CKPT" --crop full
bodynet eval "$OUT/pred" --gt "$OUT/gt" --out "$OUT/report" --pred-on-gt-crops
