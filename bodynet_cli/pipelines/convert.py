"""``bodynet convert``: a published dataset's frames as ground-truth sample files in the synth layout.

``OUT/images/NAME.png`` (the crop at the config's input size), ``OUT/labels/NAME.npz`` (docs/formats.md)
and ``OUT/index.json`` (the split), so ``train``, ``predict`` and ``eval`` read the result as they read
``bodynet synth`` data. Files are written atomically; a rerun skips samples whose image and label
exist (resuming), and a frame that fails is recorded and the batch goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bodynet_cli import __version__
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.inputs import check_out_dir
from bodynet_cli.io.npz import atomic_write_bytes
from bodynet_cli.pipelines.batch import DatasetReport, Failure, failure
from bodynet_cli.pipelines.synth import png_bytes


def convert_dataset(reader, out: str | Path, split: str, config_name: str = "small", mesh: bool = True,
                    on_progress: Callable[[int], None] | None = None) -> DatasetReport:  # fmt: skip
    """Write every frame of ``reader`` (``datasets.open_reader``) under ``out`` for the model config
    ``config_name`` (its input size and voxel resolution); mesh: keep ``vertices``/``faces``."""
    from bodynet_cli.data.datasets.frames import make_sample
    from bodynet_cli.io.sample import save_sample
    from bodynet_cli.models.config import get_config

    cfg = get_config(config_name)
    out = Path(out)
    check_out_dir(out)
    report = DatasetReport(out=out, n=len(reader))
    if report.n == 0:
        raise BodyNetError(f"{getattr(reader, 'root', '?')}: no {split} frames to convert")
    done: list[str] = []
    for i in range(len(reader)):
        name = reader.name(i)
        img, lab = out / "images" / f"{name}.png", out / "labels" / f"{name}.npz"
        if img.is_file() and lab.is_file():
            report.skipped += 1
            done.append(name)
        else:
            try:
                item = make_sample(reader.frame(i), cfg.input_size, cfg.voxel_res, mesh=mesh)
                item.sample.meta.update(tool="bodynet convert", version=__version__, config=cfg.name,
                                        image=f"images/{name}.png")  # fmt: skip
                img.parent.mkdir(parents=True, exist_ok=True)
                lab.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(img, png_bytes(item.image))
                save_sample(lab, item.sample)
                report.written += 1
                done.append(name)
            except BodyNetError as e:
                report.failures.append(failure(lab, e))
            except Exception as e:  # noqa: BLE001 - one bad frame must not stop the batch; it is reported
                report.failures.append(Failure(str(lab), f"{type(e).__name__}: {e}"))
        if on_progress:
            on_progress(1)
    splits = {s: [] for s in ("train", "val", "test")}
    splits[split] = done
    index = {"tool": "bodynet convert", "version": __version__, "dataset": getattr(reader, "kind", "?"),
             "source": str(getattr(reader, "root", "")), "n": report.n, "config": cfg.name,
             "config_hash": cfg.hash(), "images": "images/{name}.png", "labels": "labels/{name}.npz",
             "splits": splits, "failed": [Path(f.item).stem for f in report.failures]}  # fmt: skip
    atomic_write_bytes(out / "index.json", (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())
    return report
