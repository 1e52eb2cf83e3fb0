"""The person front end (BlazePose in torch): parity with TFLite, its CPU cost against BodyNet's, people found.

    python benchmarks/bench_frontend.py [--repeats 3] [--threads 1 2] [--images PHOTO ...]

1. Max abs error of each converted network's outputs against the TFLite runtime's
   (tests/data/blazepose_reference.npz, from tools/build_blazepose.py).
2. CPU time per image of ``FrontEnd.detect`` (all detector windows + landmarks for every person found),
   and split: the detector's forward over one image's windows, the landmark network's forward per
   person, against the forward of the shipped ``small`` BodyNet checkpoint on one crop, in the same
   process (best of --repeats), for each torch thread count.
3. People found per photo: scikit-image's astronaut, two astronauts side by side, scikit-image's
   ``camera``, and any --images given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_people_graph import REFERENCE, reference_inputs  # noqa: E402

from bodynet_cli.models.bodynet import BodyNet  # noqa: E402
from bodynet_cli.models.config import get_config  # noqa: E402
from bodynet_cli.people import FrontEnd  # noqa: E402
from bodynet_cli.people.frontend import LANDMARK_SIZE, detector_windows  # noqa: E402
from bodynet_cli.people.graph import load_graph  # noqa: E402


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def parity() -> None:
    ref = np.load(REFERENCE, allow_pickle=False)
    inputs = reference_inputs(ref)
    print("| network | output | shape | max abs error vs TFLite | max abs value |")
    print("|---|---|---|---|---|")
    for name, x in inputs.items():
        with torch.no_grad():
            out = load_graph(name)(torch.from_numpy(x).permute(0, 3, 1, 2))
        for k in sorted(out):
            got = out[k]
            label = k
            if got.dim() == 4:
                got, label = torch.sigmoid(got.permute(0, 2, 3, 1)), f"sigmoid({k})"
            expected = ref[f"{name}/{k}"].astype(np.float32)
            err = np.abs(got.numpy() - expected).max()
            print(f"| {name} | {label} | {tuple(expected.shape[1:])} | {err:.2e} | {np.abs(expected).max():.3g} |")


def load(spec: str) -> tuple[str, np.ndarray]:
    if spec.startswith("skimage:"):
        import skimage.data

        name = spec.split(":", 1)[1]
        rgb = np.asarray(getattr(skimage.data, name)())
    else:
        from bodynet_cli.io.images import load_image

        name, rgb = Path(spec).stem, load_image(spec).rgb
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    return name, np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--images", nargs="*", default=[])
    args = ap.parse_args()

    print("## Converted networks vs TFLite (reference kernels)\n")
    parity()

    from skimage.data import astronaut

    a = astronaut()
    photos = [("astronaut", a), ("two_astronauts", np.concatenate([a, a], axis=1)), load("skimage:camera")]
    photos += [load(p) for p in args.images]
    front = FrontEnd()
    small = BodyNet(get_config("small")).eval()  # timing only: the weights do not change the cost
    crop = torch.rand(1, 3, small.config.input_size, small.config.input_size)
    person = torch.rand(1, 3, LANDMARK_SIZE, LANDMARK_SIZE)

    print(f"\n## CPU time (ms, best of {args.repeats})\n")
    print("| threads | image | size | windows | people | detect() per image | detector forward | "
          "landmark net per person | BodyNet small per crop | detect() / BodyNet per person |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        with torch.no_grad():
            t_body = best_of(lambda: small(crop), args.repeats)
            t_lm = best_of(lambda: front.landmarker(person), args.repeats)
            for name, rgb in photos:
                h, w = rgb.shape[:2]
                n_win = len(detector_windows(w, h, front.tiles))
                windows = torch.rand(n_win, 3, 224, 224)
                t_det = best_of(lambda: front.detector(windows), args.repeats)  # noqa: B023
                people = front.detect([rgb])[0]
                t_all = best_of(lambda: front.detect([rgb]), args.repeats)  # noqa: B023
                per = t_all / max(1, len(people))
                print(f"| {threads} | {name} | {w}×{h} | {n_win} | {len(people)} | {t_all * 1e3:.0f} | "
                      f"{t_det * 1e3:.0f} | {t_lm * 1e3:.0f} | {t_body * 1e3:.0f} | {per / t_body:.1f}× |")

    print("\n## People found\n")
    print("| image | people | detector scores | boxes (x0, y0, x1, y1) |")
    print("|---|---|---|---|")
    for name, rgb in photos:
        people = front.detect([rgb])[0]
        boxes = "; ".join("[" + ", ".join(f"{v:.0f}" for v in p.box) + "]" for p in people)
        print(f"| {name} | {len(people)} | {', '.join(f'{p.score:.2f}' for p in people)} | {boxes} |")


if __name__ == "__main__":
    main()
