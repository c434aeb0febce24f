"""How well predicted latencies agree with measured ones, computed in one place.

`accuracy` is the one computation (Spearman rho, Kendall tau-b on request: both from
`explorer.rankcorr`, the rank statistics the proxies' trust figures use too; RMSE in ms, mean
absolute percentage error, share within +-10 % and +-5 % of measured). Two stored contracts name
the figures differently, and each keeps its names:

- `accuracy` itself: ``n, spearman, rmse_ms, mape, within_10, within_5`` (``spearman`` None
  when undefined): calibration records in device files (``calibration_by_space``), the
  ``latency profile`` output and ``benchmarks/latency_local_eval.py``.
- `protocol_metrics`: ``spearman, rmse_ms, within_10pct, within_5pct, n`` (``spearman`` 0.0
  when undefined): ``latency eval``, the accuracy recorded in shipped and adapted devices'
  provenance, the noise ceilings and ``benchmarks/latency_protocols.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from explorer.rankcorr import kendall, rankdata, spearman

__all__ = ["accuracy", "kendall", "mean_metrics", "protocol_metrics", "rankdata", "spearman"]

PROTOCOL_KEYS = ("spearman", "rmse_ms", "within_10pct", "within_5pct")


def accuracy(pred: Sequence[float], true: Sequence[float], *, with_kendall: bool = False) -> dict:
    """Spearman rho, RMSE (ms), MAPE and the share within +-10 % and +-5 % of measured (rounded to
    4 digits; Spearman and Kendall None where undefined, i.e. fewer than 2 distinct values)."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    rel = np.abs(p - t) / np.maximum(np.abs(t), 1e-12)
    spread = len(p) > 1 and np.ptp(p) > 0 and np.ptp(t) > 0
    rho = spearman(p, t) if spread else math.nan
    out = {
        "n": int(len(p)),
        "spearman": None if math.isnan(rho) else round(rho, 4),
        "rmse_ms": round(float(np.sqrt(np.mean((p - t) ** 2))), 4),
        "mape": round(float(rel.mean()), 4),
        "within_10": round(float(np.mean(rel <= 0.10)), 4),
        "within_5": round(float(np.mean(rel <= 0.05)), 4),
    }
    if with_kendall:
        tau = kendall(p, t) if spread else math.nan
        out["kendall"] = None if math.isnan(tau) else round(tau, 4)
    return out


def protocol_metrics(pred, true) -> dict:
    """`accuracy` under the evaluation contract's names (see the module doc)."""
    a = accuracy(pred, true)
    return {
        "spearman": a["spearman"] if a["spearman"] is not None else 0.0,
        "rmse_ms": a["rmse_ms"],
        "within_10pct": a["within_10"],
        "within_5pct": a["within_5"],
        "n": a["n"],
    }


def mean_metrics(records: Iterable[dict], keys: Sequence[str] = PROTOCOL_KEYS) -> dict:
    """The mean of each of `keys` over several runs' `protocol_metrics`, with their `n` and count."""
    records = list(records)
    out = {k: round(float(np.mean([m[k] for m in records])), 4) for k in keys}
    out["n"] = records[0]["n"]
    out["runs"] = len(records)
    return out
