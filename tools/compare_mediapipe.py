"""Compare the torch front end's landmarks with MediaPipe's own pose pipeline on one-person photos.

Two steps, because mediapipe and bodynet live in different environments (mediapipe is never a
dependency of bodynet):

    # 1. in a venv with mediapipe==0.10.21 (and scikit-image): MediaPipe's landmarks, original pixels
    /tmp/mpvenv/bin/python tools/compare_mediapipe.py mediapipe --out /tmp/mp_landmarks.npz [IMAGES...]
    # 2. with bodynet: the front end on the same images, distances per landmark
    python tools/compare_mediapipe.py compare /tmp/mp_landmarks.npz

MediaPipe's legacy ``solutions.pose`` (static images, model_complexity=1 = ``pose_landmark_full``)
follows one person per image, so compare on photos of one person; for each image the front end's
person nearest to MediaPipe's is used. ``IMAGES`` are files or ``skimage:NAME`` (default: astronaut).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load(spec: str) -> tuple[str, np.ndarray]:
    if spec.startswith("skimage:"):
        import skimage.data

        name = spec.split(":", 1)[1]
        rgb = np.asarray(getattr(skimage.data, name)())
    else:
        from PIL import Image

        name, rgb = Path(spec).stem, np.asarray(Image.open(spec).convert("RGB"))
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    return name, np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)


def run_mediapipe(images: list[str], out: str) -> None:
    import mediapipe as mp

    result = {}
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for spec in images:
            name, rgb = load(spec)
            r = pose.process(rgb)
            if r.pose_landmarks is None:
                print(f"{name}: MediaPipe finds no person")
                continue
            h, w = rgb.shape[:2]
            # MediaPipe's normalized x, y times the image size: continuous pixels; z is scaled like x.
            result[spec] = np.array([[p.x * w, p.y * h, p.z * w, p.visibility] for p in r.pose_landmarks.landmark])
    np.savez(out, **result)
    print(f"wrote {out} ({len(result)} images)")


def compare(path: str) -> None:
    sys.path.insert(0, str(ROOT))
    from bodynet_cli.people import FrontEnd

    ref = np.load(path, allow_pickle=False)
    front = FrontEnd()
    print("| image | people | landmarks | mean px | median px | max px | visibility max abs diff | image size |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in ref.files:
        name, rgb = load(spec)
        mp_lm = ref[spec]
        people = front.detect([rgb])[0]
        if not people:
            print(f"| {name} | 0 | | | | | | |")
            continue
        p = min(people, key=lambda p: np.linalg.norm(p.landmarks[:, :2] - mp_lm[:, :2], axis=-1).mean())
        d = np.linalg.norm(p.landmarks[:, :2] - mp_lm[:, :2], axis=-1)
        for label, sel in [("visible (MediaPipe > 0.5)", mp_lm[:, 3] > 0.5), ("all 33", np.ones(33, bool))]:
            print(f"| {name} | {len(people)} | {label} ({sel.sum()}) | {d[sel].mean():.1f} | {np.median(d[sel]):.1f} "
                  f"| {d[sel].max():.1f} | {np.abs(p.visibility - mp_lm[:, 3])[sel].max():.2f} "
                  f"| {rgb.shape[1]}×{rgb.shape[0]} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    a = sub.add_parser("mediapipe")
    a.add_argument("images", nargs="*", default=["skimage:astronaut"])
    a.add_argument("--out", required=True)
    b = sub.add_parser("compare")
    b.add_argument("landmarks")
    args = ap.parse_args()
    if args.step == "mediapipe":
        run_mediapipe(args.images or ["skimage:astronaut"], args.out)
    else:
        compare(args.landmarks)


if __name__ == "__main__":
    main()
