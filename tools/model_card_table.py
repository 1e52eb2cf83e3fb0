"""The model card's synthetic table from the reports `tools/model_card.sh` writes.

    python tools/model_card_table.py OUT

OUT holds ``test/`` and ``seed1/``, each as `tools/eval_proxy_checkpoint.py` leaves it (``pred/``, ``gt/``,
``report/metrics.json``, ``report/per_sample.csv``, ``report/proxy_eval.json``). Prints one markdown row per
set, and per set also the row of its full-body framings (the paper's setting: the whole body inside the crop;
``meta["framing"] == "full"`` in the label), with: voxel IoU, side-view IoU, 3D joint error, segmentation mIoU,
the depth measures of the real-photo evaluation on the 12 limb joints (pelvis-relative depth error, with the
error of a flat body, every joint at the pelvis's depth, beside it; ordinal depth of joint pairs more than
10 cm apart) and the fitted bodies' surface error. Writes OUT/card.json.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from bodynet_cli.io.sample import load_sample
from bodynet_cli.metrics.photos import depth_error_mm, ordinal_depth

SETS = (("test", "test split (seed 0)"), ("seed1", "unseen seed 1"))


def _float(v: str) -> float:
    return float(v) if v not in ("", None) else float("nan")


def per_sample(folder: Path) -> list[dict]:
    """One dict per scored sample: eval's per-sample metrics, side-view IoU, depth measures, framing."""
    rows = []
    with open(folder / "report" / "per_sample.csv", newline="") as f:
        for r in csv.DictReader(f):
            name = r["sample"]
            p, g = load_sample(folder / "pred" / name), load_sample(folder / "gt" / name)
            visible = np.ones(16, dtype=bool)
            rows.append({
                "name": name, "framing": g.meta.get("framing", "?"),
                **{k: _float(r[k]) for k in ("voxel_iou", "segmentation_miou", "joint3d_error_mm", "surface_error_mm")},
                "depth_mm": depth_error_mm(p.joints3d[:, 2], g.joints3d[:, 2], visible),
                "flat_depth_mm": depth_error_mm(np.zeros(16), g.joints3d[:, 2], visible),
                "ordinal": ordinal_depth(p.joints3d[:, 2], g.joints3d[:, 2], visible),
            })  # fmt: skip
    side = json.loads((folder / "report" / "proxy_eval.json").read_text()).get("side_view_ious", {})
    for r in rows:
        r["side_view_iou"] = side.get(Path(r["name"]).stem, float("nan"))
    return rows


def summarise(rows: list[dict]) -> dict:
    mean = lambda k: float(np.nanmean([r[k] for r in rows])) if any(np.isfinite(r[k]) for r in rows) else None  # noqa: E731
    keys = ("voxel_iou", "side_view_iou", "joint3d_error_mm", "segmentation_miou", "depth_mm", "flat_depth_mm",
            "ordinal", "surface_error_mm")  # fmt: skip
    return {"samples": len(rows), "fitted": int(sum(np.isfinite(r["surface_error_mm"]) for r in rows)),
            **{k: mean(k) for k in keys}}  # fmt: skip


def fmt(v, scale=1.0, digits=1, unit=""):
    return "—" if v is None else f"{v * scale:.{digits}f}{unit}"


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:])[0])
    card = {}
    print("| set | samples | voxel IoU | side-view IoU | 3D joint error | seg mIoU | depth error (flat body) "
          "| ordinal depth | surface error (fitted) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, title in SETS:
        if not (out / key / "report" / "per_sample.csv").is_file():
            continue
        rows = per_sample(out / key)
        for sub, label in ((rows, title), ([r for r in rows if r["framing"] == "full"], f"{title}, full body")):
            c = summarise(sub)
            card[label] = c
            print(f"| {label} | {c['samples']} | {fmt(c['voxel_iou'], 100, 1, ' %')} | "
                  f"{fmt(c['side_view_iou'], 100, 1, ' %')} | {fmt(c['joint3d_error_mm'], 1, 0, ' mm')} | "
                  f"{fmt(c['segmentation_miou'], 1, 3)} | {fmt(c['depth_mm'], 1, 0)} "
                  f"({fmt(c['flat_depth_mm'], 1, 0)}) mm | {fmt(c['ordinal'], 100, 1, ' %')} | "
                  f"{fmt(c['surface_error_mm'], 1, 1, ' mm')} ({c['fitted']}) |")
    if not card:
        raise SystemExit(f"{out}: neither test/ nor seed1/ has a report; run tools/model_card.sh first")
    first = next(key for key, _ in SETS if (out / key / "report" / "proxy_eval.json").is_file())
    meta = json.loads((out / first / "report" / "proxy_eval.json").read_text())
    card["checkpoint"], card["checkpoint_sha256"] = meta["checkpoint"], meta["checkpoint_sha256"]
    (out / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
