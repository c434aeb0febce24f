"""Rank statistics in one place: average ranks, Spearman rho and Kendall tau-b.

The latency metrics (predicted vs measured), the proxies' rank aggregation and the proxies' trust
figures all use these. Each statistic also has a batched, weighted form (`*_rows`): row b of the
weights counts how often each network occurs in bootstrap resample b, so a resample with repeats is
scored exactly as its expanded list would be (copies of one network tie in both variables) without
ever expanding it, and 1,000 resamples cost a few numpy passes instead of 1,000 Python calls.

NaN ranks lowest, tied with -inf (a proxy that failed on a network says "worst", as the proxies'
rank aggregation has always done).
"""

from __future__ import annotations

import math

import numpy as np


def _rows(x, w) -> tuple[np.ndarray, np.ndarray]:
    """x and w as (B, n) float arrays (x broadcast to w's rows), NaN in x replaced by -inf."""
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    x = np.asarray(x, dtype=np.float64)
    x = np.broadcast_to(x, w.shape) if x.ndim == 1 else np.atleast_2d(x)
    if x.shape != w.shape:
        raise ValueError(f"values {x.shape} and weights {w.shape} differ in shape")
    return np.where(np.isnan(x), -np.inf, x), w


def _groups(new: np.ndarray, ws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per position of sorted rows: its tie group's id (0.. within the row) and the group's weight.
    `new[b, k]` is True where position k starts a group."""
    b, n = ws.shape
    gid = np.cumsum(new, axis=1) - 1
    flat = (gid + n * np.arange(b)[:, None]).ravel()
    total = np.bincount(flat, weights=ws.ravel(), minlength=b * n).reshape(b, n)
    return gid, total


def _tied_pairs(new: np.ndarray, ws: np.ndarray) -> np.ndarray:
    """sum over tie groups of G (G - 1) / 2, G a group's total weight: pairs tied in the key."""
    _, total = _groups(new, ws)
    return (total * (total - 1) / 2).sum(axis=1)


def _starts(*sorted_keys: np.ndarray) -> np.ndarray:
    first = np.ones((sorted_keys[0].shape[0], 1), dtype=bool)
    change = np.zeros((sorted_keys[0].shape[0], sorted_keys[0].shape[1] - 1), dtype=bool)
    for s in sorted_keys:
        change |= s[:, 1:] != s[:, :-1]
    return np.concatenate([first, change], axis=1)


def weighted_ranks(x, w) -> np.ndarray:
    """(B, n) average ranks from 1 of each network within each weighted row: the rank its copies
    share in the expanded list (networks of weight 0 get a rank that counts for nothing)."""
    x, w = _rows(x, w)
    if x.shape[1] == 0:
        return np.zeros(x.shape)
    order = np.argsort(x, axis=1, kind="stable")
    xs, ws = np.take_along_axis(x, order, 1), np.take_along_axis(w, order, 1)
    gid, total = _groups(_starts(xs), ws)
    below = np.cumsum(total, axis=1) - total  # weight of the groups before each group
    rank_sorted = np.take_along_axis(below + (total + 1) / 2, gid, 1)
    ranks = np.empty_like(rank_sorted)
    np.put_along_axis(ranks, order, rank_sorted, 1)
    return ranks


def rankdata(a) -> np.ndarray:
    """Average ranks from 1 (ties share their mean rank), as scipy.stats.rankdata; NaN lowest."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"ranks need a 1-D sequence, got shape {a.shape}")
    return weighted_ranks(a, np.ones((1, len(a))))[0]


def spearman_rows(x, y, w) -> np.ndarray:
    """Spearman rho of x against y in each weighted row (the Pearson correlation of their ranks
    over the expanded list); NaN where either side has no spread."""
    x, w = _rows(x, w)
    rx, ry = weighted_ranks(x, w), weighted_ranks(y, w)
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = rx - (w * rx).sum(axis=1, keepdims=True) / total
        dy = ry - (w * ry).sum(axis=1, keepdims=True) / total
        den = np.sqrt((w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1))
        rho = (w * dx * dy).sum(axis=1) / den
    return np.where(den > 1e-12 * np.maximum(total[:, 0], 1) ** 3, rho, np.nan)


def kendall_rows(x, y, w) -> np.ndarray:
    """Kendall tau-b (ties corrected) of x against y in each weighted row, O(B n log n): one
    Fenwick tree over y's ranks per row, the rows advanced together. NaN where either side has no
    spread."""
    x, w = _rows(x, w)
    y, _ = _rows(y, w)
    b, n = x.shape
    if n < 2:
        return np.full(b, np.nan)
    order = np.lexsort((y, x), axis=-1)  # by x, ties in x by y: such pairs never count discordant
    xs, ys, ws = (np.take_along_axis(a, order, 1) for a in (x, y, w))
    _, yr = np.unique(ys, return_inverse=True)
    yr = yr.reshape(b, n) + 1  # ranks of y from 1 (equal y, equal rank)
    k_max = int(yr.max())
    tree = np.zeros((b, k_max + 2))  # index 0 stays 0, k_max + 1 is a sink for overshoot
    rows = np.arange(b)
    steps = k_max.bit_length() + 1
    discordant, seen = np.zeros(b), np.zeros(b)
    for j in range(n):
        r, wj = yr[:, j], ws[:, j]
        k, not_above = r.copy(), np.zeros(b)
        for _ in range(steps):
            not_above += tree[rows, k]
            k -= k & -k
        discordant += wj * (seen - not_above)  # earlier ones with a strictly larger y
        k = r.copy()
        for _ in range(steps):
            tree[rows, np.minimum(k, k_max + 1)] += wj
            k += k & -k
        seen += wj
    total = ws.sum(axis=1)
    n0 = total * (total - 1) / 2
    tx = _tied_pairs(_starts(xs), ws)
    ty = _tied_pairs(_starts(np.sort(y, axis=1)), np.take_along_axis(w, np.argsort(y, axis=1), 1))
    txy = _tied_pairs(_starts(xs, ys), ws)
    den = np.sqrt(np.maximum(n0 - tx, 0) * np.maximum(n0 - ty, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (n0 - tx - ty + txy - 2 * discordant) / den
    return np.where(den > 0, tau, np.nan)


def spearman(pred, true) -> float:
    """Spearman rho with average ranks for ties; 0.0 when either side has no spread."""
    p = np.asarray(pred, dtype=np.float64)
    if len(p) < 2:
        return 0.0
    rho = float(spearman_rows(p, true, np.ones((1, len(p))))[0])
    return 0.0 if math.isnan(rho) else rho


def kendall(pred, true) -> float:
    """Kendall tau-b (ties corrected), O(n log n); NaN when either side has no spread."""
    p = np.asarray(pred, dtype=np.float64)
    return float(kendall_rows(p, true, np.ones((1, len(p))))[0])
