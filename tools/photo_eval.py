"""Score ``bodynet predict`` outputs on an annotated photo set with the held-out real-photo measures.

    PYTHONPATH=. python tools/photo_eval.py PRED_DIR SET_DIR [--out report.json] [--shared]

SET_DIR is a set in the format of ``tools/photo_sets.py`` (images/, masks/, annotations.json). PRED_DIR holds
``bodynet predict SET_DIR/images --out PRED_DIR --people all`` outputs, ``<stem>_p<k>.npz`` (or, with
``--people largest``, ``<stem>.npz``; used only when an image has no ``_p<k>`` file).

Each annotated person is matched to the predicted person of its photo whose crop covers the largest share of
its box, one to one: a prediction serves one person (``--shared``: any number), and a crop that finds the
person is preferred to one that covers more of the box but does not (a crop around a whole group would
otherwise take the person from its own crop).

The measures (``bodynet_cli.metrics.photos``): found (the crop covers >= 50 % of the box and has <= 4 x the
area of the square around it), PCK@0.1 over the 12 limb joints (0.1 x the box's longer side), silhouette IoU
(the voxels' front view on the photo through the crop, against the mask, inside crop ∪ box; persons with a
mask), depth error (mm, pelvis-relative, the 12 limb joints) and ordinal depth (limb-joint pairs > 10 cm
apart in true depth; persons with 3D joints). PCK, IoU and the depth scores are those of the persons found;
a person that is not found counts only in "found". Each is the mean over persons. "(front end)" is the PCK
of the person front end's joints (``joints2d_detected``, when the predictions have them), for reference.

Prints a table per source dataset and overall; ``--out`` writes it as JSON with every person's scores
(NaN as null). Exit code 0, or 2 with one line for a set or prediction folder that cannot be read.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bodynet_cli.errors import EXIT_USER_ERROR, BodyNetError
from bodynet_cli.io.json_file import read_json
from bodynet_cli.io.sample import Sample, load_sample
from bodynet_cli.metrics.arrays import mean_finite
from bodynet_cli.metrics.photos import (
    box_coverage,
    depth_error_mm,
    front_view_on_photo,
    ordinal_depth,
    pck,
    person_found,
    silhouette_iou,
)

NAN = float("nan")


@dataclass
class PersonScore:
    """One annotated person's scores (NaN where not measured: not found, no mask, no 3D joints)."""

    image: str
    source: str
    person: str
    prediction: str | None  # the matched prediction's file name
    coverage: float  # share of the box inside the matched crop (0 without a match)
    found: bool
    pck: float = NAN
    pck_front_end: float = NAN  # PCK of the person front end's joints (``joints2d_detected``), for reference
    silhouette_iou: float = NAN
    depth_error_mm: float = NAN
    ordinal_depth: float = NAN


@dataclass
class Summary:
    """Scores of a group of persons: each a mean over the persons where it was measured, with their number."""

    persons: int
    found: float
    pck: float
    pck_n: int
    pck_front_end: float
    pck_front_end_n: int
    silhouette_iou: float
    silhouette_iou_n: int
    depth_error_mm: float
    depth_error_mm_n: int
    ordinal_depth: float
    ordinal_depth_n: int

    @classmethod
    def of(cls, scores: list[PersonScore]) -> Summary:
        def mean_n(key: str) -> tuple[float, int]:
            values = [getattr(s, key) for s in scores]
            return mean_finite(values), sum(math.isfinite(v) for v in values)

        found = float(np.mean([s.found for s in scores])) if scores else NAN
        return cls(len(scores), found, *mean_n("pck"), *mean_n("pck_front_end"), *mean_n("silhouette_iou"),
                   *mean_n("depth_error_mm"), *mean_n("ordinal_depth"))  # fmt: skip


def predictions_of(pred_dir: Path, stem: str) -> list[tuple[str, Sample]]:
    """The predicted persons of one photo: ``<stem>_p<k>.npz`` by k, else ``<stem>.npz``, else none."""
    pattern = re.compile(re.escape(stem) + r"_p(\d+)\.npz")
    for folder in (pred_dir, pred_dir / "images"):  # predict run on SET_DIR/images, or on SET_DIR itself
        per_person = sorted((int(m.group(1)), p) for p in folder.glob(f"{glob.escape(stem)}_p*.npz")
                            if (m := pattern.fullmatch(p.name)))  # fmt: skip
        paths = [p for _, p in per_person] or [p for p in (folder / f"{stem}.npz",) if p.is_file()]
        if paths:
            return [(p.name, load_sample(p, required=("voxels", "crop", "joints2d", "joints3d"))) for p in paths]
    return []


def match(boxes: list, crops: list, one_to_one: bool = True) -> list[int | None]:
    """Matches boxes to crops. Pairs are taken best first: those where the crop finds the person
    (``person_found``), then the larger share of the box covered, then the smaller crop; a pair is kept when its
    box has no crop yet and (``one_to_one``) its crop serves no other box. Returns each box's crop index, None
    where no crop covers any of it.
    """
    pairs = sorted((not person_found(c, b), -box_coverage(c, b), float(c[2]), i, j)
                   for i, b in enumerate(boxes) for j, c in enumerate(crops))  # fmt: skip
    out: list[int | None] = [None] * len(boxes)
    used: set[int] = set()
    for _, neg_cover, _, i, j in pairs:
        if neg_cover < 0 and out[i] is None and not (one_to_one and j in used):
            out[i] = j
            used.add(j)
    return out


def score_image(image: dict, set_dir: Path, pred_dir: Path, one_to_one: bool = True) -> list[PersonScore]:
    stem = Path(image["file"]).stem
    preds = predictions_of(pred_dir, stem)
    persons = image["persons"]
    matched = match([p["box"] for p in persons], [s.crop for _, s in preds], one_to_one)
    shape = (int(image["height"]), int(image["width"]))
    out = []
    for person, j in zip(persons, matched, strict=True):
        box = np.asarray(person["box"], np.float64)
        if j is None:
            out.append(PersonScore(stem, image["source"], person["id"], None, 0.0, False))
            continue
        name, pred = preds[j]
        score = PersonScore(stem, image["source"], person["id"], name, box_coverage(pred.crop, box),
                            person_found(pred.crop, box))  # fmt: skip
        if score.found:
            gt2d = np.asarray(person["joints2d"], np.float64)
            score.pck = pck(pred.joints2d, gt2d, person["visible"], box)
            if pred.joints2d_detected is not None:
                score.pck_front_end = pck(pred.joints2d_detected, gt2d, person["visible"], box)
            if person.get("mask"):
                mask = np.asarray(Image.open(set_dir / person["mask"]).convert("L")) > 127
                if mask.shape != shape:
                    raise BodyNetError(f"{set_dir / person['mask']}: {mask.shape[::-1]} pixels, the photo has "
                                       f"{shape[::-1]}; rebuild the set with tools/photo_sets.py")
                score.silhouette_iou = silhouette_iou(front_view_on_photo(pred.voxels, pred.crop, shape), mask,
                                                      pred.crop, box)  # fmt: skip
            if person.get("joints3d") is not None:
                gt_depth = np.asarray(person["joints3d"], np.float64)[:, 2]
                vis3d = person["visible3d"]
                score.depth_error_mm = depth_error_mm(pred.joints3d[:, 2], gt_depth, vis3d)
                score.ordinal_depth = ordinal_depth(pred.joints3d[:, 2], gt_depth, vis3d)
        out.append(score)
    return out


def read_set(set_dir: Path) -> list[dict]:
    path = set_dir / "annotations.json"
    doc = read_json(path, hint="; make the set with tools/photo_sets.py")
    if not isinstance(doc, dict) or doc.get("format") != "bodynet-photo-set":
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise BodyNetError(f"{path}: not a photo set (format {found!r}); make it with tools/photo_sets.py")
    return doc["images"]


def table(summaries: dict[str, Summary]) -> str:
    def cell(value: float, n: int, fmt: str) -> str:
        return "-" if not n else f"{fmt.format(value)} ({n})"

    rows = [f"{'source':<14}{'persons':>8}{'found %':>9}{'PCK@0.1 %':>13}{'(front end)':>13}{'sil. IoU':>13}"
            f"{'depth mm':>12}{'ordinal %':>13}"]  # fmt: skip
    for source, s in summaries.items():
        rows.append(f"{source:<14}{s.persons:>8}{100 * s.found:>9.1f}{cell(100 * s.pck, s.pck_n, '{:.1f}'):>13}"
                    f"{cell(100 * s.pck_front_end, s.pck_front_end_n, '{:.1f}'):>13}"
                    f"{cell(s.silhouette_iou, s.silhouette_iou_n, '{:.3f}'):>13}"
                    f"{cell(s.depth_error_mm, s.depth_error_mm_n, '{:.0f}'):>12}"
                    f"{cell(100 * s.ordinal_depth, s.ordinal_depth_n, '{:.1f}'):>13}")  # fmt: skip
    return "\n".join(rows)


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pred_dir", type=Path, help="bodynet predict --people all output folder")
    ap.add_argument("set_dir", type=Path, help="photo set folder (tools/photo_sets.py)")
    ap.add_argument("--out", type=Path, help="write the table and every person's scores as JSON")
    ap.add_argument("--shared", action="store_true", help="let one prediction serve several annotated persons "
                    "(each takes its best crop; default: one to one)")  # fmt: skip
    args = ap.parse_args(argv)
    try:
        if not args.pred_dir.is_dir():
            raise BodyNetError(f"{args.pred_dir}: no such folder; run bodynet predict SET/images --out it --people all")
        scores = [s for image in read_set(args.set_dir)
                  for s in score_image(image, args.set_dir, args.pred_dir, not args.shared)]  # fmt: skip
    except BodyNetError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    sources = dict.fromkeys(s.source for s in scores)
    summaries = {src: Summary.of([s for s in scores if s.source == src]) for src in sources}
    summaries["all"] = Summary.of(scores)
    print("PCK, silhouette IoU and the depth scores over the persons found; (n) = persons measured")
    print(table(summaries))
    if args.out:
        doc = {"pred_dir": str(args.pred_dir), "set_dir": str(args.set_dir), "shared": args.shared,
               "summary": {k: asdict(v) for k, v in summaries.items()}, "persons": [asdict(s) for s in scores]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(_json_safe(doc), indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
