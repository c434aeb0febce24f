"""How far to believe a zero-shot proxy: its rank correlation with NB201 ground truth, with a
bootstrap 95 % interval, and what it costs per network.

The figures come from a shipped sample (`explorer/_data/proxy_trust_nb201.json`): per NB201 cell its
accuracies (from the shared NB201 table), every proxy's value in its official setting and the
seconds each took, as `benchmarks/proxy_correlation.py` measured them. Build it from the
benchmark's per-cell JSON lines with

    python -m explorer.proxies.trust_build build CELLS.jsonl [CELLS.jsonl ...]

Intervals: networks are resampled with replacement (seeded, 1,000 resamples) and each statistic is
recomputed per resample; the interval is the 2.5th-97.5th percentile. A population proxy (AZ-NAS,
the ensemble) is re-aggregated within each resample, because its score is a log-rank sum within
the population it ranks: the resample is that population. The ensemble is compared with the best
single proxy resample by resample (paired), so the interval of the difference says whether the
ensemble is better, not just whether the two intervals overlap.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from explorer.errors import ExplorerError, FormatError
from explorer.progress import Cancelled, Progress, never_stop, no_progress
from explorer.proxies.ensemble import DEFAULT_MEMBERS
from explorer.rankcorr import kendall_rows, spearman_rows, weighted_ranks
from explorer.spaces.nb201 import NB201

FORMAT = "nas-explorer/proxy-trust"
DATA_DIR = Path(__file__).resolve().parents[1] / "_data"
DATA_PATH = DATA_DIR / "proxy_trust_nb201.json"
RESAMPLES = 1000
MAX_RESAMPLES = 20_000  # (resamples x networks) float arrays: 20,000 x 1,000 is 160 MB each
ENSEMBLE = "ensemble"
# ground truths: the benchmark's short name -> the column of the shared NB201 table
TARGETS = {"test": "cifar10_test_trainval", "valid": "cifar10valid_valid"}
TARGET_TEXT = {
    "test": "CIFAR-10 test accuracy (train+valid, 200 epochs)",
    "valid": "CIFAR-10 validation accuracy (cifar10-valid, 200 epochs)",
}
COMPONENTS = ("expressivity", "progressivity", "trainability", "complexity")


@dataclass(frozen=True)
class Column:
    """One proxy as the shipped sample stores it: `key` names it in the file and on the command
    line (`--members`), `proxy` and `options` are the registry proxy that computes it, `source` the
    benchmark's per-cell key, `seconds` the benchmark's timing key and `share` the part of that
    timing that is this proxy's (both Zen variants were timed together)."""

    key: str
    label: str
    proxy: str
    source: str
    seconds: str
    setting: str
    options: dict = field(default_factory=dict)
    share: float = 1.0
    parts: tuple[str, ...] = ()  # a population proxy's per-network components


COLUMNS = (
    Column("params", "#params", "params", "params", "params_s", "counted on the graph"),
    Column(
        "macs",
        "MACs",
        "macs",
        "az_complexity",
        "params_s",
        "conv + linear MACs (AZ-NAS' complexity component; counted in the same call as #params)",
    ),
    Column(
        "zen",
        "Zen-Score",
        "zen",
        "zen_running",
        "zen_s",
        "residual-free net, Gaussian batch 64, r32, 1 repeat, seed 0, running BN variance (official code)",
        share=0.5,
    ),
    Column(
        "zen-batch",
        "Zen-Score (batch BN)",
        "zen",
        "zen_batch",
        "zen_s",
        "as Zen-Score with the batch BN variance (the paper's formula)",
        options={"bn_variance": "batch"},
        share=0.5,
    ),
    Column(
        "gradsign",
        "GradSign",
        "gradsign",
        "gradsign",
        "gradsign_s",
        "the first 128 CIFAR-10 training images, official normalisation, no augmentation",
    ),
    Column(
        "synflow", "SynFlow", "synflow", "synflow", "synflow_s", "BN off, |weights|, all-ones input, fp64"
    ),
    Column(
        "naswot",
        "NASWOT",
        "naswot",
        "naswot_v2",
        "naswot_v2_s",
        "v2 (hook_logdet), the first 128 CIFAR-10 training images, train mode",
    ),
    Column("zico", "ZiCo", "zico", "zico", "zico_s", "the first 128 training images with labels, 2 x 64"),
    Column("meco", "MeCo", "meco", "meco", "meco_s", "the first training image alone (official batch 1)"),
    Column(
        "az-nas",
        "AZ-NAS",
        "az-nas",
        "az_*",
        "aznas_s",
        "Kaiming re-init, Gaussian input [64, 3, 32, 32], seed 0; log-rank sum of the 4 components",
        parts=COMPONENTS,
    ),
)
BY_KEY = {c.key: c for c in COLUMNS}
LABELS = {**{c.key: c.label for c in COLUMNS}, ENSEMBLE: "Ensemble"}


def member_keys() -> list[str]:
    """Every proxy an ensemble may be built from (each single proxy of the sample)."""
    return [c.key for c in COLUMNS]


def parse_members(text: str | Sequence[str]) -> tuple[str, ...]:
    """Ensemble members from 'a,b,c' (or a list), in the sample's order, at least one."""
    names = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t) for t in text]
    names = [n for n in names if n]
    bad = [n for n in names if n not in BY_KEY]
    if bad:
        raise ExplorerError(f"unknown ensemble member {bad[0][:40]!r} (known: {', '.join(BY_KEY)})")
    if not names:
        raise ExplorerError(f"an ensemble needs at least one member (known: {', '.join(BY_KEY)})")
    return tuple(k for k in BY_KEY if k in names)


# -- the shipped sample ---------------------------------------------------------------------------
class TrustData:
    """The per-cell sample as arrays (NaN where a proxy failed: it ranks lowest), with a cache of
    the bootstrap statistics already computed on it."""

    def __init__(self, doc: dict, path: Path | None = None):
        self.doc, self.path = doc, path
        self.cells: list[dict] = doc["cells"]
        self.n = len(self.cells)
        self._stats: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def provenance(self) -> dict:
        return {k: v for k, v in self.doc.items() if k != "cells"}

    def values(self, key: str) -> np.ndarray:
        return np.array([_num(c["values"].get(key)) for c in self.cells], dtype=np.float64)

    def accuracy(self, target: str = "test") -> np.ndarray:
        if target not in TARGETS:
            raise ExplorerError(f"unknown ground truth {target[:40]!r} (known: {', '.join(TARGETS)})")
        return np.array([_num(c["accuracy"].get(target)) for c in self.cells], dtype=np.float64)

    def seconds(self, key: str) -> np.ndarray:
        return np.array([_num(c["seconds"].get(key)) for c in self.cells], dtype=np.float64)

    def arch_strs(self) -> list[str]:
        return [c["arch_str"] for c in self.cells]


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


_loaded: dict[tuple[str, float], TrustData] = {}


def load(path: str | Path | None = None) -> TrustData | None:
    """The shipped sample (or the file at `path`), None when none ships; FormatError if damaged.
    Loaded once per file version, so its statistics cache lives as long as the process."""
    p = Path(path) if path else DATA_PATH
    if not p.is_file():
        if path:
            raise FormatError(f"{p}: no such proxy trust sample")
        return None
    key = (str(p.resolve()), p.stat().st_mtime)
    if key not in _loaded:
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            cells = doc.get("cells")
            if not isinstance(cells, list) or not cells:
                raise ValueError("no cells")
            for c in cells:
                if not all(isinstance(c.get(k), dict) for k in ("values", "accuracy", "seconds")):
                    raise ValueError("a cell lacks values, accuracy or seconds")
        except (OSError, ValueError) as e:
            raise FormatError(f"{p}: damaged proxy trust sample ({str(e)[:120]})") from None
        _loaded[key] = TrustData(doc, p)
    return _loaded[key]


def require(path: str | Path | None = None) -> TrustData:
    data = load(path)
    if data is None:
        raise ExplorerError(
            f"no proxy trust sample ships ({DATA_PATH.name}); build it: python -m {__name__} build"
        )
    return data


# -- statistics -----------------------------------------------------------------------------------
def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, n) counts: how often each network occurs in each seeded resample of size n."""
    if not 1 <= resamples <= MAX_RESAMPLES or n < 2:
        raise ExplorerError(
            f"a bootstrap needs 1..{MAX_RESAMPLES:,} resamples of >= 2 networks, got {resamples} of {n}"
        )
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    counts = np.zeros((resamples, n))
    np.add.at(counts, (np.arange(resamples)[:, None], idx), 1.0)
    return counts


def log_rank_sum_rows(columns: Sequence[np.ndarray], w: np.ndarray) -> np.ndarray:
    """AZ-NAS' aggregate within each weighted population (rows of `w`): sum over columns of
    log(rank / m), m the population's size, a repeated network ranked with its copies (ties share
    their average rank, as `rank_aggregate.log_rank_sum` of the expanded population)."""
    m = w.sum(axis=1, keepdims=True)
    return sum(np.log(weighted_ranks(c, w) / m) for c in columns)


def scores(data: TrustData, key: str, w: np.ndarray, members: Sequence[str] = DEFAULT_MEMBERS) -> np.ndarray:
    """(B, n) scores of proxy `key` within each weighted population: a plain proxy's values as they
    are, AZ-NAS aggregated from its components, the ensemble from its members (a population member
    entering with its own aggregate over the same population)."""
    if key == ENSEMBLE:
        return log_rank_sum_rows([scores(data, m, w) for m in members], w)
    col = BY_KEY.get(key)
    if col is None:
        raise ExplorerError(f"unknown proxy {key[:40]!r} in the trust sample (known: {', '.join(LABELS)})")
    if col.parts:
        return log_rank_sum_rows([data.values(f"{key}:{p}") for p in col.parts], w)
    return np.broadcast_to(data.values(key), w.shape)


def statistics(
    data: TrustData,
    key: str,
    *,
    members: Sequence[str] = DEFAULT_MEMBERS,
    target: str = "test",
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(Spearman, Kendall) of `key`, each 1 + resamples long: the whole sample first, then every
    resample (cached per sample)."""
    cache_key = (key, tuple(members) if key == ENSEMBLE else (), target, resamples, seed)
    if cache_key not in data._stats:
        y = data.accuracy(target)
        w = np.vstack([np.ones((1, data.n)), resample_counts(data.n, resamples, seed)])
        s = scores(data, key, w, members)
        data._stats[cache_key] = (spearman_rows(s, y, w), kendall_rows(s, y, w))
    return data._stats[cache_key]


def interval(values: np.ndarray) -> list[float]:
    """The 95 % percentile interval of the resampled statistics (the first entry is the point)."""
    rest = values[1:]
    if not np.isfinite(rest).any():
        return [math.nan, math.nan]
    lo, hi = np.nanpercentile(rest, [2.5, 97.5])
    return [float(lo), float(hi)]


def median_seconds(data: TrustData, key: str, members: Sequence[str] = DEFAULT_MEMBERS) -> float | None:
    """Median seconds per network in the sample; the ensemble's is the median of its members' sum."""
    if key == ENSEMBLE:
        per_cell = sum(data.seconds(m) for m in members)
    else:
        per_cell = data.seconds(key)
    ok = per_cell[np.isfinite(per_cell)]
    return float(np.median(ok)) if len(ok) else None


def _verdict(ci: list[float]) -> str:
    if ci[0] > 0:
        return "better"
    if ci[1] < 0:
        return "worse"
    return "not distinguishable"


def trust_table(
    data: TrustData | None = None,
    members: Sequence[str] = DEFAULT_MEMBERS,
    *,
    target: str = "test",
    resamples: int = RESAMPLES,
    seed: int = 0,
    progress=no_progress,
    should_stop=never_stop,
) -> dict:
    """Every proxy of the sample plus the ensemble of `members`: Spearman and Kendall with their
    95 % intervals and the median seconds per network, and the paired difference
    ensemble - best single proxy with its interval (`verdict`: better / worse / not
    distinguishable, i.e. whether the interval excludes 0)."""
    data = data or require()
    members = parse_members(list(members))
    keys = [*member_keys(), ENSEMBLE]
    stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for i, k in enumerate(keys):
        if should_stop():
            raise Cancelled("trust figures cancelled")
        progress(Progress(phase="trust", step=i, total=len(keys), message=LABELS[k]))
        stats[k] = statistics(data, k, members=members, target=target, resamples=resamples, seed=seed)
    rows = []
    for k in keys:
        rho, tau = stats[k]
        rows.append(
            {
                "key": k,
                "label": LABELS[k],
                "population": k == ENSEMBLE or bool(BY_KEY[k].parts),
                "spearman": float(rho[0]),
                "spearman_ci": interval(rho),
                "kendall": float(tau[0]),
                "kendall_ci": interval(tau),
                "seconds": median_seconds(data, k, members),
            }
        )
    versus = {}
    for j, stat in enumerate(("spearman", "kendall")):
        best = max(member_keys(), key=lambda k, j=j: _finite(stats[k][j][0]))
        diff = stats[ENSEMBLE][j] - stats[best][j]
        ci = interval(diff)
        versus[stat] = {"best": best, "diff": float(diff[0]), "ci": ci, "verdict": _verdict(ci)}
    prov = data.provenance
    return {
        "space": prov.get("space", NB201.name),
        "n": data.n,
        "target": target,
        "target_text": TARGET_TEXT[target],
        "accuracy_source": prov.get("accuracy_source", ""),
        "sample": prov.get("sample", {}),
        "date": prov.get("date", ""),
        "machine": prov.get("machine", ""),
        "resamples": resamples,
        "seed": seed,
        "members": list(members),
        "rows": rows,
        "ensemble_vs_best": versus,
    }


def _finite(v: float) -> float:
    return v if math.isfinite(v) else -math.inf


# -- cost on this machine -------------------------------------------------------------------------
def measure_costs(
    arch_strs: Sequence[str],
    members: Sequence[str] = DEFAULT_MEMBERS,
    *,
    space=None,
    settings=None,
    progress=no_progress,
    should_stop=never_stop,
) -> dict:
    """Median seconds per network of every proxy of the sample (each computed alone, its network
    built inside the timing, as a user scoring one candidate pays) on the given NB201 cells, and
    the ensemble's as the sum of its members'. `space` defaults to NB201 (C=16, N=5) and
    `settings` to each proxy's official setting."""
    import torch

    from explorer.proxies.registry import ProxySettings, compute_many

    space = space or NB201
    settings = settings or ProxySettings.official()
    members = parse_members(list(members))
    per: dict[str, list[float]] = {c.key: [] for c in COLUMNS}
    total = len(arch_strs) * len(COLUMNS)
    step = 0
    for i, arch in enumerate(arch_strs):
        graph = space.encode({"arch_str": arch})
        for col in COLUMNS:
            if should_stop():
                raise Cancelled("cost measurement cancelled")
            progress(Progress(phase="cost", step=step, total=total, message=f"{col.label}, cell {i + 1}"))
            s = settings
            if col.options:
                opts = {**settings.options, col.proxy: {**settings.options.get(col.proxy, {}), **col.options}}
                s = replace(settings, options=opts)
            t0 = time.perf_counter()
            compute_many(graph, [col.proxy], s)
            per[col.key].append(time.perf_counter() - t0)
            step += 1
    return {
        "cells": len(arch_strs),
        "threads": torch.get_num_threads(),
        "preset": settings.preset,
        "members": list(members),
        "seconds": costs_of(per, members),
        "per_cell": per,
    }


def costs_of(per_cell: dict[str, list[float]], members: Sequence[str]) -> dict[str, float]:
    """Median seconds of each proxy over measured cells, and of the ensemble of `members` (the
    median of its members' per-cell sum), so a change of members needs no new measurement."""
    out = {k: float(np.median(v)) for k, v in per_cell.items() if v}
    n = min((len(per_cell[m]) for m in members), default=0)
    if members and n:
        out[ENSEMBLE] = float(np.median([sum(per_cell[m][i] for m in members) for i in range(n)]))
    return out


# -- text -----------------------------------------------------------------------------------------
def fmt_ci(value: float, ci: Sequence[float], signed: bool = False) -> str:
    """'0.917 [0.903, 0.929]' ('n/a' where undefined)."""
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (value, *ci)):
        return "n/a"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(value)} [{f.format(ci[0])}, {f.format(ci[1])}]"


def fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "n/a"
    if s < 0.1:
        return f"{s * 1000:.1f} ms" if s < 0.01 else f"{s * 1000:.0f} ms"
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def versus_text(table: dict) -> str:
    """One line on the paired difference ensemble - best single proxy, per statistic."""
    out = []
    for stat, sym in (("spearman", "\u03c1"), ("kendall", "\u03c4")):
        v = table["ensemble_vs_best"][stat]
        ci = fmt_ci(v["diff"], v["ci"], signed=True)
        out.append(f"\u0394{sym} vs {LABELS[v['best']]} {ci}: {v['verdict']}")
    return (
        "Ensemble \u2212 best single proxy (paired bootstrap): "
        + "; ".join(out)
        + " (better or worse only when the interval excludes 0)"
    )


def source_text(data: TrustData, resamples: int = RESAMPLES, target: str = "test") -> str:
    """What the figures are measured on, in one paragraph (the panel's and the command's caption)."""
    p = data.provenance
    sample = p.get("sample", {})
    planned = sample.get("n_planned")
    planned = f", {planned:,} planned" if isinstance(planned, int) else ""
    return (
        f"{data.n:,} NB201 cells (seed-{sample.get('seed', '?')} uniform sample{planned}); ground truth "
        f"{TARGET_TEXT[target]} from {str(p.get('accuracy_source', '?')).split(' (')[0]}; 95 % bootstrap "
        f"intervals over {resamples:,} resamples, AZ-NAS and the ensemble re-aggregated within each. "
        f"Sample seconds: {p.get('date', '?')}, {p.get('machine', '?')}."
    )


def by_spearman(rows: Sequence[dict]) -> list[dict]:
    """Rows best first (the order the table and the plot show)."""
    return sorted(rows, key=lambda r: -_finite(r["spearman"]))
