"""Small helpers that let one metric implementation serve numpy arrays and torch tensors."""

from __future__ import annotations

import math

import numpy as np


def is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def safe_div(num, den):
    """``num / den`` as floats, NaN where ``den == 0`` (no warnings); numpy or torch."""
    if is_torch(num) or is_torch(den):
        import torch

        num, den = torch.as_tensor(num), torch.as_tensor(den)
        num = num.double() if not num.is_floating_point() else num
        ok = den != 0
        return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.full_like(num, float("nan")))
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den)
    ok = den != 0
    return np.where(ok, num / np.where(ok, den, 1), np.nan)


def nanmean_last(x):
    """Mean over the last axis ignoring NaN; NaN where a row has no finite value (no warnings)."""
    if is_torch(x):
        import torch

        valid = ~torch.isnan(x)
        return safe_div(torch.where(valid, x, torch.zeros_like(x)).sum(-1), valid.sum(-1))
    valid = ~np.isnan(x)
    return safe_div(np.where(valid, x, 0.0).sum(-1), valid.sum(-1))


def mean_finite(values) -> float:
    """The mean of the finite values of a list or 1-D array of per-sample scores, NaN when there are none
    (a score that could not be computed is NaN and is left out, not counted as 0)."""
    a = np.asarray(values, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else math.nan


def norm_last(x):
    """Euclidean norm over the last axis; in torch its gradient at a zero vector is 0, not NaN."""
    if is_torch(x):
        import torch

        return torch.linalg.vector_norm(x, dim=-1)
    return np.linalg.norm(x, axis=-1)
