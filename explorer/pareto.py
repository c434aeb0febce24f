"""Pareto fronts and non-dominated-sort ranks over any number of metrics (each minimised or maximised).

Rank 0 is the Pareto front, rank 1 the front once rank 0 is removed, and so on (NSGA-II's fronts).
Points with a missing (NaN/None) value in any metric get rank -1: they are not comparable.
Two metrics use an O(n log n) sweep (10,000 points in a few ms, fast enough to recolour a plot on
every axis change); more metrics use a longest-dominating-chain pass vectorised per point.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

import numpy as np

from .errors import ExplorerError

MIN, MAX = "min", "max"


class ParetoError(ExplorerError):
    pass


def _as_min_matrix(values, directions: Sequence[str]) -> np.ndarray:
    """(n, m) float array with every column turned into a quantity to minimise."""
    x = np.array(values, dtype=float)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2:
        raise ParetoError(f"values must be an (n, m) table, got shape {x.shape}")
    if len(directions) != x.shape[1]:
        raise ParetoError(f"{x.shape[1]} metrics but {len(directions)} directions")
    for k, d in enumerate(directions):
        if d not in (MIN, MAX):
            raise ParetoError(f"direction {d!r} must be 'min' or 'max'")
        if d == MAX:
            x[:, k] = -x[:, k]
    return x


def _ranks_2d(x: np.ndarray) -> np.ndarray:
    """Sweep in lexicographic order; each front's last member has the smallest second objective
    so far, and the fronts' last members increase, so a point's front is found by bisection."""
    n = len(x)
    order = np.lexsort((x[:, 1], x[:, 0]))
    ranks = np.empty(n, dtype=np.int64)
    lasts: list[tuple[float, float]] = []  # (f2, f1) of each front's last member
    for i in order:
        key = (x[i, 1], x[i, 0])
        k = bisect_left(lasts, key)  # first front whose last member does not dominate i
        if k == len(lasts):
            lasts.append(key)
        else:
            lasts[k] = key
        ranks[i] = k
    return ranks


def _ranks_nd(x: np.ndarray) -> np.ndarray:
    """Front index = length of the longest chain of dominators; in lexicographic order every
    dominator of a point comes before it."""
    n = len(x)
    order = np.lexsort(x.T[::-1])
    xs = x[order]
    ranks_sorted = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        prev = xs[:i]
        le = np.all(prev <= xs[i], axis=1)
        lt = np.any(prev < xs[i], axis=1)
        dom = le & lt
        if dom.any():
            ranks_sorted[i] = ranks_sorted[:i][dom].max() + 1
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = ranks_sorted
    return ranks


def pareto_ranks(values, directions: Sequence[str]) -> np.ndarray:
    """Non-dominated-sort rank of each row of `values` ((n, m), m >= 1); -1 where a value is missing."""
    x = _as_min_matrix(values, directions)
    n = x.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    ok = np.all(np.isfinite(x), axis=1)
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return out
    xs = x[idx]
    if xs.shape[1] == 1:
        uniq, inv = np.unique(xs[:, 0], return_inverse=True)
        out[idx] = inv.reshape(-1)
    elif xs.shape[1] == 2:
        out[idx] = _ranks_2d(xs)
    else:
        out[idx] = _ranks_nd(xs)
    return out


def pareto_front(values, directions: Sequence[str]) -> np.ndarray:
    """Indices of the rank-0 rows, ordered by the first metric (then the second)."""
    ranks = pareto_ranks(values, directions)
    idx = np.flatnonzero(ranks == 0)
    if len(idx) == 0:
        return idx
    x = np.asarray(values, dtype=float).reshape(len(ranks), -1)[idx]
    order = np.lexsort(x.T[::-1])
    return idx[order]


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether point `a` dominates `b` (no worse in every metric, better in one)."""
    x = _as_min_matrix([a, b], directions)
    return bool(np.all(x[0] <= x[1]) and np.any(x[0] < x[1]))


def staircase(
    x: np.ndarray, y: np.ndarray, x_dir: str = MIN, y_dir: str = MAX
) -> tuple[np.ndarray, np.ndarray]:
    """The front drawn as steps (the region it dominates), from front points of a 2-D plot."""
    order = np.argsort(x if x_dir == MIN else -x, kind="stable")
    xs, ys = np.asarray(x, float)[order], np.asarray(y, float)[order]
    if len(xs) < 2:
        return xs, ys
    sx = np.repeat(xs, 2)[1:]
    sy = np.repeat(ys, 2)[:-1]
    return sx, sy
