import numpy as np
import pytest

from explorer.pareto import ParetoError, dominates, pareto_front, pareto_ranks, staircase


def brute_ranks(x, dirs):
    x = np.array(x, float)
    for k, d in enumerate(dirs):
        if d == "max":
            x[:, k] = -x[:, k]
    n = len(x)
    ranks = np.full(n, -1)
    left = set(range(n))
    r = 0
    while left:
        front = [
            i for i in left if not any(np.all(x[j] <= x[i]) and np.any(x[j] < x[i]) for j in left if j != i)
        ]
        for i in front:
            ranks[i] = r
        left -= set(front)
        r += 1
    return ranks


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("dirs_kind", ["min", "mixed"])
def test_ranks_match_brute_force(m, dirs_kind):
    rng = np.random.default_rng(m)
    for _ in range(5):
        # integer grid: many ties and exact duplicates
        x = rng.integers(0, 6, size=(60, m)).astype(float)
        dirs = ["min"] * m if dirs_kind == "min" else ["min", "max", "min"][:m]
        np.testing.assert_array_equal(pareto_ranks(x, dirs), brute_ranks(x, dirs))


def test_front_two_metrics_known():
    # latency (min) vs accuracy (max)
    pts = [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.9), (2, 0.7), (5, 0.9)]
    ranks = pareto_ranks(pts, ["min", "max"])
    assert list(ranks) == [0, 0, 1, 0, 0, 1]
    assert list(pareto_front(pts, ["min", "max"])) == [0, 1, 4, 3]


def test_missing_values_get_minus_one():
    pts = [(1, 2), (np.nan, 1), (2, 1)]
    assert list(pareto_ranks(pts, ["min", "min"])) == [0, -1, 0]


def test_bad_input():
    with pytest.raises(ParetoError):
        pareto_ranks([(1, 2)], ["min"])
    with pytest.raises(ParetoError):
        pareto_ranks([(1, 2)], ["min", "up"])


def test_dominates_and_staircase():
    assert dominates((1, 5), (2, 4), ["min", "max"])
    assert not dominates((1, 5), (1, 5), ["min", "max"])
    sx, sy = staircase(np.array([3.0, 1.0]), np.array([0.9, 0.5]))
    assert list(sx) == [1.0, 3.0, 3.0] and list(sy) == [0.5, 0.5, 0.9]


def test_ten_thousand_points_consistent():
    rng = np.random.default_rng(0)
    x = rng.random((10_000, 2))
    r = pareto_ranks(x, ["min", "max"])
    front = x[r == 0]
    # no front point dominates another, and every rank-1 point is dominated by some front point
    for p in front[:50]:
        assert not any(dominates(q, p, ["min", "max"]) for q in front)
    for p in x[r == 1][:20]:
        assert any(dominates(q, p, ["min", "max"]) for q in front)
