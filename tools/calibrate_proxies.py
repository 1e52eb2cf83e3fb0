"""How the person front end's proxies compare with the training proxies, on the same synthetic samples.

    python tools/calibrate_proxies.py DATA_DIR [--n 200] [--corruption FILE] [--out report.json] [--no-front-end]

The proxy model is trained on proxies made from the ground truth by ``data.proxies.make_proxies`` and
meets the front end's (BlazePose's) proxies at test time. This runs the front end on the crop images of
a ``bodynet synth`` folder (``--people largest``, as ``predict``), makes training proxies of the same
samples, and prints the statistics that the corruption settings are meant to match, side by side:

- found: share of samples where the front end returns a person;
- missing: share of joints inside the crop whose proxy score is below 0.5 (or whose sample has no person);
- error: per-joint distance to the ground truth in units of the person's size (the longer side of the
  ground-truth joints' box, as ``ProxyCorruption`` defines it), for present joints: median, mean, p90,
  and the share above 0.25 (outliers);
- pck10: share of the joints inside the crop that are present and within 0.1 person sizes; pck10_any:
  the same whatever the score (as PCK on photos counts every predicted joint);
- swaps: share of left/right limb pairs (ankles, knees, hips, wrists, elbows, shoulders) whose joints
  are nearer the other side's ground truth, by more than 0.05 person sizes;
- mask IoU against the ground-truth ``person_mask`` (or ``segmentation > 0``), and the shares of
  mask pixels added and missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bodynet_cli.data.proxies import ProxyCorruption, make_proxies, person_size
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.sample import load_sample

PAIRS = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))  # right, left (MPII order)


def _stats(rows: list[dict]) -> dict:
    """Aggregate per-sample records ``{found, gt (J,2), pj (J,2), score (J,), inside (J,), mask, gt_mask}``."""
    err, missing, swaps, ious, added, missed, within, within_any = [], [], [], [], [], [], [], []
    for r in rows:
        size = person_size(r["gt"])
        present = r["inside"] & (r["score"] >= 0.5) if r["found"] else np.zeros_like(r["inside"])
        missing += list(~present[r["inside"]])
        if not r["found"]:
            within += [False] * int(r["inside"].sum())
            within_any += [False] * int(r["inside"].sum())
        else:
            e = np.linalg.norm(r["pj"] - r["gt"], axis=1) / size
            err += list(e[present])
            within += list((present & (e < 0.1))[r["inside"]])
            within_any += list((e < 0.1)[r["inside"]])
            for a, b in PAIRS:
                if present[a] and present[b]:
                    same = e[a] + e[b]
                    crossed = (np.linalg.norm(r["pj"][a] - r["gt"][b]) + np.linalg.norm(r["pj"][b] - r["gt"][a])) / size
                    swaps.append(crossed + 0.05 < same)
        m, g = r["mask"].astype(bool), r["gt_mask"].astype(bool)
        union = (m | g).sum()
        ious.append((m & g).sum() / union if union else 1.0)
        added.append((m & ~g).sum() / max(1, g.sum()))
        missed.append((g & ~m).sum() / max(1, g.sum()))
    e = np.asarray(err)
    return {
        "samples": len(rows),
        "found": float(np.mean([r["found"] for r in rows])),
        "missing": float(np.mean(missing)) if missing else float("nan"),
        "error_median": float(np.median(e)) if e.size else float("nan"),
        "error_mean": float(e.mean()) if e.size else float("nan"),
        "error_p90": float(np.percentile(e, 90)) if e.size else float("nan"),
        "outliers": float((e > 0.25).mean()) if e.size else float("nan"),
        "pck10": float(np.mean(within)) if within else float("nan"),
        "pck10_any": float(np.mean(within_any)) if within_any else float("nan"),
        "swaps": float(np.mean(swaps)) if swaps else float("nan"),
        "mask_iou": float(np.mean(ious)),
        "mask_added": float(np.mean(added)),
        "mask_missed": float(np.mean(missed)),
    }


def _bias(rows: list[dict]) -> dict[str, tuple[float, float, int]]:
    """Per joint: the median signed offset (dx, dy) of present joints from the ground truth, in person sizes,
    over the samples where a person was found, with the count (a systematic offset shows here; the median,
    because the detector's gross errors on synthetic renders would swamp a mean)."""
    from bodynet_cli.body.conventions import JOINT_NAMES

    out = {}
    for j, name in enumerate(JOINT_NAMES):
        d = [(r["pj"][j] - r["gt"][j]) / person_size(r["gt"]) for r in rows
             if r["found"] and r["inside"][j] and r["score"][j] >= 0.5]  # fmt: skip
        m = np.median(d, axis=0) if d else np.array([np.nan, np.nan])
        out[name] = (float(m[0]), float(m[1]), len(d))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="a `bodynet synth` folder (images/, labels/)")
    ap.add_argument("--n", type=int, default=200, help="samples (the first N label files by name)")
    ap.add_argument("--corruption", type=Path, help="ProxyCorruption settings (JSON); default: the defaults")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="also write the statistics as JSON here")
    ap.add_argument("--no-front-end", action="store_true", help="only the training proxies (fast)")
    args = ap.parse_args(argv)

    from PIL import Image

    from bodynet_cli.people import FrontEnd

    c = ProxyCorruption.from_dict(json.loads(args.corruption.read_text())) if args.corruption else ProxyCorruption()
    names = sorted(p.stem for p in (args.data / "labels").glob("*.npz"))[: args.n]
    if not names:
        print(f"{args.data}/labels: no samples", file=sys.stderr)
        return 2
    front = None if args.no_front_end else FrontEnd()
    rng = np.random.default_rng(args.seed)
    fe_rows, train_rows = [], []
    for i, name in enumerate(names):
        s = load_sample(args.data / "labels" / f"{name}.npz", required=("joints2d", "crop", "segmentation"))
        rgb = np.asarray(Image.open(args.data / "images" / f"{name}.png").convert("RGB"))
        n = rgb.shape[0]
        crop = Crop.from_array(s.crop)
        gt = crop.image_to_crop(s.joints2d.astype(np.float64), size=n)
        inside = ((gt >= 0) & (gt < n)).all(axis=1)
        gt_mask = s.person_mask if s.person_mask is not None else (s.segmentation > 0).astype(np.uint8)
        if gt_mask.shape[0] != n:
            gt_mask = np.asarray(Image.fromarray(gt_mask * 255).resize((n, n), Image.Resampling.NEAREST)) > 127
        people = front.detect([rgb])[0] if front is not None else []
        if people:
            p = people[0]
            whole = Crop(0.0, 0.0, float(n), n)
            fe_rows.append({"found": True, "gt": gt, "pj": np.asarray(p.joints2d, np.float64),
                            "score": np.asarray(p.joints2d_score), "inside": inside,
                            "mask": p.mask_in(whole) > 0.5, "gt_mask": gt_mask})  # fmt: skip
        else:
            fe_rows.append({"found": False, "gt": gt, "pj": gt, "score": np.zeros(len(gt)), "inside": inside,
                            "mask": np.zeros_like(gt_mask, bool), "gt_mask": gt_mask})  # fmt: skip
        proxy = make_proxies(gt, gt_mask.astype(bool), c, rng)
        train_rows.append({"found": True, "gt": gt, "pj": proxy.joints.astype(np.float64), "score": proxy.scores,
                           "inside": inside, "mask": proxy.mask, "gt_mask": gt_mask})  # fmt: skip
        if (i + 1) % 25 == 0:
            print(f"{i + 1}/{len(names)}", file=sys.stderr, flush=True)
    table = {"training proxies": _stats(train_rows)}
    if front is not None:
        table = {"front end (BlazePose)": _stats(fe_rows), **table}
    if front is not None:
        table["front end joint bias"] = _bias(fe_rows)
        print("front end's median offset from the ground truth per joint (person sizes, x right, y down; "
              "present joints of found people):")
        for name, (dx, dy, n) in table["front end joint bias"].items():
            print(f"  {name:<12} {dx:+.3f} {dy:+.3f}  (n={n})")
        table["bias"] = table.pop("front end joint bias")
    keys = list(next(iter(table.values())))
    print(f"{'':24s}" + "".join(f"{k:>13s}" for k in keys))
    for label, st in ((k, v) for k, v in table.items() if k != "bias"):
        print(f"{label:24s}" + "".join(f"{st[k]:13.3f}" if isinstance(st[k], float) else f"{st[k]:13d}" for k in keys))
    if args.out:
        args.out.write_text(json.dumps({"data": str(args.data), "corruption": c.to_dict(), **table}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
