"""Few-shot adaptation to a new device from 10-20 whole-network measurements (HELP's idea).

Latency rankings transfer well between devices, so the other devices' predictors are the prior:
a new device is a small linear head over (a) the source devices' predicted latencies and (b) a few
cheap architecture statistics (op counts for NB201, MACs and resolution for OFA-MBv3), which makes
exactly additive estimators (Eyeriss, FPGA) learnable from 20 points. The head's inputs and
strength are chosen by leave-one-out error on the measurements themselves.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from explorer.errors import ExplorerError
from explorer.latency import features as F

LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def stat_columns(space: str) -> list[int]:
    """Feature indices of the architecture statistics a head may use."""
    if F.space_family(space) == "nb201":
        return list(range(30, 35)) + list(range(65, 70))  # op counts, all edges and live edges
    n = F.n_features(space)
    return [n - 25, n - 24, n - 23, n - 2, n - 1]  # r/224, (r/224)^2, depth, MACs, log MACs


def _ridge_loo(Z: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float, float]:
    """Ridge with intercept on standardised Z; returns (w, b, LOO mean squared relative error)."""
    mu = Z.mean(0)
    sd = Z.std(0)
    sd = np.where(sd < 1e-12, 1.0, sd)
    Zs = (Z - mu) / sd
    ym = y.mean()
    A = Zs.T @ Zs + lam * np.eye(Z.shape[1])
    Ainv = np.linalg.inv(A)
    w = Ainv @ Zs.T @ (y - ym)
    H = Zs @ Ainv @ Zs.T + 1.0 / len(y)
    resid = y - (Zs @ w + ym)
    loo = resid / np.clip(1 - np.diag(H), 1e-6, None)
    wf = w / sd
    return wf, float(ym - mu @ wf), float(np.mean((loo / y) ** 2))


def fit_head(X: np.ndarray, S: np.ndarray | None, y: np.ndarray, space: str) -> dict:
    """Choose and fit the head with the lowest leave-one-out relative error."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 4:
        raise ExplorerError(f"few-shot adaptation needs at least 4 measurements, got {len(y)}")
    stats = stat_columns(space)
    n_src = 0 if S is None else S.shape[1]
    candidates: list[tuple[str, list[int], list[int]]] = [("stats", stats, [])]
    if n_src:
        candidates.append(("sources", [], list(range(n_src))))
        candidates.append(("sources+stats", stats, list(range(n_src))))
        candidates += [(f"source:{j}", [], [j]) for j in range(n_src)]
    best = None
    for name, xs, ss in candidates:
        Z = np.hstack([X[:, xs], S[:, ss] if ss else np.zeros((len(y), 0))])
        for lam in LAMBDAS if len(xs) + len(ss) > 1 else (1e-6,):
            w, b, err = _ridge_loo(Z, y, lam)
            if best is None or err < best[0]:
                best = (err, name, xs, ss, w, b, lam)
    err, name, xs, ss, w, b, lam = best
    return {
        "choice": name.split(":")[0],
        "stat_idx": xs,
        "source_idx": ss,
        "w_stats": [float(f"{v:.8g}") for v in w[: len(xs)]],
        "w_sources": [float(f"{v:.8g}") for v in w[len(xs) :]],
        "b": float(f"{b:.8g}"),
        "lambda": lam,
        "loo_rel_rmse": round(float(np.sqrt(err)), 5),
        "k": int(len(y)),
    }


def head_predict(head: dict, X: np.ndarray, S: np.ndarray | None) -> np.ndarray:
    out = np.full(len(X), float(head["b"]))
    if head["stat_idx"]:
        out += X[:, head["stat_idx"]] @ np.asarray(head["w_stats"])
    if head["source_idx"]:
        if S is None:
            raise ExplorerError("few-shot head needs its source devices' predictions")
        out += S[:, head["source_idx"]] @ np.asarray(head["w_sources"])
    return np.maximum(out, 1e-6)  # a latency is positive even where a linear head extrapolates


def read_measurements(path: str | Path, space: str | None = None) -> tuple[str, list, np.ndarray]:
    """(space, configs, latency_ms) from a CSV of `arch_str` or `ks,e,d,r` plus `latency_ms`."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ExplorerError(f"cannot read measurements {path}: {e.strerror or e}") from None
    if not rows:
        raise ExplorerError(f"{path}: no measurements")
    cols = set(rows[0])
    if "latency_ms" not in cols:
        raise ExplorerError(f"{path}: needs a 'latency_ms' column (has {sorted(cols)})")
    space = space or ("nb201" if "arch_str" in cols else "ofa-mbv3")
    configs = configs_from_rows(rows, space, path)
    try:
        y = np.array([float(r["latency_ms"]) for r in rows])
    except ValueError as e:
        raise ExplorerError(f"{path}: latency_ms is not a number ({e})") from None
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ExplorerError(f"{path}: latency_ms must be positive numbers")
    return F.canonical_space(space), configs, y


def configs_from_rows(rows: Sequence[dict], space: str, path) -> list:
    if F.space_family(space) == "nb201":
        if "arch_str" not in rows[0]:
            raise ExplorerError(f"{path}: NB201 rows need an 'arch_str' column")
        return [r["arch_str"] for r in rows]
    missing = [c for c in ("ks", "e", "d", "r") if c not in rows[0]]
    if missing:
        raise ExplorerError(f"{path}: OFA-MBv3 rows need columns ks, e, d, r (missing {missing})")
    return [{"ks": r["ks"], "e": r["e"], "d": r["d"], "r": r["r"]} for r in rows]


def adapt(
    measurements_csv: str | Path,
    name: str,
    space: str | None = None,
    out: str | Path | None = None,
    sources: Sequence[str] | None = None,
):
    """Fit a few-shot device from measurements; write it (user dir by default) and return its path."""
    from explorer.latency import devices as D

    space, configs, y = read_measurements(measurements_csv, space)
    X = F.featurize(space, configs)
    if sources is None:
        sources = [
            s["name"]
            for s in D.list_devices()
            if s["kind"] == "network"
            and s["source"] != "few-shot"
            and any(F.space_matches(space, c) for c in s["spaces"])
            and s["name"] != name
        ]
    devs = [D.load_device(s) for s in sources]
    devs = [d for d in devs if d.model.get("kind") != "fewshot"] if devs else []
    S = np.column_stack([d.predict_features(X, space) for d in devs]) if devs else None
    head = fit_head(X, S, y, space)
    # keep only the sources the head uses, so the device does not depend on the rest
    used = [devs[j].name for j in head["source_idx"]]
    head["source_idx"] = list(range(len(used)))
    fitted = head_predict(
        head,
        X,
        np.column_stack([d.predict_features(X, space) for d in devs if d.name in used]) if used else None,
    )
    from explorer.latency.evaluate import metrics

    prov = D.provenance(
        source="few-shot",
        method=f"few-shot adaptation from {len(y)} whole-network measurements in "
        f"{Path(measurements_csv).name}: "
        f"linear head '{head['choice']}' over other devices' predictions and architecture statistics, "
        "chosen by leave-one-out error",
        covers=f"{space} (same as its source devices)",
        accuracy={"fit_on_measurements": metrics(fitted, y), "loo_rel_rmse": head["loo_rel_rmse"]},
        sources=used,
    )
    digests = {d.name: D.model_digest(d.model) for d in devs if d.name in used}
    model = {"kind": "fewshot", "sources": used, "head": head, "source_digests": digests}
    dev = D.NetworkDevice(name, [space], prov, model)
    return D.save_device(dev, out)
