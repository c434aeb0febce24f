"""The one rank-statistics module: plain and weighted (bootstrap) Spearman / Kendall against scipy on
the expanded lists, with ties, repeats and failed (NaN) values."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.rankcorr import kendall, kendall_rows, rankdata, spearman, spearman_rows

stats = pytest.importorskip("scipy.stats")


def _case(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 30))
    x = rng.integers(0, 5, n).astype(float) if seed % 2 else rng.normal(size=n)
    y = rng.integers(0, 4, n).astype(float)
    x[rng.integers(0, n)] = np.nan  # a failed proxy value: lowest
    idx = rng.integers(0, n, (4, n))  # 4 resamples with replacement
    w = np.stack([np.bincount(i, minlength=n) for i in idx]).astype(float)
    return x, y, idx, w


@pytest.mark.parametrize("seed", range(12))
def test_weighted_rows_equal_scipy_on_the_expanded_resamples(seed):
    x, y, idx, w = _case(seed)
    low = np.where(np.isnan(x), -1e300, x)  # NaN ranks lowest
    rho, tau = spearman_rows(x, y, w), kendall_rows(x, y, w)
    for b, i in enumerate(idx):
        want_rho = stats.spearmanr(low[i], y[i]).statistic
        want_tau = stats.kendalltau(low[i], y[i]).statistic
        np.testing.assert_allclose([rho[b], tau[b]], [want_rho, want_tau], atol=1e-10, equal_nan=True)


def test_plain_forms():
    x, y, _, _ = _case(3)
    low = np.where(np.isnan(x), -1e300, x)
    np.testing.assert_array_equal(rankdata(x), stats.rankdata(low))
    assert spearman(x, y) == pytest.approx(stats.spearmanr(low, y).statistic, abs=1e-12)
    assert kendall(x, y) == pytest.approx(stats.kendalltau(low, y).statistic, abs=1e-12)
    # undefined without spread: Spearman 0.0 (the latency contract), Kendall NaN
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0 and np.isnan(kendall([1, 1, 1], [1, 2, 3]))
    assert spearman([1, 2, 3, 4], [2, 4, 6, 9]) == pytest.approx(1.0)
