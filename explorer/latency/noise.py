"""How much of a measured latency column can any architecture-based predictor explain?

A predictor sees only the architecture. Whatever in a measurement does not follow from it (a
machine that drifts over a measurement session, a GPU that now and then runs in a slower state)
is noise that bounds every predictor's Spearman rho and share within +-10 %. Each ceiling here is
measured on the column itself, as the score of an *oracle* that knows each net's latency up to an
estimated noise term eta (prediction = measured * exp(-eta)):

- **replicate groups** (NB201): nets whose computation is the same on that runtime. Runtimes that
  execute every edge (HELP's columns) cost the same for the same *multiset* of ops; runtimes that
  prune the cell (LatBench) run the same *live graph*. eta = deviation from the group's in-sample
  median. A grouping counts only where the position of ops does not explain what is left
  (`positional_r2` below `MAX_POSITIONAL_R2`).
- **drift** (randomly sampled nets measured in row order, HELP's OFA subnets): the architecture
  part of a residual is independent from one net to the next, so what neighbours in measurement
  order share is the machine's drift. eta = mean cross-fitted residual of the 24 neighbours.
- **slow mode**: measurements > 10 % above a cross-fitted prediction. eta = their residual less
  what an architecture model of "being slow" expects for that net (the predictable part is not
  noise); the model's AUC says how much of it is predictable.

The estimates lean optimistic (in-sample medians, a column's own spread, nets outside the groups
granted as right), so a ceiling below a goal means no predictor reaches that goal on this data.
The within-10 % ceiling also lets the oracle rescale (`best_constant_within`), since a predictor
may aim between two modes. One figure is only an estimate, and marked so (``estimated``): the
Spearman ceiling of a grouping that covers part of the nets, simulated on all of them with the
groups' deviations, which assumes the noise of the covered nets holds for the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from explorer.spaces.nb201_features import EDGES, nb201_live_edges, parse_nb201

from .metrics import protocol_metrics, spearman

# ------------------------------------------------------------------------------ replicate groups
GROUPINGS = ("multiset", "live", "used")


def nb201_used_edges(ops: list[str]) -> list[bool]:
    """Edges whose result reaches the output through non-`none` edges (what a runtime that drops
    unused results, but still computes on a `none` edge's zeros, executes)."""
    used = {3}
    for s in (2, 1, 0):
        if any(ops[k] != "none" and t in used for k, (t, ss) in enumerate(EDGES) if ss == s):
            used.add(s)
    return [ops[k] != "none" and t in used for k, (t, _) in enumerate(EDGES)]


def nb201_groups(arch_strs: Sequence[str], how: str) -> np.ndarray:
    """Group id per cell: ``multiset`` (same ops anywhere: every edge runs), ``live`` (same ops on
    the edges of input->output paths: the cell is pruned both ways) or ``used`` (same ops on the
    edges whose result reaches the output: unused results are dropped)."""
    keys: dict[tuple, int] = {}
    out = np.empty(len(arch_strs), dtype=np.int64)
    for i, a in enumerate(arch_strs):
        ops = parse_nb201(a)
        if how == "multiset":
            key = tuple(sorted(ops))
        elif how in ("live", "used"):
            keep = nb201_live_edges(ops) if how == "live" else nb201_used_edges(ops)
            key = tuple(op if k else "none" for op, k in zip(ops, keep))
        else:
            raise ValueError(f"unknown grouping {how!r}; expected one of {list(GROUPINGS)}")
        out[i] = keys.setdefault(key, len(keys))
    return out


def best_constant_within(y: np.ndarray, tol: float = 0.10) -> int:
    """Most values of `y` that one constant c can be within `tol` of (|c - y| <= tol * y)."""
    events = sorted([(v * (1 - tol), 0) for v in y] + [(v * (1 + tol), 1) for v in y])
    best = cur = 0
    for _, kind in events:  # opens (0) sort before closes (1) at the same point: closed intervals
        cur += 1 if kind == 0 else -1
        best = max(best, cur)
    return best


def group_oracle(y: np.ndarray, gid: np.ndarray, min_size: int = 3) -> dict:
    """Ceiling of predictors that give one value per group, on the nets of groups >= `min_size`:
    Spearman of the in-sample group medians, and the exact best share within 10 % that one value
    per group can reach."""
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    members: dict[int, list[int]] = defaultdict(list)
    for i in np.where(ok)[0]:
        members[int(gid[i])].append(int(i))
    groups = [np.array(m) for m in members.values() if len(m) >= min_size]
    if not groups:
        return {"covered": 0.0, "n": 0}
    idx = np.concatenate(groups)
    med = np.concatenate([np.full(len(g), np.median(y[g])) for g in groups])
    best = sum(best_constant_within(y[g]) for g in groups)
    return {
        "spearman": round(spearman(med, y[idx]), 4),
        "within_10pct": round(best / len(idx), 4),
        "median_within_10pct": protocol_metrics(med, y[idx])["within_10pct"],
        "covered": round(len(idx) / int(ok.sum()), 4),
        "groups": len(groups),
        "n": int(len(idx)),
        "_idx": idx,  # the covered nets (not saved)
        "_eta": np.log(y[idx] / med),  # their deviations from the group median (not saved)
    }


def _group_deviations(log_y: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """Each value's deviation from the median of its group."""
    r = log_y.copy()
    for g in np.unique(gid):
        sel = gid == g
        r[sel] = log_y[sel] - np.median(log_y[sel])
    return r


def positional_r2(y: np.ndarray, gid: np.ndarray, X: np.ndarray, seed: int = 0) -> float:
    """Held-out R^2 of a ridge on `X` predicting log-latency's deviation from its group median.

    Near 0: within a group, nothing in `X` (e.g. which edge holds which op) explains latency.
    """
    r = _group_deviations(np.log(np.asarray(y, dtype=np.float64)), gid)
    perm = np.random.default_rng(seed).permutation(len(r))
    a, b = perm[: len(r) // 2], perm[len(r) // 2 :]
    A = np.c_[X, np.ones(len(r))]
    w = np.linalg.solve(A[a].T @ A[a] + 0.1 * np.eye(A.shape[1]), A[a].T @ r[a])
    var = float(np.var(r[b]))
    return round(1.0 - float(np.mean((r[b] - A[b] @ w) ** 2)) / var, 4) if var > 0 else 0.0


def lag1_autocorrelation(values_in_measurement_order: np.ndarray) -> float:
    """Correlation of each value with the next one measured (0 for independent measurements)."""
    v = np.asarray(values_in_measurement_order, dtype=np.float64)
    if len(v) < 3 or np.std(v) == 0:
        return 0.0
    return round(float(np.corrcoef(v[:-1], v[1:])[0, 1]), 4)


# ------------------------------------------------------------------------------------ oracles
MAX_POSITIONAL_R2 = 0.05


def oracle(y: np.ndarray, eta: np.ndarray) -> dict:
    """Scores of predicting y * exp(-eta): Spearman, share within 10 %, and that share at the best
    common scale (the oracle may aim above or below)."""
    y, eta = np.asarray(y, dtype=np.float64), np.asarray(eta, dtype=np.float64)
    pred = y * np.exp(-eta)
    m = protocol_metrics(pred, y)
    return {
        "spearman": m["spearman"],
        "within_10pct": round(max(m["within_10pct"], best_constant_within(np.exp(eta)) / len(y)), 4),
        "n": int(len(y)),
    }


def simulated_spearman(y: np.ndarray, eta_pool: np.ndarray, draws: int = 20, seed: int = 0) -> float:
    """Spearman of a column against itself with noise resampled from `eta_pool` added: the ceiling
    on nets no replicate group covers (homogeneous relative noise assumed)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=np.float64)
    return round(
        float(np.mean([spearman(y, y * np.exp(rng.choice(eta_pool, len(y)))) for _ in range(draws)])), 4
    )


def neighbour_mean(values_in_order: np.ndarray, k: int = 24) -> np.ndarray:
    """Mean of the k nearest values in order (k/2 each side), leaving the value itself out."""
    v = np.asarray(values_in_order, dtype=np.float64)
    h = k // 2
    c = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(len(v))
    lo, hi = np.maximum(0, i - h), np.minimum(len(v), i + h + 1)
    return (c[hi] - c[lo] - v) / np.maximum(1, hi - lo - 1)


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney), 0.5 when `score` carries nothing about `label`."""
    label = np.asarray(label, dtype=bool)
    n1, n0 = int(label.sum()), int((~label).sum())
    if not n1 or not n0:
        return 0.5
    r = np.argsort(np.argsort(score, kind="mergesort"), kind="mergesort") + 1.0
    return float((r[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def slow_mode(
    X: np.ndarray, y: np.ndarray, seed: int = 0, slow_threshold: float = 0.10, folds: int = 2
) -> dict:
    """Cross-fitted log residuals, the measurements > `slow_threshold` above their prediction, and
    whether the architecture predicts which ones: AUC of a cross-fitted model of the 0/1 label."""
    from .predictor import train

    y = np.asarray(y, dtype=np.float64)
    parts = np.array_split(np.random.default_rng(seed).permutation(len(y)), folds)

    def cross_fit(target: np.ndarray, loss: str) -> np.ndarray:
        out = np.zeros(len(y))
        for k in range(folds):
            fit = np.concatenate([parts[j] for j in range(folds) if j != k])
            n_val = max(1, len(fit) // 10)
            tr, va = fit[n_val:], fit[:n_val]
            p = train("additive-mlp", X[tr], target[tr], val=(X[va], target[va]), seed=seed, loss=loss)
            out[parts[k]] = p.predict(X[parts[k]])
        return out

    resid = np.log(y / np.maximum(cross_fit(y, "l1"), 1e-9))
    slow = resid > slow_threshold
    score = cross_fit(slow.astype(np.float64), "l2")
    excess = float(np.mean(resid[slow])) if slow.any() else 0.0
    return {
        "share": round(float(slow.mean()), 4),
        "median_excess": round(float(np.median(resid[slow])), 4) if slow.any() else 0.0,
        "auc": round(auc(score, slow), 4),
        "_resid": resid,
        "_slow": slow,
        # the excess the architecture does not predict: its own, less the expected one given the
        # net (a cross-fitted probability of being slow times the mean excess)
        "_eta": np.where(slow, resid, 0.0) - np.clip(score, 0.0, 1.0) * excess,
    }


# ------------------------------------------------------------------------------ per column
MEAN_GOAL = {"spearman": 0.98, "within_10pct": 0.90}
MIN_DRIFT_LAG1 = 0.2  # residual autocorrelation in measurement order that counts as drift


def _public(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def nb201_grouping_ceiling(dataset, column: str, grouping: str, min_size: int = 3) -> dict:
    """Replicate-group ceiling of one NB201 column under one grouping, with the evidence for it.

    Under the pruning groupings, cells without an input->output path compute a constant zero: a
    runtime that folds them takes ~0 ms, with no meaningful relative error. They are left out of
    the groups, and the ceiling assumes a predictor gets every one of them right. (Where every
    edge runs, ``multiset``, they are ordinary nets and stay.)"""
    y = np.asarray(dataset.latency[column], dtype=np.float64)
    connected = np.array(
        [grouping == "multiset" or any(nb201_live_edges(parse_nb201(a))) for a in dataset.configs]
    )
    ok = np.isfinite(y)
    gid = nb201_groups(dataset.configs, grouping)
    g = group_oracle(np.where(connected, y, np.nan), gid, min_size)
    folded = float(np.mean(~connected[ok]))
    order = np.argsort(dataset.index[ok], kind="mergesort")
    r = _group_deviations(np.log(y[ok]), gid[ok])
    pos = positional_r2(y[ok], gid[ok], dataset.X[ok, :30])
    out = {
        "method": f"replicate groups ({grouping})",
        "valid": bool(g.get("n")) and pos < MAX_POSITIONAL_R2,
        "spearman": g.get("spearman"),
        # nets outside the groups (and folded cells) are granted as all within 10 %
        "within_10pct": None
        if not g.get("n")
        else round(1 - (1 - folded) * g["covered"] * (1 - g["within_10pct"]), 4),
        "estimated": [],
        "groups": _public(g),
        "evidence": {
            "positional_r2": pos,
            "residual_lag1_autocorrelation": lag1_autocorrelation(r[order]),
        },
        "_idx": g.get("_idx"),
    }
    if g.get("n") and g["covered"] < 0.99:  # rho depends on the spread of the nets: all of them
        out["spearman"] = simulated_spearman(y[ok], g["_eta"])
        out["estimated"] = ["spearman"]  # assumes the groups' relative noise holds for all nets
    return out


def nb201_ceiling(dataset, column: str, groupings: Sequence[str] = GROUPINGS) -> dict:
    """The most generous ceiling among the groupings that hold for this column (see the module
    doc); the others are kept as evidence. Not valid when none holds."""
    tried = {g: nb201_grouping_ceiling(dataset, column, g) for g in groupings}
    valid = [c for c in tried.values() if c["valid"]]
    best = max(valid, key=lambda c: (c["within_10pct"], c["spearman"])) if valid else tried[groupings[0]]
    out = dict(best)
    if valid:  # each metric's most generous valid estimate
        top = max(valid, key=lambda c: c["spearman"])
        out["spearman"] = top["spearman"]
        out["within_10pct"] = max(c["within_10pct"] for c in valid)
        out["estimated"] = ["spearman"] if "spearman" in top["estimated"] else []
    out["groupings"] = {
        g: {
            "valid": c["valid"],
            "positional_r2": c["evidence"]["positional_r2"],
            "spearman": c["spearman"],
            "within_10pct": c["within_10pct"],
            "covered": c["groups"].get("covered"),
        }
        for g, c in tried.items()
    }
    return out


def ofa_ceiling(dataset, column: str, seed: int = 0) -> dict:
    """Drift and slow-mode oracles of one column of randomly sampled nets measured in row order."""
    y = dataset.latency[column]
    order = np.argsort(dataset.index, kind="mergesort")
    slow = slow_mode(dataset.X, y, seed=seed)
    r = slow["_resid"]
    lag1 = lag1_autocorrelation(r[order])
    oracles = {}
    if slow["share"] > 0:
        oracles["slow_mode"] = oracle(y, slow["_eta"])
    if lag1 >= MIN_DRIFT_LAG1:
        drift = np.empty(len(y))
        drift[order] = neighbour_mean(r[order])
        oracles["drift"] = oracle(y, drift)
    out = {
        "method": "drift / slow-mode oracle",
        "valid": bool(oracles),
        # several kinds of noise found: the ceiling is the most generous of their oracles
        "spearman": max((o["spearman"] for o in oracles.values()), default=None),
        "within_10pct": max((o["within_10pct"] for o in oracles.values()), default=None),
        "oracles": oracles,
        "evidence": {"residual_lag1_autocorrelation": lag1, "slow_mode": _public(slow)},
    }
    return out


def ours_on(pred: np.ndarray, y: np.ndarray, idx: np.ndarray | None = None) -> dict:
    """A predictor's Spearman and within-10 % share on nets `idx` (default: all)."""
    idx = np.arange(len(y)) if idx is None else idx
    m = protocol_metrics(np.asarray(pred)[idx], np.asarray(y)[idx])
    return {"spearman": m["spearman"], "within_10pct": m["within_10pct"], "n": int(len(idx))}
