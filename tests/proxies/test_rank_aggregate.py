"""Log-rank aggregation: scipy-equal average ranks, AZ-NAS' sum of log(rank/m), its properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from explorer.proxies import ProxyError, log_rank_sum, rankdata

scores = st.lists(st.sampled_from([-math.inf, -1.0, 0.0, 0.5, 2.0, 3.5, 1e9]), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(scores)
def test_rankdata_equals_scipy_average_ranks(values):
    np.testing.assert_array_equal(rankdata(values), stats.rankdata(values))


def test_nan_ranks_lowest_with_minus_inf():
    r = rankdata([1.0, float("nan"), -math.inf, 3.0])
    assert list(r) == [3.0, 1.5, 1.5, 4.0]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda k: st.lists(st.lists(st.floats(-5, 5), min_size=k, max_size=k), min_size=1)
    )
)
def test_log_rank_sum_equals_formula_and_is_at_most_zero(rows):
    cols = [list(c) for c in zip(*rows)]
    m = len(rows)
    expected = sum(np.log(stats.rankdata(c) / m) for c in cols)
    got = log_rank_sum({f"p{i}": c for i, c in enumerate(cols)})
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert (got <= 0).all()


def test_log_punishes_one_bad_rank_more_than_a_rank_sum():
    """A: 2nd and 2nd; B: 1st and 3rd (same rank sum). The log prefers the balanced A."""
    cols = [[2.0, 3.0, 1.0], [2.0, 1.0, 3.0]]
    rank_sum = sum(stats.rankdata(c) for c in cols)
    assert rank_sum[0] == rank_sum[1] == 4.0
    agg = log_rank_sum(cols)
    assert agg[0] > agg[1]


def test_improving_one_score_never_lowers_that_member():
    base = [[0.1, 0.5, 0.3, 0.9], [3.0, 1.0, 2.0, 0.0]]
    before = log_rank_sum(base)[3]
    base[1][3] = 5.0
    assert log_rank_sum(base)[3] > before
    assert log_rank_sum([[1.0, 1.0, 1.0]]).tolist() == [math.log(2 / 3)] * 3  # all tied: mean rank 2


def test_errors_and_empty():
    with pytest.raises(ProxyError, match="at least one"):
        log_rank_sum({})
    with pytest.raises(ProxyError, match="same"):
        log_rank_sum([[1.0, 2.0], [1.0]])
    with pytest.raises(ProxyError, match="1-D"):
        rankdata([[1.0, 2.0]])
    assert log_rank_sum([[]]).size == 0
