"""Robust penalties for fitting residuals."""

from __future__ import annotations

import torch


def geman_mcclure(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure penalty of squared residuals, as in SMPLify: σ²·r² / (σ² + r²).

    sq: (...) squared residual lengths r² (same unit as σ²). sigma: σ, the residual length where the
    penalty reaches half its ceiling. Returns (...): ≈ r² for r ≪ σ, bounded by σ², so a few grossly
    wrong joints or stray voxels cannot drag the whole body.
    """
    s2 = sigma * sigma
    return s2 * sq / (s2 + sq)
