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
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows, card = [], {}
for name, title in (("test", "test split (seed 0, held out)"), ("seed1", "unseen seed 1")):
    m = json.loads((out / name / "report" / "metrics.json").read_text())
    p = json.loads((out / name / "report" / "proxy_eval.json").read_text())
    get = lambda k: m[k]["mean"] if m.get(k, {}).get("n") else float("nan")
    card[name] = {"samples": p["samples"], "voxel_iou": get("voxel_iou"), "side_view_iou": p["side_view_iou"],
                  "joint3d_error_mm": get("joint3d_error_mm"), "segmentation_miou": get("segmentation_miou"),
                  "surface_error_mm": get("surface_error_mm"), "fitted": m.get("surface_error_mm", {}).get("n", 0)}
    c = card[name]
    rows.append(f"| {title} | {c['samples']} | {100 * c['voxel_iou']:.1f} % | {100 * c['side_view_iou']:.1f} % | "
                f"{c['joint3d_error_mm']:.0f} mm | {c['segmentation_miou']:.3f} | "
                f"{c['surface_error_mm']:.1f} mm ({c['fitted']}) |")
card["checkpoint"] = p["checkpoint"]; card["checkpoint_sha256"] = p["checkpoint_sha256"]
(out / "card.json").write_text(json.dumps(card, indent=1) + "\n")
print("| set | samples | voxel IoU | side-view IoU | 3D joint error | seg mIoU | surface error (fitted) |")
print("|---|---|---|---|---|---|---|")
print("\n".join(rows))
PY
