"""Resumable training state without pickle: the checkpoint folder plus ``resume.safetensors`` (the
optimiser's tensors and the torch RNG states) and ``resume.json`` (everything else).

A checkpoint folder is written whole into ``checkpoint.tmp/`` and then swapped in by renames
(``checkpoint`` -> ``checkpoint.old``, ``checkpoint.tmp`` -> ``checkpoint``), with ``resume.json`` written
last as the commit mark, so a kill at any instant leaves one complete checkpoint to resume from.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.npz import atomic_write_bytes
from bodynet_cli.models.checkpoint import save_checkpoint
from bodynet_cli.models.config import ModelConfig

RESUME_TENSORS = "resume.safetensors"
RESUME_JSON = "resume.json"


@dataclass
class ResumeState:
    """Where a stage stands. step: optimiser steps done; epoch, position: the data sampler's place
    (the next batch is batch ``position`` of ``epoch``); finished: the stage ran all its steps;
    metrics: the latest validation; samples_per_s: the measured training throughput; loss_weights: the
    stage's multi-task weights (measured once at its start when balanced, so a resume keeps them)."""

    stage: str
    step: int
    epoch: int
    position: int
    total_steps: int
    finished: bool = False
    metrics: dict = field(default_factory=dict)
    samples_per_s: float | None = None
    loss_weights: dict | None = None


def flatten_optimizer_state(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """``optimizer.state_dict()`` -> (tensors named ``state.<param>.<key>``, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict] = {}
    for pid, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{key}"] = value.detach().cpu().clone()  # a snapshot, not a live view
            else:
                plain.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "plain_state": plain}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of ``flatten_optimizer_state``."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, entry in meta["plain_state"].items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


def capture_rng() -> tuple[dict[str, torch.Tensor], dict]:
    """The torch (CPU and CUDA), numpy and python RNG states as (tensors, JSON-able)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy())
    version, py_state, py_gauss = random.getstate()
    plain = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)], "python": [version, list(py_state), py_gauss]}
    return tensors, plain


def restore_rng(tensors: dict[str, torch.Tensor], plain: dict) -> None:
    """Inverse of ``capture_rng``."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, gauss = plain["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().view(np.uint32), pos, has_gauss, gauss))
    version, py_state, py_gauss = plain["python"]
    random.setstate((version, tuple(py_state), py_gauss))


def commit_dir(final: Path) -> Path:
    """The folder to write a new version of ``final`` into (emptied first)."""
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def swap_in(final: Path) -> None:
    """Replace ``final`` by its completely written ``.tmp`` sibling, by renames only."""
    tmp, old = final.with_name(final.name + ".tmp"), final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def recover(final: Path) -> Path | None:
    """The newest complete version of a checkpoint folder after a crash, or None.

    Complete = has ``resume.json``. A crash between the two renames of ``swap_in`` leaves only ``.old``.
    """
    for cand in (final, final.with_name(final.name + ".old")):
        if (cand / RESUME_JSON).is_file():
            return cand
    return None


def save_training_checkpoint(directory: Path, model: torch.nn.Module, config: ModelConfig, info: dict,
                             optimizer: torch.optim.Optimizer, state: ResumeState) -> None:
    """Atomically replace ``directory`` with the model checkpoint (``models.checkpoint`` format, ``info``
    recorded in its ``config.json``) and the resume state."""
    from safetensors.torch import save

    tmp = commit_dir(directory)
    save_checkpoint(tmp, model, config, info)
    opt_tensors, opt_plain = flatten_optimizer_state(optimizer.state_dict())
    rng_tensors, rng_plain = capture_rng()
    atomic_write_bytes(tmp / RESUME_TENSORS, save({**opt_tensors, **rng_tensors}))
    doc = {"state": asdict(state), "optimizer": opt_plain, "rng": rng_plain}
    atomic_write_bytes(tmp / RESUME_JSON, (json.dumps(doc, indent=1) + "\n").encode())  # the commit mark
    swap_in(directory)


@dataclass
class LoadedResume:
    """A resume point: the resume state, the optimiser ``state_dict`` and the RNG states to restore."""

    state: ResumeState
    optimizer: dict
    rng_tensors: dict[str, torch.Tensor]
    rng_plain: dict


def load_resume(directory: Path) -> LoadedResume:
    """Read ``resume.json`` + ``resume.safetensors`` of a checkpoint folder (never unpickles)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        doc = json.loads((directory / RESUME_JSON).read_text())
        tensors = load((directory / RESUME_TENSORS).read_bytes())
        state = ResumeState(**doc["state"])
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as e:
        raise BodyNetError(f"{directory}: unreadable resume state ({e}); delete this folder to restart the stage") \
            from None
    opt = {k: v for k, v in tensors.items() if k.startswith("state.")}
    rng = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    return LoadedResume(state, unflatten_optimizer_state(opt, doc["optimizer"]), rng, doc["rng"])
