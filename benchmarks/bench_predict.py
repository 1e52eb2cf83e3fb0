"""How much of the network's throughput ``bodynet predict`` keeps, and how big its files are.

    python benchmarks/bench_predict.py                       # small config, CPU or GPU (auto)
    python benchmarks/bench_predict.py --config paper --n 64 --batch-size 16
    python benchmarks/bench_predict.py --labels DIR          # file sizes from `bodynet synth` labels

Throughput: N JPEG photos (640×480, one or two copies of scikit-image's astronaut pasted at random
places and sizes on a smooth random background) are decoded, searched for people by the BlazePose
front end (``--crop auto``), cropped, run through a randomly initialised BodyNet and written
(``run_predict``, the code behind the CLI), against the same model's forward alone on the same number
of crops, already decoded and on the device, in the same process (interleaved, best of --repeats).
The front end's own time (``FrontEnd.detect`` on the decoded photos) is measured in the same loop and
reported as its share of the ``auto`` pipeline, with and without the detector's extra windows (``--tiles``).

Sizes: bytes per output NPZ as ``predict`` writes it (voxels bit-packed,
joints, segmentation, crop, meta; no --save-probs), for R³ grids of real bodies when --labels gives
``bodynet synth`` ground truth, else for the model's own (random-weight) outputs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bodynet_cli.cli.common import resolve_device
from bodynet_cli.io.images import crop_pixels, discover_images, load_image
from bodynet_cli.io.sample import Sample, load_sample, save_sample
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.config import get_config
from bodynet_cli.models.targets import resize_labels
from bodynet_cli.people import FrontEnd
from bodynet_cli.pipelines.predict.crops import letterbox_crop
from bodynet_cli.pipelines.predict.infer import Predictor
from bodynet_cli.pipelines.predict.run import PredictOptions, run_predict


def make_photos(folder: Path, n: int, rng: np.random.Generator) -> None:
    """N 640×480 JPEGs, each with one or two astronauts (scikit-image, public domain) on a smooth background."""
    from skimage import data

    person = Image.fromarray(data.astronaut())
    for i in range(n):
        small = rng.integers(0, 256, size=(62, 82, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC)
        for _ in range(1 + i % 2):
            side = int(rng.uniform(180, 400))
            img.paste(person.resize((side, side), Image.Resampling.BILINEAR),
                      (int(rng.uniform(-side / 4, 640 - side * 3 / 4)), int(rng.uniform(0, 480 - side / 2))))
        img.save(folder / f"photo_{i:04d}.jpg", quality=90)


def time_forward(predictor: Predictor, batches: list[torch.Tensor]) -> float:
    """Seconds for the full model's forward over every batch (inputs already on the device)."""
    sync = torch.cuda.synchronize if predictor.device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    with torch.inference_mode(), predictor._autocast():
        for x in batches:
            predictor.model(x)
    sync()
    return time.perf_counter() - t


def time_pipeline(predictor: Predictor, folder: Path, opts: PredictOptions, front_end) -> tuple[float, int]:
    """Seconds for ``run_predict`` over the folder, and the number of outputs (people) it wrote."""
    items = discover_images([folder])
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        report = run_predict(items, predictor, PredictOptions(**{**opts.__dict__, "out": Path(out)}), {},
                             front_end=front_end)  # fmt: skip
        elapsed = time.perf_counter() - t
    assert report.done == len(items) and not report.failures, report
    return elapsed, report.people


def time_front_end(front_end, images: list[np.ndarray], batch_size: int) -> float:
    """Seconds for the front end alone on the decoded photos, in the pipeline's batches."""
    t = time.perf_counter()
    for k in range(0, len(images), batch_size):
        front_end.detect(images[k : k + batch_size])
    return time.perf_counter() - t


def file_sizes(predictor: Predictor, folder: Path, labels: Path | None) -> tuple[str, list[int]]:
    """Bytes per output NPZ, written the way ``predict`` writes them."""
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        if labels is not None:
            files = sorted(labels.glob("*.npz"))
            for i, f in enumerate(files):
                gt = load_sample(f, required=("voxels", "joints2d", "joints3d", "segmentation", "crop"))
                h = predictor.config.heatmap_size  # predict stores the segmentation at heatmap size
                seg = resize_labels(torch.from_numpy(gt.segmentation.astype(np.int64))[None], h, 15)[0]
                sample = Sample(voxels=gt.voxels, joints2d=gt.joints2d, joints2d_score=np.ones(16, np.float32),
                                joints3d=gt.joints3d, segmentation=seg.numpy().astype(np.uint8), crop=gt.crop,
                                meta={"tool": "bodynet", "model": predictor.config.name, "input": str(f)})  # fmt: skip
                path = Path(tmp) / f"{i}.npz"
                save_sample(path, sample)
                sizes.append(path.stat().st_size)
            r = int(gt.voxels.shape[0])
            return f"{len(files)} synth ground-truth bodies, R={r}", sizes
        opts = PredictOptions(out=Path(tmp), crop_mode="full")
        run_predict(discover_images([folder])[:8], predictor, opts, {"model": predictor.config.name})
        sizes = [p.stat().st_size for p in Path(tmp).glob("*.npz")]
        return f"random-weight predictions, R={predictor.config.voxel_res}", sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small", help="model config: small or paper")
    ap.add_argument("--n", type=int, default=32, help="images per timed run")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="decode threads and write threads (each)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--labels", type=Path, default=None, help="`bodynet synth` labels folder for file sizes")
    ap.add_argument("--sizes-only", action="store_true", help="measure file sizes, skip the timing")
    args = ap.parse_args()

    torch.manual_seed(0)
    device = resolve_device(args.device)
    cfg = get_config(args.config)
    predictor = Predictor(BodyNet(cfg), device)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_photos(folder, args.n, rng)
        items = discover_images([folder])
        # The forward-only peer sees exactly the batches the pipeline builds in --crop full mode.
        crops = [crop_pixels(load_image(i.path), letterbox_crop(640, 480, cfg.input_size)) for i in items]
        batches = [predictor._tensor(np.stack(crops[k : k + args.batch_size]))
                   for k in range(0, len(crops), args.batch_size)]  # fmt: skip
        time_forward(predictor, batches)  # warm-up (cuDNN autotune, allocator, oneDNN primitives)
        front_ends = {"tiles": FrontEnd(device=device), "no tiles": FrontEnd(device=device, tiles=False)}
        photos = [load_image(i.path).rgb for i in items]
        rows = []
        runs = (("full", "largest", None), ("auto", "largest", "tiles"), ("auto", "all", "tiles"),
                ("auto", "largest", "no tiles"), ("auto", "all", "no tiles"))
        for mode, people, tiles in () if args.sizes_only else runs:
            opts = PredictOptions(out=folder, crop_mode=mode, people=people, batch_size=args.batch_size,
                                  workers=args.workers)  # fmt: skip
            fe = front_ends.get(tiles)
            _, n_out = time_pipeline(predictor, folder, opts, fe)  # warm-up; the outputs it makes
            peer = [predictor._tensor(np.stack([crops[k % len(crops)] for k in range(s, min(s + args.batch_size,
                    n_out))])) for s in range(0, n_out, args.batch_size)]  # fmt: skip
            fwd, pipe, front = [], [], []
            for _ in range(args.repeats):  # interleaved, so background load hits both alike
                fwd.append(time_forward(predictor, peer))
                pipe.append(time_pipeline(predictor, folder, opts, fe)[0])
                if fe is not None:
                    front.append(time_front_end(fe, photos, args.batch_size))
            label = f"{mode}/{people}" + (f" ({tiles})" if tiles else "")
            rows.append((label, n_out, n_out / min(fwd), n_out / min(pipe), min(front) / min(pipe) if front else 0.0))
        what, sizes = file_sizes(predictor, folder, args.labels)

    print(f"device {device}, config {cfg.name} (input {cfg.input_size}, R={cfg.voxel_res}), precision "
          f"{predictor.precision}, batch {args.batch_size}, {args.n} images 640x480 JPEG, workers {args.workers}, "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")  # fmt: skip
    print(f"{'crop/people (detector)':<27} {'outputs':>8} {'forward out/s':>14} {'pipeline out/s':>15} "
          f"{'pipeline/forward':>17} {'front end share':>16}")
    for mode, n_out, f, p, share in rows:
        print(f"{mode:<27} {n_out:>8d} {f:>14.2f} {p:>15.2f} {p / f:>16.1%} {share:>15.1%}")
    print(f"bytes per output NPZ ({what}): mean {np.mean(sizes) / 1e3:.1f} KB, max {np.max(sizes) / 1e3:.1f} KB, "
          f"n={len(sizes)}")


if __name__ == "__main__":
    main()
