"""``bodynet info``: versions, devices and the default assets this installation will use."""

from __future__ import annotations

import platform

import typer
from rich.table import Table

from bodynet_cli import __version__
from bodynet_cli.cli.common import console, user_errors


@user_errors
def info() -> None:
    """Show versions, the compute devices found, and the default assets in use."""
    import numpy
    import torch

    table = Table(show_header=False, box=None)
    table.add_row("bodynet", __version__)
    table.add_row("python", platform.python_version())
    table.add_row("torch", torch.__version__)
    table.add_row("numpy", numpy.__version__)
    cuda = torch.cuda.is_available()
    gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else "none"
    table.add_row("cuda GPUs", gpus)
    table.add_row("cpu threads", str(torch.get_num_threads()))
    table.add_row("body model", _body_model_summary())
    table.add_row("checkpoint", _checkpoint_summary())
    console.print(table)
    raise typer.Exit(0)


def _body_model_summary() -> str:
    """The default body model (``$BODYNET_BODY_MODEL`` or the bundled one), or why it cannot be read."""
    from bodynet_cli.body.load import load_body_model
    from bodynet_cli.errors import BodyNetError

    try:
        data = load_body_model()
    except BodyNetError as e:
        return f"unreadable: {e}"
    return (f"{data.model_id}: {data.num_vertices} vertices, {len(data.faces)} faces, {data.num_betas} betas, "
            f"pose blend shapes {'yes' if data.posedirs is not None else 'no'} ({data.source})")


def _checkpoint_summary() -> str:
    """The checkpoint ``predict`` uses without ``--checkpoint``, or why there is none."""
    from bodynet_cli.errors import BodyNetError
    from bodynet_cli.models.checkpoint import load_checkpoint, resolve_checkpoint

    try:
        path = resolve_checkpoint(None)
        ck = load_checkpoint(path)
    except BodyNetError as e:
        return f"none usable: {e}"
    params = sum(p.numel() for p in ck.model.parameters()) / 1e6
    stage = ck.info.get("stage")
    trained = f", trained to {stage} step {ck.info.get('steps')}" if stage else ""
    return f"{ck.config.name}@{ck.sha256[:12]}: {params:.2f} M parameters{trained} ({path})"
