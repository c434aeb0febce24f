"""Accuracy of latency predictors on the public measured data, with the notes' protocols.

- **A** (BRP-NAS): per device, 900 train / 100 validation / the rest test; mean over seeds.
- **B** (HELP, few-shot): k target measurements from NB201 indices 0-899, test on 900-1899, both
  trimmed to the middle 80 % of the target's latencies; pre-training only on other devices.

Metrics: Spearman rho, RMSE (ms), share within +-10 % and +-5 % of measured.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import explorer
from explorer.errors import ExplorerError
from explorer.spaces.latency_support import latency_features
from explorer.spaces.nb201 import NB201
from explorer.spaces.ofa_mbv3 import OFA_W10

from .metrics import mean_metrics, protocol_metrics

# The public data (a data table: the files' own names and columns). dataset id -> (file, space,
# device-name prefix, number of leading non-device columns), and the column numbering the nets
DATASETS = {
    "help-nb201": ("nb201_help_ms.csv", NB201.name, "help-nb201-", 2),
    "latbench-nb201": ("nb201_latbench_ms.csv", NB201.name, "latbench-nb201-", 2),
    "help-ofa": ("ofa_mbv3_help_ms.csv", OFA_W10.name, "help-ofa-", 5),
}
INDEX_COLUMN = {"help-nb201": "nb201_index", "latbench-nb201": "nb201_index", "help-ofa": "index"}
# HELP's meta-test devices present in the shared data (protocol B targets)
HELP_TARGETS = ("titan_rtx_256", "gold_6226", "pixel2", "eyeriss", "fpga")
WHOLE_MS = {"help-nb201": ("pixel2", "samsung_a50", "essential_ph_1")}


def data_dir() -> Path:
    """Shared measured data: $NAS_EXPLORER_DATA, else ../shared/data next to the repo."""
    env = os.environ.get("NAS_EXPLORER_DATA")
    base = Path(env) if env else Path(explorer.__file__).resolve().parents[1] / ".." / "shared" / "data"
    return base / "latency"


# ------------------------------------------------------------------------------------------- data
@dataclass
class Dataset:
    """Configs, their features and one latency column per device of a public CSV."""

    name: str
    space: str
    configs: list
    X: np.ndarray
    index: np.ndarray  # NB201 index (or row index for OFA)
    latency: dict[str, np.ndarray] = field(default_factory=dict)

    def device_name(self, column: str) -> str:
        return DATASETS[self.name][2] + column


_DATA: dict[str, Dataset] = {}


def load_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ExplorerError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    if name in _DATA:
        return _DATA[name]
    fn, space, _, lead = DATASETS[name]
    path = data_dir() / fn
    if not path.exists():
        raise ExplorerError(f"measured data not found: {path} (set NAS_EXPLORER_DATA)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0].keys())
    feats = latency_features(space)
    configs = feats.configs_from_rows(rows, path)
    index = np.array([int(r[INDEX_COLUMN[name]]) for r in rows])
    X = feats.features(configs)
    # a few LatBench cells lack some devices: NaN, skipped per column
    lat = {c: np.array([float(r[c]) if r[c] != "" else np.nan for r in rows]) for c in cols[lead:]}
    ds = Dataset(name, space, configs, X, index, lat)
    _DATA[name] = ds
    return ds


def split_a(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Protocol A split: 900 train / 100 validation / the rest test, by a seeded permutation."""
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:900], perm[900:1000], perm[1000:]


# ------------------------------------------------------------------------------------ protocol A
def protocol_a(
    dataset: str, column: str, kind: str = "additive-mlp", seeds=(0, 1, 2), loss: str | None = None
) -> tuple[dict, list]:
    """Mean test metrics over seeds, and the per-seed (predictor, val metrics, test metrics).

    ``additive-mlp`` picks its loss (least squares or median) on the validation nets by default;
    HAT's baseline keeps least squares, as published.
    """
    loss = loss or ("auto" if kind == "additive-mlp" else "l2")
    from .predictor import train

    ds = load_dataset(dataset)
    ok = np.where(np.isfinite(ds.latency[column]))[0]
    X, y = ds.X[ok], ds.latency[column][ok]
    runs = []
    for seed in seeds:
        tr, va, te = split_a(len(y), seed)
        views = dict(latency_features(ds.space).views) if loss == "auto" else None
        p = train(kind, X[tr], y[tr], val=(X[va], y[va]), seed=seed, loss=loss, views=views)
        runs.append((p, protocol_metrics(p.predict(X[va]), y[va]), protocol_metrics(p.predict(X[te]), y[te])))
    return mean_metrics([r[2] for r in runs]), runs


# ------------------------------------------------------------------------------------ protocol B
def _hardware(col: str) -> str:
    """'titan_rtx_256' -> 'titan_rtx': columns of one chip at other batch sizes are not 'other devices'."""
    head, _, tail = col.rpartition("_")
    return head if tail.isdigit() and head else col


def default_sources_b(target: str) -> list[str]:
    """HELP NB201 columns usable as pre-training devices: not a test device, not the target's chip."""
    ds = load_dataset("help-nb201")
    return [
        c for c in ds.latency if c not in HELP_TARGETS and _hardware(c) != _hardware(target) and c != target
    ]


def _trim(idx: np.ndarray, y: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(y[idx], [10, 90])
    return idx[(y[idx] >= lo) & (y[idx] <= hi)]


def protocol_b(target: str, k: int = 20, seeds=range(5), sources: list[str] | None = None) -> dict:
    """HELP-style few-shot accuracy on `target` using shipped predictors of the source devices."""
    from .fewshot import fit_head, head_predict
    from .registry import load_device

    ds = load_dataset("help-nb201")
    y = ds.latency[target]
    pool = _trim(np.where(ds.index < 900)[0], y)
    test = _trim(np.where((ds.index >= 900) & (ds.index < 1900))[0], y)
    sources = default_sources_b(target) if sources is None else sources
    devs = [load_device(ds.device_name(c)) for c in sources]
    S = np.column_stack([d.predict_features(ds.X, ds.space) for d in devs])
    runs, chosen = [], []
    for seed in seeds:
        pick = np.random.default_rng(seed).choice(pool, size=k, replace=False)
        head = fit_head(ds.X[pick], S[pick], y[pick], ds.space)
        chosen.append(head["choice"])
        runs.append(protocol_metrics(head_predict(head, ds.X[test], S[test]), y[test]))
    out = mean_metrics(runs)
    out.update({"k": k, "sources": len(sources), "heads": sorted(set(chosen))})
    return out
