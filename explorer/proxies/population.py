"""Scores that exist only within a population: AZ-NAS and the ensemble rank their parts over the
networks scored together (a batch, a search, the candidates table), and a single network is
placed by its percentile in a reference sample of its space.

Every aggregate is AZ-NAS' non-linear rank aggregation (`rank_aggregate.log_rank_sum`): sum over
columns of log(rank / m). A network whose value failed counts as the lowest in that column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from explorer.proxies.rank_aggregate import log_rank_sum, rankdata
from explorer.proxies.registry import ProxyValue, get_proxy


def _column(values: Sequence[ProxyValue], key: str) -> list[float]:
    out = []
    for v in values:
        x = v.parts.get(key) if not v.message else None
        out.append(float(x) if isinstance(x, (int, float)) and math.isfinite(x) else math.nan)
    return out


def population_scores(name: str, values: Sequence[ProxyValue]) -> list[float | None]:
    """The score of each network of a population for proxy `name` (None where it failed).

    Plain proxies give their own score back. AZ-NAS: log-rank sum of its components. The ensemble:
    log-rank sum of its members' scores, a population member (AZ-NAS) entering with its own
    aggregate over the same population.
    """
    p = get_proxy(name)
    if not p.population:
        return [v.score if not v.message else None for v in values]
    if p.members:
        columns = []
        for m in p.members:
            if get_proxy(m).population:
                sub = [_sub_value(m, v) for v in values]
                columns.append([math.nan if s is None else s for s in population_scores(m, sub)])
            else:
                columns.append(_column(values, m))
    else:
        columns = [_column(values, c) for c in p.components]
    agg = log_rank_sum(columns)
    return [None if v.message else float(a) for v, a in zip(values, agg)]


def _sub_value(member: str, v: ProxyValue) -> ProxyValue:
    """A population member's value as the ensemble stores it (`member:part` keys)."""
    prefix = f"{member}:"
    parts = {k[len(prefix) :]: x for k, x in v.parts.items() if k.startswith(prefix)}
    return ProxyValue(member, None, parts, message=v.message)


def percentile(name: str, value: ProxyValue, reference: Sequence[ProxyValue]) -> float | None:
    """Where one network stands among a reference sample, in percent (100 = above all of them).

    For a population proxy the network is aggregated together with the reference (the sample is
    its population); a plain proxy compares scores directly. None when the value failed or the
    reference is empty."""
    if value.message or not reference:
        return None
    scores = population_scores(name, [*reference, value])
    mine = scores[-1]
    if mine is None:
        return None
    ref = np.array([math.nan if s is None else s for s in scores[:-1]], dtype=np.float64)
    ranks = rankdata(np.append(ref, mine))
    m = len(ranks)
    return float(100.0 * (ranks[-1] - 1) / (m - 1)) if m > 1 else 100.0
