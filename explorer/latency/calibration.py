"""Calibrations of a layer-wise table: pooled ``ms ~ a * LUT + b``, and per op kind
``ms ~ b + sum_k s_k * LUT_k``.

Why not one scale: op kinds do not stray from their table entries alike inside a network. On
the 23-model zoo (benchmarks/latency_import_eval.py, quiet runs in BENCHMARKS.md) the fitted
scales were about 1.00 for dense convolutions, 1.07 for grouped / depthwise ones, 0.84 for
pooling and 1.2 for layout ops (permutes, shuffles), so one scale over the sum over-predicts a
pooling-heavy net while it under-predicts a depthwise-heavy one. Here each op kind
(`OpSpec.kind_of`: an op's category, convs split into dense and grouped) gets its own scale ``s_k``.

The fit, on a few whole-network measurements (LUT sum per kind, measured ms):
- relative least squares (each net weighted by 1 / measured ms: "within +-10 %" is relative);
- each kind's scale shrunk towards the pooled fit's single scale ``a`` (`fit_linear`) by
  a ridge whose strength is chosen by leave-one-out relative error over a small grid, the pooled
  fit itself (infinite strength) included, so few or uninformative nets give back the pooled fit;
- only kinds holding at least `MIN_SHARE` of some net's sum get a scale of their own; the rest,
  and kinds the fit never saw, use ``a``; a scale the data would make negative falls back to ``a``.

A record is the pooled record's ``{a, b}`` plus ``by_kind {kind: scale}``; ``by_kind`` empty or
absent is exactly ``a * LUT + b``, so files written before it read the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from explorer.errors import ExplorerError, FormatError

MIN_SHARE = 0.05  # a kind below this share of every net's LUT sum keeps the pooled scale
RIDGE_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, math.inf)  # inf: the pooled fit

Sample = tuple[Mapping[str, float], float]  # (LUT ms per kind, measured ms)


def fit_linear(x: Sequence[float], y: Sequence[float], relative: bool = True) -> tuple[float, float]:
    """Least squares y ~ a*x + b; `relative` weights each point by 1/y (minimises relative error,
    which is what "within +-10 %" scores). One point (or no spread in x): a pure scale, b = 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size == 0:
        raise ExplorerError("calibration needs at least one whole-network measurement")
    w = 1.0 / np.maximum(y, 1e-12) if relative else np.ones_like(y)
    if x.size == 1 or np.ptp(x) <= 1e-12 * max(abs(x).max(), 1e-12):
        a = float(np.sum(w * w * x * y) / max(np.sum(w * w * x * x), 1e-300))
        return a, 0.0
    A = np.stack([x * w, w], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y * w, rcond=None)
    if a <= 0:  # noise on a few nets of similar size: latency cannot fall as the LUT sum grows
        return float(np.sum(w * w * x * y) / max(np.sum(w * w * x * x), 1e-300)), 0.0
    return float(a), float(b)


def kind_sums(layers: Iterable[tuple[str, float | None]]) -> dict[str, float]:
    """LUT ms per op kind from (kind, ms) pairs (entries still missing count nothing)."""
    out: dict[str, float] = {}
    for kind, ms in layers:
        if ms is not None:
            out[kind] = out.get(kind, 0.0) + float(ms)
    return out


def apply(record: Mapping, sums: Mapping[str, float]) -> float:
    """The calibrated latency of a net with these per-kind LUT sums."""
    a, b = float(record["a"]), float(record["b"])
    scale = record.get("by_kind") or {}
    return b + sum(float(scale.get(k, a)) * v for k, v in sums.items())


def check_by_kind(by_kind, where: str) -> None:
    """A file's ``by_kind``: an object of kind -> finite scale >= 0."""
    if by_kind is None:
        return
    if not isinstance(by_kind, Mapping):
        raise FormatError(f"{where}: 'by_kind' must be an object of kind -> scale")
    for k, v in by_kind.items():
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        if not isinstance(k, str) or not ok:
            raise FormatError(f"{where}: 'by_kind' scale of {str(k)[:40]!r} must be a finite number >= 0")


def _pooled(samples: Sequence[Sample]) -> tuple[float, float]:
    return fit_linear([sum(s.values()) for s, _ in samples], [y for _, y in samples])


def _own_kinds(samples: Sequence[Sample]) -> list[str]:
    kinds: set[str] = set()
    for sums, _ in samples:
        total = sum(sums.values())
        kinds.update(k for k, v in sums.items() if total > 0 and v >= MIN_SHARE * total)
    return sorted(kinds)


def _solve(samples: Sequence[Sample], kinds: list[str], ridge: float) -> dict:
    """One ridge strength: {a, b, by_kind} (by_kind empty for the pooled fit)."""
    a0, b0 = _pooled(samples)
    if math.isinf(ridge) or not kinds:
        return {"a": a0, "b": b0, "by_kind": {}}
    y = np.array([t for _, t in samples], dtype=np.float64)
    w = 1.0 / np.maximum(y, 1e-12)
    own = list(kinds)
    while True:
        X = np.array([[s.get(k, 0.0) for k in own] for s, _ in samples], dtype=np.float64)
        rest = np.array([sum(v for k, v in s.items() if k not in own) for s, _ in samples])
        A = np.column_stack([X * w[:, None], w])
        t = (y - a0 * rest) * w
        # penalty rows: a scale's pull towards a0, in units of the relative error it moves on an
        # average net (so the strength means the same whatever a kind's share)
        c = np.maximum((X * w[:, None]).mean(axis=0), 1e-12)
        P = np.zeros((len(own), len(own) + 1))
        P[np.arange(len(own)), np.arange(len(own))] = math.sqrt(ridge * len(y)) * c
        pull = P[:, :-1].sum(axis=1) * a0
        sol, *_ = np.linalg.lstsq(np.vstack([A, P]), np.concatenate([t, pull]), rcond=None)
        scales, b = sol[:-1], float(sol[-1])
        if (scales >= 0).all() or not own:
            return {"a": a0, "b": b, "by_kind": {k: float(v) for k, v in zip(own, scales)}}
        own = [k for k, v in zip(own, scales) if v >= 0]  # a negative scale is noise: pooled scale


def _loo_error(samples: Sequence[Sample], kinds: list[str], ridge: float) -> float:
    errs = []
    for i, (sums, y) in enumerate(samples):
        rec = _solve([s for j, s in enumerate(samples) if j != i], kinds, ridge)
        errs.append(((apply(rec, sums) - y) / y) ** 2)
    return float(np.mean(errs))


def fit_by_kind(samples: Sequence[Sample]) -> dict:
    """Fit ``{a, b, by_kind, ridge, loo_rms_rel_error}`` on (per-kind LUT ms, measured ms) samples.

    Choosing a ridge by leave-one-out needs at least three more nets than kinds with a scale of
    their own; with fewer it is the pooled fit (``by_kind`` empty, ``ridge`` None), as it is
    where leave-one-out prefers it."""
    samples = [(dict(s), float(y)) for s, y in samples]
    if not samples:
        raise ExplorerError("calibration needs at least one whole-network measurement")
    kinds = _own_kinds(samples)
    if len(samples) < len(kinds) + 3:
        rec, ridge, loo = _solve(samples, kinds, math.inf), math.inf, None
    else:
        scored = [(_loo_error(samples, kinds, r), -r, r) for r in RIDGE_GRID]  # ties: the stronger
        loo, _, ridge = min(scored)
        rec = _solve(samples, kinds, ridge)
    return {
        "a": rec["a"],
        "b": rec["b"],
        "by_kind": rec["by_kind"],
        "ridge": None if math.isinf(ridge) else ridge,
        "loo_rms_rel_error": None if loo is None else math.sqrt(loo),
    }
