"""What the torch benchmarks share: the --threads and --device options and the device they give."""

from __future__ import annotations

import argparse


def add_torch_options(ap: argparse.ArgumentParser, device: str = "cpu") -> None:
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default=device)


def torch_device(args: argparse.Namespace):
    """Apply --threads; returns (device, sync), sync() waiting for queued GPU work (a no-op on CPU)."""
    import torch

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    return dev, (torch.cuda.synchronize if dev.type == "cuda" else (lambda: None))
