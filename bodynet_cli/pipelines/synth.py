"""Fill a folder with synthetic samples: ``images/NAME.png``, ``labels/NAME.npz``, ``index.json``.

Samples are independent (``SynthGenerator`` seeds each from the dataset seed and its index), so the
work is split into chunks over worker processes and the files are the same whatever the number of
workers. Every file is written atomically, so a sample whose image and label both exist is complete
and a rerun skips it (resuming an interrupted run, or extending a dataset to a larger ``n``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from bodynet_cli import __version__
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.inputs import check_out_dir
from bodynet_cli.io.npz import atomic_write_bytes, decode_meta, read_npz
from bodynet_cli.pipelines.batch import DatasetReport, Failure

SPLITS = (("train", 90), ("val", 95), ("test", 100))  # cumulative percentages
PNG_COMPRESS_LEVEL = 1  # fast: the images are noisy, higher levels save little and cost much


def sample_name(index: int) -> str:
    """File stem of sample ``index`` (fixed width, so names sort in index order)."""
    return f"{index:07d}"


def split_of(index: int) -> str:
    """train / val / test (90/5/5) from a hash of the index: stable when a dataset grows."""
    h = int.from_bytes(hashlib.sha256(str(int(index)).encode()).digest()[:4], "big") % 100
    return next(name for name, upto in SPLITS if h < upto)


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (H, W, 3) -> PNG bytes (deterministic)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


# One generator per worker process, built by ``_init_worker``.
_generator = None


def _exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """End this worker when its parent (pid ``parent``) dies, even by SIGKILL, instead of lingering as an
    orphan that holds the CPU.

    On Linux the kernel does it (``PR_SET_PDEATHSIG``: SIGKILL as soon as the parent exits, whatever
    this process is doing); elsewhere a thread polls the parent pid. Files are written atomically, so
    ending mid-sample loses only that sample (a rerun remakes it).
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
        if armed:
            if os.getppid() != parent:  # the parent died before the signal was armed
                os._exit(1)
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(body_model_path: str, settings_json: str, threads: int = 1, parent: int | None = None) -> None:
    """Build this process's generator. parent: the pid of the process that started this worker (None when
    generating in-process)."""
    import torch

    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.data.synth.camera import CameraSettings
    from bodynet_cli.data.synth.generate import SynthGenerator, SynthSettings

    global _generator
    if parent is not None:
        _exit_with_parent(parent)
    # one thread per process: parallelism comes from the workers, and results must not depend on it
    torch.set_num_threads(threads)
    d = json.loads(settings_json)
    d["camera"] = CameraSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["camera"].items()})
    _generator = SynthGenerator(load_body_model(body_model_path), SynthSettings(**d))


def _make(out: str, indices: list[int], mesh: bool = True) -> list[tuple[int, str | None]]:
    """Generate and write samples (without ``vertices``/``faces`` unless ``mesh``); returns
    (index, error message or None) for each."""
    from bodynet_cli.io.sample import save_sample

    results = []
    for i in indices:
        name = sample_name(i)
        try:
            item = _generator.generate(i)
            item.sample.meta["image"] = f"images/{name}.png"
            if not mesh:  # the body parameters and the body model still define the mesh exactly
                item.sample.vertices = item.sample.faces = None
            atomic_write_bytes(Path(out) / "images" / f"{name}.png", png_bytes(item.image))
            save_sample(Path(out) / "labels" / f"{name}.npz", item.sample)
            results.append((i, None))
        except Exception as e:  # noqa: BLE001 - one bad sample must not stop the batch; it is reported
            results.append((i, f"{type(e).__name__}: {e}"))
    return results


def _done(out: Path, index: int) -> bool:
    name = sample_name(index)
    return (out / "images" / f"{name}.png").is_file() and (out / "labels" / f"{name}.npz").is_file()


def _check_resumable(out: Path, model_id: str, settings: dict) -> None:
    """An existing folder must have been made with the same body model and settings."""
    labels = out / "labels"
    first = next(iter(sorted(labels.glob("*.npz"))), None) if labels.is_dir() else None
    if first is None:
        return
    try:
        meta = decode_meta(read_npz(first)["meta"])
    except (BodyNetError, KeyError, ValueError):
        raise BodyNetError(f"{first}: not a synth label file; use an empty --out folder") from None
    if meta.get("body_model") != model_id or meta.get("settings") != json.loads(json.dumps(settings)):
        raise BodyNetError(f"{out} holds samples made with other settings or another body model "
                           f"(see {first} meta); use a new --out folder or the same --config, --seed and --body-model")


def _chunks(indices: list[int], size: int) -> Iterator[list[int]]:
    for k in range(0, len(indices), size):
        yield indices[k:k + size]


def write_index(out: Path, n: int, settings: dict, model_id: str, config_name: str, config_hash: str,
                failed: list[int]) -> None:
    """Write ``index.json`` atomically: settings and the train/val/test split of every complete sample."""
    bad = set(failed)
    splits: dict[str, list[str]] = {name: [] for name, _ in SPLITS}
    for i in range(n):
        if i not in bad and _done(out, i):
            splits[split_of(i)].append(sample_name(i))
    index = {
        "tool": "bodynet synth", "version": __version__, "n": n, "config": config_name, "config_hash": config_hash,
        "body_model": model_id, "settings": settings, "images": "images/{name}.png", "labels": "labels/{name}.npz",
        "splits": splits, "failed": [sample_name(i) for i in sorted(bad)],
    }
    atomic_write_bytes(out / "index.json", (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())


def write_dataset(out: str | os.PathLike, n: int, config_name: str = "small", seed: int = 0, workers: int = 1,
                  body_model: str | os.PathLike | None = None, mesh: bool = True, chunk: int = 4,
                  on_progress: Callable[[int], None] | None = None, **setting_changes) -> DatasetReport:
    """Generate samples 0..n-1 into ``out`` (skipping complete ones) and write ``index.json``.

    config_name: the model configuration whose input size and voxel resolution the data take;
    workers: processes (1 = in this process); body_model: SMPL-format file (default: the usual look-up);
    mesh: store ``vertices`` and ``faces`` (about 95 % of a label file's bytes);
    on_progress: called with the number of samples finished (written, skipped or failed) since the
    last call; setting_changes: ``SynthSettings`` fields to override.
    """
    from bodynet_cli.body.load import load_body_model, resolve_body_model_path
    from bodynet_cli.data.synth.generate import SynthSettings
    from bodynet_cli.models.config import get_config

    if n < 1:
        raise BodyNetError(f"--n {n}: ask for at least one sample")
    if workers < 1:
        raise BodyNetError(f"--workers {workers}: use at least one worker")
    config = get_config(config_name)
    out = Path(out)
    check_out_dir(out)
    model_path = str(resolve_body_model_path(body_model))
    model_id = load_body_model(model_path).model_id
    settings = SynthSettings.for_config(config, seed=seed, **setting_changes)
    settings_dict = json.loads(json.dumps(settings.to_dict()))
    _check_resumable(out, model_id, settings_dict)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)

    report = DatasetReport(out=out, n=n)
    todo = [i for i in range(n) if not _done(out, i)]
    report.skipped = n - len(todo)
    if on_progress and report.skipped:
        on_progress(report.skipped)
    failed: list[int] = []

    def collect(results: list[tuple[int, str | None]]) -> None:
        for i, err in results:
            if err is None:
                report.written += 1
            else:
                failed.append(i)
                report.failures.append(Failure(str(out / "labels" / f"{sample_name(i)}.npz"), err))
        if on_progress:
            on_progress(len(results))

    if todo and workers == 1:
        import torch

        threads = torch.get_num_threads()
        try:
            _init_worker(model_path, json.dumps(settings_dict))
            for part in _chunks(todo, chunk):
                collect(_make(str(out), part, mesh))
        finally:
            torch.set_num_threads(threads)
    elif todo:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn: a forked child of a process that already ran torch threads can hang in OpenMP
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(model_path, json.dumps(settings_dict), 1, os.getpid())) as pool:
            futures = [pool.submit(_make, str(out), part, mesh) for part in _chunks(todo, chunk)]
            try:
                for fut in as_completed(futures):
                    collect(fut.result())
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    write_index(out, n, settings_dict, model_id, config.name, config.hash(), failed)
    return report
