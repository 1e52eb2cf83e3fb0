"""The staged training loop: one stage at a time, resumable at any checkpoint, one or many processes.

RUN_DIR layout::

    run.json                    the run's fixed settings (model config, seed, batch size, processes)
    log.jsonl                   one JSON object per logged training window or validation
    <stage>/checkpoint/         model.safetensors + config.json (models.checkpoint) + resume.{json,safetensors}
    final/                      the last finished stage's model.safetensors + config.json

Determinism: the batch of step k is a pure function of (seed, stage, k) (``StepBatchSampler``) and each
item's augmentation of (seed, epoch, index), so a resumed run sees exactly the batches the uninterrupted run
would have; with the model, optimiser and RNG states restored, the loss sequence is the same.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bodynet_cli.data.dataset import AugmentSettings, Batch, SynthDataset, collate
from bodynet_cli.data.datasets.training import ABSENT_JOINT
from bodynet_cli.data.proxies import ProxyCorruption
from bodynet_cli.distributed import DistContext
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.npz import atomic_write_bytes
from bodynet_cli.models.bodynet import BodyNet, BodyNetOutput
from bodynet_cli.models.checkpoint import load_checkpoint
from bodynet_cli.models.config import ModelConfig
from bodynet_cli.models.losses import LossBreakdown, LossTargets, compute_losses, stage_loss_weights
from bodynet_cli.models.stages import StageSpec, previous_stage
from bodynet_cli.pipelines.train.sampler import StepBatchSampler, steps_per_epoch
from bodynet_cli.pipelines.train.state import ResumeState, load_resume, recover, restore_rng, save_training_checkpoint

OPTIMIZERS = ("rmsprop", "adam", "sgd")


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``bodynet train`` takes (see its ``--help``).

    steps / epochs: length of every stage run (None: the stage table's default). val_every: validate every
    this many steps (0: at every epoch end). val_samples: validate on at most this many samples (0: all).
    amp: bf16 autocast on CUDA (CPU runs fp32). init: a checkpoint to start the first stage from.
    proxy_corruption: how the training proxies of a proxy config are made from the ground truth (validation
    uses the same settings with fixed draws). balance_losses: weigh a stage's loss terms so their gradient
    norms are equal, measured over ``balance_batches`` batches at the stage's start (None: on exactly for
    configs with proxy inputs; the paper's fixed weights otherwise).
    """

    data_dir: Path
    out_dir: Path
    config: ModelConfig
    stages: tuple[StageSpec, ...]
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 8
    lr: float | None = None
    optimizer: str = "rmsprop"
    workers: int = 1
    val_every: int = 0
    val_samples: int = 0
    ckpt_every: int = 500
    log_every: int = 20
    seed: int = 0
    device: torch.device = torch.device("cpu")
    amp: bool = True
    channels_last: bool = False
    compile: bool = False
    augment: bool = True
    init: Path | None = None
    progress: bool = True
    proxy_corruption: ProxyCorruption = ProxyCorruption()
    balance_losses: bool | None = None
    balance_batches: int = 4
    data: tuple = ()  # extra ``datasets.DataSource``s (``--data``), mixed with ``data_dir`` when it is given
    body_model: Path | None = None  # SMPL file or folder for SURREAL / UP-3D ground truth

    def sources(self) -> list:
        """Every data source of the run: ``data_dir`` (a synth-layout folder) first, then ``--data``."""
        from bodynet_cli.data.datasets import DataSource

        return ([DataSource("synth", self.data_dir)] if self.data_dir is not None else []) + list(self.data)

    @property
    def balanced(self) -> bool:
        return self.config.uses_proxies if self.balance_losses is None else self.balance_losses


@dataclass
class StageResult:
    """What one stage run did. skipped: it was already finished. losses: the total loss of every
    optimiser step this process ran (for tests and summaries)."""

    stage: str
    steps: int
    checkpoint: Path
    metrics: dict
    samples_per_s: float | None
    skipped: bool = False
    losses: list[float] | None = None


def stage_seed(seed: int, stage: str) -> int:
    """Each stage shuffles the data differently, reproducibly."""
    return (seed * 1_000_003 + zlib.crc32(stage.encode())) % 2**31


def build_targets(batch: Batch, cfg: ModelConfig, stage: str, weights: dict[str, float]) -> LossTargets:
    """The loss targets a stage needs, encoded on the batch's device from its compact ground truth."""
    from bodynet_cli.models.targets import (
        fv_targets_from_segmentation,
        heatmaps_from_joints,
        resize_labels,
        volume_from_joints,
    )

    t = LossTargets()
    h = cfg.heatmap_size
    if "pose2d" in weights:
        t.heatmaps, _ = heatmaps_from_joints(batch.joints_hm, h)
    if "segm" in weights:
        t.segmentation = resize_labels(batch.segmentation, h, cfg.num_seg)
        if batch.has_segmentation is not None and not bool(batch.has_segmentation.all()):
            t.segmentation_mask = batch.has_segmentation
    if "pose3d" in weights:
        t.volumes = volume_from_joints(batch.joints_hm, batch.depth_m, h, cfg.depth_bins)
    if "voxels" in weights or "fv" in weights:
        t.voxels = batch.voxels.float()
    if "fv" in weights or "part_fv" in weights:
        # As the paper (docs/architecture.md, losses): the front-view target is the 2D silhouette, not the
        # grid's own projection.
        t.fv, part_fv = fv_targets_from_segmentation(batch.segmentation, cfg.voxel_res, cfg.num_seg)
        if "part_fv" in weights:
            t.part_fv = part_fv
    if "part_voxels" in weights:
        t.part_voxels = batch.part_voxels.long()
    return t


def _float_output(out: BodyNetOutput) -> BodyNetOutput:
    """Outputs of an autocast forward, in fp32 for the losses."""
    return BodyNetOutput(**{k: None if v is None else v.float() for k, v in vars(out).items()})


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def forward_losses(model, batch: Batch, spec: StageSpec, cfg: ModelConfig, opts: TrainOptions,
                   weights: dict[str, float] | None = None):  # fmt: skip
    """One forward pass and the stage's losses (``weights``: term -> weight, default the stage's fixed ones
    for ``cfg``). batch is on the model's device."""
    weights = stage_loss_weights(spec.name, cfg) if weights is None else weights
    rgb = batch.rgb.float().div_(255.0)
    if opts.channels_last:
        rgb = rgb.contiguous(memory_format=torch.channels_last)
    with _autocast(opts.device, opts.amp):
        out = model(rgb, batch.proxies(), upto=spec.upto)
    out = _float_output(out)
    return out, compute_losses(out, build_targets(batch, cfg, spec.name, weights), spec.name, weights)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """RMSprop as the paper's code (α 0.99, ε 1e-8); Adam and SGD (momentum 0.9) as alternatives."""
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise BodyNetError(f"--optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")


@torch.no_grad()
def validate(model: BodyNet, dataset: SynthDataset, spec: StageSpec, cfg: ModelConfig, opts: TrainOptions,
             ctx: DistContext, weights: dict[str, float] | None = None) -> dict:
    """The stage's validation metrics over ``dataset`` (sharded over processes), with ``eval``'s functions:
    PCKh@0.5, segmentation mIoU, 3D joint error (mm), voxel IoU, part-voxel IoU (those the stage's
    outputs allow), and the stage's loss. Returns {name: mean over samples, 'n': samples}."""
    from bodynet_cli.geometry.space import crops_to_image, joints3d_to_camera
    from bodynet_cli.metrics.arrays import mean_finite
    from bodynet_cli.metrics.iou import part_voxel_iou, segmentation_miou, voxel_iou
    from bodynet_cli.metrics.joints import joint3d_error_mm, pckh
    from bodynet_cli.models.decode import decode_heatmaps, decode_segmentation, decode_volume, part_voxel_labels

    n = len(dataset) if opts.val_samples <= 0 else min(opts.val_samples, len(dataset))
    mine = list(range(ctx.rank, n, ctx.world_size))
    per_sample: dict[str, list[float]] = {}

    def add(name: str, values) -> None:
        per_sample.setdefault(name, []).extend(np.asarray(values, dtype=np.float64).ravel().tolist())

    was_training = model.training
    model.eval()
    h = cfg.heatmap_size
    for start in range(0, len(mine), opts.batch_size):
        batch = collate([dataset[i] for i in mine[start : start + opts.batch_size]]).to(opts.device)
        out, losses = forward_losses(model, batch, spec, cfg, opts, weights)
        add("loss", [float(losses.total)] * len(batch))
        crop = batch.crop.double()
        if out.heatmaps is not None:
            joints_hm, _ = decode_heatmaps(out.heatmaps[:, -1].double())
            gt2d = batch.joints2d.double().cpu().numpy()
            annotated = (gt2d > ABSENT_JOINT / 2).all(axis=-1)  # MPII's joints without a position do not count
            add("pckh", pckh(crops_to_image(joints_hm, crop, h).cpu().numpy(), gt2d, visible=annotated))
        if out.segm_logits is not None:
            seg = decode_segmentation(out.segm_logits[:, -1], size=cfg.input_size)
            keep = np.ones(len(batch), bool) if batch.has_segmentation is None else batch.has_segmentation.cpu().numpy()
            if keep.any():  # samples without segmentation ground truth (MPII) are not scored
                gt_seg = batch.segmentation.cpu().numpy()[keep]
                add("segmentation_miou", segmentation_miou(seg.cpu().numpy()[keep], gt_seg))
        if out.volumes is not None:
            xy, depth = decode_volume(out.volumes[:, -1].double(), cfg.depth_bins)
            pred3d = torch.cat([crops_to_image(xy, crop, h), depth[..., None]], dim=-1).cpu().numpy()
            cam = batch.camera.double().cpu().numpy()
            gt3d = joints3d_to_camera(batch.joints3d.double().cpu().numpy(), cam)
            add("joint3d_error_mm", joint3d_error_mm(joints3d_to_camera(pred3d, cam), gt3d))
        if out.voxel_logits is not None:
            add("voxel_iou", voxel_iou((out.voxel_logits[:, -1] > 0).cpu().numpy(), batch.voxels.cpu().numpy()))
        if out.part_voxel_logits is not None and batch.part_voxels is not None:
            labels = part_voxel_labels(out.part_voxel_logits[:, -1])
            add("part_voxel_iou", part_voxel_iou(labels.cpu().numpy(), batch.part_voxels.cpu().numpy()))
    model.train(was_training)
    if ctx.distributed:
        import torch.distributed as dist

        gathered: list[dict] = [None] * ctx.world_size  # type: ignore[list-item]
        dist.all_gather_object(gathered, per_sample)
        per_sample = {k: [v for g in gathered for v in g.get(k, [])] for k in per_sample}
    means = {k: mean_finite(v) for k, v in per_sample.items()}
    metrics = {k: None if math.isnan(m) else m for k, m in means.items()}  # JSON has no NaN
    metrics["n"] = n
    return metrics


class RunLog:
    """``RUN_DIR/log.jsonl``: appended by the main process; a resumed stage first drops the lines it logged
    after its checkpoint, so the log reads like one uninterrupted run."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def truncate_after(self, stage: str, step: int) -> None:
        if not self.enabled or not self.path.is_file():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a line cut short by a kill
                continue
            if not (row.get("stage") == stage and row.get("step", 0) > step):
                keep.append(line)
        atomic_write_bytes(self.path, ("\n".join(keep) + "\n" if keep else "").encode())

    def write(self, **row) -> None:
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps({"time": round(time.time(), 3), **row}) + "\n")


def check_run_settings(opts: TrainOptions, ctx: DistContext) -> None:
    """A re-run must use the settings the run started with, or resuming would not continue the same run."""
    path = opts.out_dir / "run.json"
    settings = {"config": opts.config.to_dict(), "seed": opts.seed, "batch_size": opts.batch_size,
                "world_size": ctx.world_size}  # fmt: skip
    if opts.config.uses_proxies:
        settings["proxy_corruption"] = opts.proxy_corruption.to_dict()
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = None
        if old is not None:
            old["config"] = ModelConfig.from_dict(old["config"]).to_dict()  # normalise lists/tuples
            diff = [k for k in settings if old.get(k) != settings[k]]
            if diff:
                raise BodyNetError(f"{opts.out_dir}: this run was started with different {', '.join(diff)}; resume "
                                   f"with the same --config/--seed/--batch-size/process count, or use a new --out")
            return
    if ctx.is_main:
        atomic_write_bytes(path, (json.dumps(settings, indent=1) + "\n").encode())


def _stage_config(cfg: ModelConfig, spec: StageSpec) -> ModelConfig:
    return cfg.replace(part_voxels=True) if spec.part_voxels else cfg


def _initial_weights(model: BodyNet, spec: StageSpec, opts: TrainOptions, log) -> str:
    """Load the weights a new stage starts from; returns where they came from."""
    prev = previous_stage(spec.name)
    source = None
    if prev is not None and (opts.out_dir / prev / "checkpoint").is_dir():
        source = opts.out_dir / prev / "checkpoint"
    elif opts.init is not None:
        source = opts.init
    if source is None:
        if spec.name != "2d":
            log(f"[yellow]warning:[/yellow] stage {spec.name!r} starts from random weights (no finished "
                f"{prev!r} stage in {opts.out_dir} and no --init); its frozen sub-nets will be untrained")
        return "random"
    loaded = load_checkpoint(source)
    state = loaded.model.state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    head = [k for k in missing if ".part_head." in k]
    if unexpected or len(head) != len(missing):
        raise BodyNetError(f"{source}: its architecture ({loaded.config.name!r}) does not fit this run's "
                           f"config {opts.config.name!r}; use a checkpoint trained with the same --config")
    if head:  # first part-voxel stage: the paper's initialisation from the binary head
        model.voxels.init_part_head_from_binary()
    return str(source)


def train_stage(spec: StageSpec, opts: TrainOptions, ctx: DistContext, log=print) -> StageResult:
    """Run (or resume, or skip when already finished) one stage; returns what it did."""
    cfg = _stage_config(opts.config, spec)
    ckpt_dir = opts.out_dir / spec.name / "checkpoint"
    from bodynet_cli.data.datasets.training import describe, make_dataset

    sources, needs_3d = opts.sources(), spec.name != "2d"
    train_set = make_dataset(sources, "train", cfg, needs_3d=needs_3d, body_model=opts.body_model,
                             seed=stage_seed(opts.seed, spec.name), augment=AugmentSettings() if opts.augment else None,
                             part_voxels=spec.part_voxels, proxies=opts.proxy_corruption)  # fmt: skip
    val_set = make_dataset(sources, "val", cfg, needs_3d=needs_3d, body_model=opts.body_model,
                           part_voxels=spec.part_voxels, proxies=opts.proxy_corruption)  # fmt: skip
    per_epoch = steps_per_epoch(len(train_set), opts.batch_size, ctx.world_size)
    if opts.epochs is not None:
        total = max(1, math.ceil(opts.epochs * per_epoch))
    else:
        total = opts.steps if opts.steps is not None else spec.steps
    run_log = RunLog(opts.out_dir / "log.jsonl", ctx.is_main)

    torch.manual_seed(stage_seed(opts.seed, spec.name))
    model = BodyNet(cfg)
    found = recover(ckpt_dir)
    resume = load_resume(found) if found is not None else None
    if resume is not None and resume.state.step >= total:
        log(f"stage {spec.name}: finished ({resume.state.step} steps) in {found}; skipping")
        return StageResult(spec.name, resume.state.step, found, resume.state.metrics, resume.state.samples_per_s,
                           skipped=True)
    if resume is not None:
        model.load_state_dict(load_checkpoint(found).model.state_dict())
        start, source = resume.state.step, f"resumed from step {resume.state.step}"
    else:
        start, source = 0, _initial_weights(model, spec, opts, log)
    model.set_stage(spec.name)
    model.to(opts.device)
    if opts.channels_last:
        model.to(memory_format=torch.channels_last)
    lr = opts.lr if opts.lr is not None else spec.lr
    optimizer = make_optimizer(opts.optimizer, [p for p in model.parameters() if p.requires_grad], lr)
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)
        restore_rng(resume.rng_tensors, resume.rng_plain)
        run_log.truncate_after(spec.name, start)
    model.train()
    if resume is not None and resume.state.loss_weights is not None:
        weights = resume.state.loss_weights
    elif opts.balanced:
        from bodynet_cli.pipelines.train.balance import measure_balanced_weights

        weights = measure_balanced_weights(
            model, train_set, list(stage_loss_weights(spec.name, cfg)),
            lambda batch, w: forward_losses(model, batch, spec, cfg, opts, w)[1], opts.batch_size,
            opts.balance_batches, opts.device, ctx)  # fmt: skip
        log(f"stage {spec.name}: balanced loss weights " + ", ".join(f"{k} {v:.4g}" for k, v in weights.items()))
    else:
        weights = stage_loss_weights(spec.name, cfg)
    if resume is None:
        run_log.write(stage=spec.name, step=0, kind="loss_weights", weights=weights,
                      balanced=opts.balanced)  # fmt: skip

    net = model
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[opts.device.index] if opts.device.type == "cuda" else None)
    if opts.compile:
        net = torch.compile(net)

    sampler = StepBatchSampler(len(train_set), opts.batch_size, train_set.seed, start, total, ctx.rank,
                               ctx.world_size)
    loader = torch.utils.data.DataLoader(
        train_set, batch_sampler=sampler, collate_fn=collate, num_workers=opts.workers,
        pin_memory=opts.device.type == "cuda", prefetch_factor=4 if opts.workers > 0 else None,
        persistent_workers=False,
    )  # fmt: skip
    info = {"stage": spec.name, "data": describe(sources), "train_samples": len(train_set),
            "val_samples": len(val_set), "optimizer": opts.optimizer, "lr": lr, "batch_size": opts.batch_size,
            "processes": ctx.world_size, "seed": opts.seed, "started_from": source,
            "loss_weights": weights}  # fmt: skip
    if cfg.uses_proxies:
        info["proxy_corruption"] = opts.proxy_corruption.to_dict()
    metrics = resume.state.metrics if resume is not None else {}
    throughput: float | None = resume.state.samples_per_s if resume is not None else None
    log(f"stage {spec.name} ({spec.summary}): steps {start}..{total}, {per_epoch} steps/epoch, "
        f"trains {', '.join(model.built_subnets(spec.subnets))}; weights: {source}")

    def checkpoint(step: int) -> None:
        if ctx.is_main:
            epoch, position = divmod(step, per_epoch)
            state = ResumeState(spec.name, step, epoch, position, total, step >= total, metrics, throughput, weights)
            save_training_checkpoint(ckpt_dir, model, cfg, {**info, "steps": step, "metrics": metrics},
                                     optimizer, state)

    losses: list[float] = []
    window: list[LossBreakdown] = []
    # Throughput counts data loading and the step, not validation or checkpoint writing.
    t_window, n_window, t_last = 0.0, 0, time.perf_counter()
    progress = _progress(opts.progress and ctx.is_main)
    with progress:
        task = progress.add_task(f"{spec.name}", total=total, completed=start, loss=float("nan"), rate=0.0)
        for step, batch in enumerate(loader, start=start + 1):
            batch = batch.to(opts.device, non_blocking=True)
            _, breakdown = forward_losses(net, batch, spec, cfg, opts, weights)
            optimizer.zero_grad(set_to_none=True)
            breakdown.total.backward()
            optimizer.step()
            loss = float(breakdown.total.detach())
            if not math.isfinite(loss):
                raise BodyNetError(f"stage {spec.name}: the loss became {loss} at step {step}; lower --lr "
                                   f"(now {lr}) and re-run (training resumes from the last checkpoint)")
            losses.append(loss)
            window.append(breakdown)
            n_window += len(batch) * ctx.world_size
            t_window += time.perf_counter() - t_last
            if step % opts.log_every == 0 or step == total:
                throughput = n_window / t_window if t_window > 0 else None
                terms = {k: float(np.mean([w.as_floats()[k] for w in window])) for k in window[0].as_floats()}
                run_log.write(stage=spec.name, step=step, epoch=(step - 1) // per_epoch, kind="train", lr=lr,
                              loss=terms, samples_per_s=throughput)
                progress.update(task, loss=terms["total"], rate=throughput or 0.0)
                window, t_window, n_window = [], 0.0, 0
            progress.update(task, completed=step)
            at_epoch_end = step % per_epoch == 0
            if (opts.val_every > 0 and step % opts.val_every == 0) or (opts.val_every <= 0 and at_epoch_end) \
                    or step == total:
                metrics = validate(model, val_set, spec, cfg, opts, ctx, weights)
                run_log.write(stage=spec.name, step=step, epoch=(step - 1) // per_epoch, kind="val", metrics=metrics)
                log(f"stage {spec.name} step {step}: " + ", ".join(
                    f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float)))
            if step % opts.ckpt_every == 0 or step == total:
                checkpoint(step)
            t_last = time.perf_counter()
    if ctx.distributed:
        import torch.distributed as dist

        dist.barrier()
    return StageResult(spec.name, total, ckpt_dir, metrics, throughput, losses=losses)


def _progress(enabled: bool):
    from rich.console import Console

    from bodynet_cli.pipelines.batch import progress_bar

    return progress_bar("[bold]{task.description}", console=Console(stderr=True), enabled=enabled,
                        fields=("loss {task.fields[loss]:.4g}", "{task.fields[rate]:.1f} samples/s"))


def publish_final(result: StageResult, opts: TrainOptions, ctx: DistContext, stages_done: list[str]) -> Path:
    """Copy the last finished stage's model into ``RUN_DIR/final`` (atomically swapped in). The weights are
    copied byte for byte (re-saving would not give the same bytes: safetensors orders its metadata freely)."""
    from bodynet_cli.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE
    from bodynet_cli.pipelines.train.state import commit_dir, swap_in

    final = opts.out_dir / "final"
    if ctx.is_main:
        load_checkpoint(result.checkpoint)  # validates before publishing
        meta = json.loads((result.checkpoint / CONFIG_FILE).read_text())
        meta["info"] = {**meta.get("info", {}), "stages": stages_done}
        tmp = commit_dir(final)
        atomic_write_bytes(tmp / WEIGHTS_FILE, (result.checkpoint / WEIGHTS_FILE).read_bytes())
        atomic_write_bytes(tmp / CONFIG_FILE, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
        swap_in(final)
    return final


def train(opts: TrainOptions, ctx: DistContext, log=print) -> list[StageResult]:
    """Run ``opts.stages`` in order; each starts from the previous stage's final weights."""
    check_run_settings(opts, ctx)
    results = []
    for spec in opts.stages:
        results.append(train_stage(spec, opts, ctx, log))
    done = [r.stage for r in results]
    publish_final(results[-1], opts, ctx, done)
    return results


def train_processes(opts: TrainOptions, log=print) -> tuple[list[StageResult], bool]:
    """The ``train`` pipeline as one call: join the torchrun process group when there is one (each process
    on its own device), train ``opts.stages``, leave the group. ``log`` is called in the main process only.
    Returns (the stages' results, whether this is the main process)."""
    from dataclasses import replace

    from bodynet_cli.distributed import init_distributed, local_device, shutdown_distributed

    ctx = init_distributed(opts.device)
    try:
        opts = replace(opts, device=local_device(opts.device, ctx))
        return train(opts, ctx, log if ctx.is_main else (lambda msg: None)), ctx.is_main
    finally:
        shutdown_distributed(ctx)
