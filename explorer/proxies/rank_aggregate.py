"""Non-linear rank aggregation of several proxies over one population (AZ-NAS, CVPR 2024, eq. 12).

Each proxy ranks the m members of the population in ascending order (rank m = the highest score,
ties share their average rank, as `scipy.stats.rankdata` does); a member's aggregate is
sum over proxies of log(rank / m). The log punishes a member that any one proxy ranks low far
more than a plain rank sum would, so the winner must be good on every proxy. This is the
official AZ-NAS code (`np.log(stats.rankdata(score) / l)` summed over the proxies and FLOPs).

The aggregate only means something within the population it was computed on: adding or removing a
member changes everyone's ranks. NaN counts as the lowest score (the official code maps NaN
components to -inf before ranking); -inf and NaN tie with each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from explorer.proxies._model import ProxyError
from explorer.rankcorr import rankdata as _rankdata


def rankdata(values: Sequence[float]) -> np.ndarray:
    """Ascending ranks 1..m, ties given their average rank; NaN ranked lowest (with -inf)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ProxyError(f"ranks need a 1-D sequence of scores, got shape {v.shape}")
    return _rankdata(v)


def log_rank_sum(columns: Mapping[str, Sequence[float]] | Sequence[Sequence[float]]) -> np.ndarray:
    """sum over columns of log(rank / m) for each of the m members (higher is better, at most 0).

    `columns` holds one score sequence per proxy (a mapping name -> scores, or a list), all of the
    same length m; higher scores are better in every column.
    """
    cols = list(columns.values()) if isinstance(columns, Mapping) else list(columns)
    if not cols:
        raise ProxyError("rank aggregation needs at least one proxy column")
    m = len(cols[0])
    if any(len(c) != m for c in cols):
        raise ProxyError(f"every proxy column must score the same {m} members")
    total = np.zeros(m, dtype=np.float64)
    if m == 0:
        return total
    for c in cols:
        total += np.log(rankdata(c) / m)
    return total
