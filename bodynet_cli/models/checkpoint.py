"""Checkpoints: a folder with ``model.safetensors`` (weights) and ``config.json`` (architecture + info).

Loading never unpickles (safetensors holds raw tensors) and checks every tensor's name and shape
against the architecture the config describes before anything is loaded into the model.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.npz import atomic_write_bytes
from bodynet_cli.models.config import ModelConfig

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "bodynet-checkpoint"
FORMAT_VERSION = 1
# The checkpoint ``predict`` uses without ``--checkpoint`` (``info`` shows it).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "assets" / "checkpoints" / "proxy"


def resolve_checkpoint(checkpoint: str | os.PathLike | None) -> Path:
    """The checkpoint folder to load: ``checkpoint`` when given, else the bundled default (``BodyNetError``
    when it is not installed)."""
    if checkpoint is not None:
        return Path(checkpoint)
    if not (DEFAULT_CHECKPOINT / WEIGHTS_FILE).is_file():
        raise BodyNetError(
            f"no default checkpoint is installed (looked in {DEFAULT_CHECKPOINT}); pass --checkpoint DIR, a "
            "folder with model.safetensors and config.json (e.g. one written by `bodynet train`)"
        )
    return DEFAULT_CHECKPOINT


@dataclass
class LoadedCheckpoint:
    """model: a ``BodyNet`` in eval mode; config: its ``ModelConfig``; info: training data, metrics etc.
    as saved; sha256: hex digest of ``model.safetensors``."""

    model: object
    config: ModelConfig
    info: dict
    sha256: str


def save_checkpoint(directory: str | os.PathLike, model, config: ModelConfig, info: dict | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (each atomically); returns the folder."""
    from safetensors.torch import save

    directory = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = save(state, metadata={"format": FORMAT, "config_hash": config.hash()})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": config.to_dict(), "info": info or {},
            "weights_sha256": hashlib.sha256(weights).hexdigest()}  # fmt: skip
    atomic_write_bytes(directory / WEIGHTS_FILE, weights)
    atomic_write_bytes(directory / CONFIG_FILE, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    return directory


def _paths(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / WEIGHTS_FILE, path / CONFIG_FILE
    if path.suffix == ".safetensors":
        return path, path.with_name(CONFIG_FILE)
    if path.name == CONFIG_FILE:
        return path.with_name(WEIGHTS_FILE), path
    raise BodyNetError(f"{path}: not a checkpoint; give a folder with {WEIGHTS_FILE} and {CONFIG_FILE}")


def load_checkpoint(path: str | os.PathLike, device="cpu") -> LoadedCheckpoint:
    """Load a checkpoint folder (or its ``model.safetensors``); raises ``BodyNetError`` for a missing,
    truncated, corrupt or mismatched checkpoint."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load

    from bodynet_cli.models.bodynet import BodyNet

    path = Path(path)
    if not path.exists():
        raise BodyNetError(f"{path}: no such checkpoint; give a folder with {WEIGHTS_FILE} and {CONFIG_FILE}")
    weights_path, config_path = _paths(path)
    for p in (weights_path, config_path):
        if not p.is_file():
            raise BodyNetError(f"{p}: missing; a checkpoint folder needs both {WEIGHTS_FILE} and {CONFIG_FILE}")
    try:
        meta = json.loads(config_path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError("no 'format': 'bodynet-checkpoint' entry")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise BodyNetError(f"{config_path}: checkpoint format {meta['format_version']} is newer than this "
                               f"bodynet reads ({FORMAT_VERSION}); upgrade bodynet")  # fmt: skip
        config = ModelConfig.from_dict(meta["config"])
    except BodyNetError as e:
        raise BodyNetError(f"{config_path}: {e}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise BodyNetError(f"{config_path}: not a bodynet checkpoint config ({e})") from None

    data = weights_path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    try:
        state = load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise BodyNetError(f"{weights_path}: unreadable, it may be truncated or corrupt ({e})") from None
    if meta.get("weights_sha256") not in (None, sha):
        raise BodyNetError(f"{weights_path}: its sha256 does not match {config_path.name}; the two files come from "
                           "different checkpoints or the weights were modified")  # fmt: skip

    model = BodyNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {what} (e.g. {keys[0]})")
        raise BodyNetError(f"{weights_path}: does not match the architecture in {config_path.name} "
                           f"(config {config.name!r}): {', '.join(parts)}")  # fmt: skip
    for k, v in state.items():
        if v.dtype != expected[k].dtype and not (v.is_floating_point() and expected[k].is_floating_point()):
            raise BodyNetError(f"{weights_path}: tensor {k} has dtype {v.dtype}, expected {expected[k].dtype}")
    model.load_state_dict(state, strict=True)
    model.to(torch.device(device) if isinstance(device, str) else device).eval()
    return LoadedCheckpoint(model=model, config=config, info=meta.get("info", {}), sha256=sha)
