"""The NaN-aware means of the metrics: a batched one (per row) and a per-sample-list one."""

import math

import numpy as np
import torch

from bodynet_cli.metrics.arrays import mean_finite, nanmean_last


def test_mean_finite_against_a_loop(rng):
    values = rng.random(50)
    values[rng.random(50) < 0.3] = np.nan
    values[3] = np.inf  # a diverged score is left out too
    kept = [v for v in values.tolist() if math.isfinite(v)]
    assert math.isclose(mean_finite(values), sum(kept) / len(kept), rel_tol=1e-12)
    assert mean_finite(values.tolist()) == mean_finite(values)
    assert math.isnan(mean_finite([])) and math.isnan(mean_finite([np.nan, np.nan]))


def test_nanmean_last_rows_numpy_and_torch(rng):
    x = rng.random((4, 6))
    x[x < 0.3] = np.nan
    x[2] = np.nan
    want = [float(np.mean([v for v in row if not math.isnan(v)])) if not np.isnan(row).all() else math.nan
            for row in x]  # fmt: skip
    np.testing.assert_allclose(nanmean_last(x), want, rtol=1e-12)
    np.testing.assert_allclose(nanmean_last(torch.from_numpy(x)).numpy(), want, rtol=1e-12)
