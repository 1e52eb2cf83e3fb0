"""``bodynet train``: the paper's staged training on ``bodynet synth`` data, resumable, one or many processes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bodynet_cli.cli.common import BatchSizeOpt, DeviceOpt, OutDir, SeedOpt, console, user_errors
from bodynet_cli.errors import BodyNetError


@user_errors
def train(
    data_dir: Annotated[
        Path | None, typer.Argument(help="A folder written by `bodynet synth` or `bodynet convert` (images/, "
                                    "labels/, index.json); optional with --data.", file_okay=False, show_default=False),
    ] = None,
    out: OutDir = None,
    data: Annotated[
        list[str] | None, typer.Option("--data", help="More training data, repeatable, mixed with DATA_DIR: "
                                       "surreal:PATH, up3d:PATH, mpii:PATH (2d stage only), or a synth/convert "
                                       "folder. SURREAL and UP-3D need --body-model.")
    ] = None,
    body_model: Annotated[
        Path | None, typer.Option("--body-model", help="Your SMPL file, or a folder of the female/male/neutral "
                                  "files, for SURREAL and UP-3D ground truth.")
    ] = None,
    config: Annotated[
        str, typer.Option("--config", help="Model configuration: small, paper, proxy, proxy128 (3D nets read "
                          "proxy 2D joints and a person mask instead of RGB), or a JSON file (a config dict or a "
                          "checkpoint's config.json).")
    ] = "small",
    stage: Annotated[
        str, typer.Option("--stage", help="all (2d, 3d, voxels, voxels_proj, end2end in order), one stage, or "
                          "a comma-separated list; stages: 2d, 3d, voxels, voxels_proj, end2end, part_voxels.")
    ] = "all",
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Optimiser steps per stage (default: the stage's own; "
                                 "see docs). Re-running with more steps continues a finished stage.")
    ] = None,
    epochs: Annotated[
        float | None, typer.Option("--epochs", min=0.0, help="Stage length in passes over the train split "
                                   "(instead of --steps).")
    ] = None,
    batch_size: BatchSizeOpt = 8,
    lr: Annotated[
        float | None, typer.Option("--lr", min=0.0, help="Learning rate (default: the stage's own, 1e-3 as the "
                                   "paper; 2.5e-4 for end2end).")
    ] = None,
    optimizer: Annotated[
        str, typer.Option("--optimizer", help="rmsprop (the paper's: α 0.99, ε 1e-8), adam, or sgd (momentum 0.9).")
    ] = "rmsprop",
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Data-loading processes per training process (0: in-process; "
                          "one loads 100+ samples/s, far more than a CPU step needs).")
    ] = 1,
    val_every: Annotated[
        int, typer.Option("--val-every", min=0, help="Validate every N steps (0: at the end of every epoch); "
                          "also at the end of each stage.")
    ] = 0,
    val_samples: Annotated[
        int, typer.Option("--val-samples", min=0, help="Validate on at most this many val samples (0: all).")
    ] = 0,
    ckpt_every: Annotated[
        int, typer.Option("--ckpt-every", min=1, help="Write the resumable checkpoint every N steps (and at "
                          "the end of each stage).")
    ] = 500,
    log_every: Annotated[
        int, typer.Option("--log-every", min=1, help="Average and log the loss every N steps (RUN_DIR/log.jsonl).")
    ] = 20,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    amp: Annotated[
        bool, typer.Option("--amp/--no-amp", help="bf16 autocast on CUDA (CPU always runs fp32).")
    ] = True,
    channels_last: Annotated[
        bool, typer.Option("--channels-last/--no-channels-last", help="channels_last memory format (faster "
                           "convolutions on recent GPUs).")
    ] = False,
    compile_model: Annotated[
        bool, typer.Option("--compile/--no-compile", help="torch.compile the model (slow start, faster steps).")
    ] = False,
    augment: Annotated[
        bool, typer.Option("--augment/--no-augment", help="Colour jitter, flips, zoom and rotation applied "
                           "consistently to the image and every target.")
    ] = True,
    init: Annotated[
        Path | None, typer.Option("--init", help="Checkpoint folder the first stage starts from when RUN_DIR has "
                                  "no finished previous stage.", file_okay=False)
    ] = None,
    balance_losses: Annotated[
        bool | None, typer.Option("--balance-losses/--no-balance-losses", help="Weigh each stage's loss terms so "
                                  "their gradient norms are equal, measured at the stage's start (default: on "
                                  "for proxy configs; the paper's fixed weights otherwise).", show_default=False)
    ] = None,
    proxy_corruption: Annotated[
        Path | None, typer.Option("--proxy-corruption", help="JSON file of ProxyCorruption settings (some or all "
                                  "fields) for the training proxies of a proxy config (default: the built-in "
                                  "ones).", dir_okay=False)
    ] = None,
) -> None:
    """Train BodyNet in the paper's stages; re-run the same command to resume after an interruption.

    Data: DATA_DIR (from `bodynet synth` or `bodynet convert`) and/or --data surreal:PATH, up3d:PATH,
    mpii:PATH (made on the fly; SURREAL and UP-3D with --body-model), mixed.

    Writes RUN_DIR/<stage>/checkpoint/ (model.safetensors, config.json, resume state), RUN_DIR/log.jsonl and
    RUN_DIR/final/ (the last stage's model, for `bodynet predict --checkpoint`). Several processes:
    `torchrun --nproc-per-node N -m bodynet_cli train ...` (gloo on CPU, NCCL on GPUs).
    """
    from bodynet_cli.cli.common import is_tty, resolve_device
    from bodynet_cli.data.proxies import load_corruption
    from bodynet_cli.models.config import load_config
    from bodynet_cli.models.stages import parse_stages
    from bodynet_cli.pipelines.train.loop import OPTIMIZERS, TrainOptions, train_processes

    if steps is not None and epochs is not None:
        raise BodyNetError("--steps and --epochs both given; use one of them")
    if optimizer not in OPTIMIZERS:
        raise BodyNetError(f"--optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    from bodynet_cli.data.datasets import parse_source

    if out is None:
        raise BodyNetError("--out RUN_DIR is required")
    sources = tuple(parse_source(d) for d in (data or []))
    if data_dir is None and not sources:
        raise BodyNetError("no training data: give DATA_DIR or --data KIND:PATH")
    for folder in [data_dir] * (data_dir is not None) + [s.path for s in sources if s.kind == "synth"]:
        if not (folder / "index.json").is_file():
            raise BodyNetError(f"{folder}: no index.json; a data folder must be written by `bodynet synth` or "
                               "`bodynet convert` (or use --data surreal:PATH, up3d:PATH, mpii:PATH)")
    for s in sources:
        if not s.path.exists():
            raise BodyNetError(f"--data {s.kind}:{s.path}: no such file or folder")
    cfg = load_config(config)
    corruption = load_corruption(proxy_corruption)
    specs = tuple(parse_stages(stage))
    opts = TrainOptions(
        data_dir=data_dir, out_dir=out, config=cfg, stages=specs, steps=steps, epochs=epochs,
        batch_size=batch_size, lr=lr, optimizer=optimizer, workers=workers, val_every=val_every,
        val_samples=val_samples, ckpt_every=ckpt_every, log_every=log_every, seed=seed,
        device=resolve_device(device), amp=amp, channels_last=channels_last, compile=compile_model,
        augment=augment, init=init, progress=is_tty(), proxy_corruption=corruption,
        balance_losses=balance_losses, data=sources, body_model=body_model,
    )  # fmt: skip
    results, is_main = train_processes(opts, console.print)
    if is_main:
        for r in results:
            rate = f", {r.samples_per_s:.2f} samples/s" if r.samples_per_s else ""
            console.print(f"{r.stage}: {'already finished' if r.skipped else 'done'} at step {r.steps}{rate} -> "
                          f"{r.checkpoint}")
        console.print(f"final model: {out / 'final'}")
    raise typer.Exit(0)
