"""Building the shipped proxy trust sample (`explorer/_data/proxy_trust_nb201.json`) from the
per-cell JSON lines of `benchmarks/proxy_correlation.py --new`:

    python -m explorer.proxies.trust_build build CELLS.jsonl [CELLS.jsonl ...]

Only the cells of the benchmark's seeded sample that every proxy scored are kept, in the sample's
order, with their accuracies from the shared NB201 table (`explorer.proxies.trust` reads it)."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from explorer.errors import ExplorerError, FormatError
from explorer.proxies.trust import COLUMNS, DATA_PATH, FORMAT, TARGETS, Column
from explorer.spaces.nb201 import NB201


def _finite_or_none(v):
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def read_lines(paths: Sequence[str | Path]) -> dict[int, dict]:
    """The benchmark's per-cell JSON lines, keys merged per cell (later lines add to earlier)."""
    cells: dict[int, dict] = {}
    for p in paths:
        for n, line in enumerate(Path(p).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                cells.setdefault(int(r["arch_index"]), {}).update(r)
            except (ValueError, KeyError, TypeError) as e:
                raise FormatError(f"{p}:{n}: not a per-cell line ({str(e)[:80]})") from None
    return cells


def _needed(col: Column) -> list[str]:
    return [f"az_{p}" for p in col.parts] if col.parts else [col.source]


def build(
    paths: Sequence[str | Path],
    nb201_csv: str | Path | None = None,
    *,
    seed: int = 0,
    n_planned: int = 1000,
    machine: str | None = None,
    date: str | None = None,
) -> dict:
    """The shipped sample from the benchmark's lines: the cells of the seeded sample that every
    proxy scored, in the sample's order, accuracies from the shared NB201 table."""
    import csv

    from explorer.data import NB201_CSV

    table = Path(nb201_csv) if nb201_csv else NB201_CSV
    if not table.is_file():
        raise FormatError(f"{table}: NAS-Bench-201 accuracy table not found")
    with open(table, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    lines = read_lines(paths)
    order = [
        int(rows[int(i)]["arch_index"])
        for i in np.random.default_rng(seed).choice(len(rows), n_planned, replace=False)
    ]
    by_index = {int(r["arch_index"]): r for r in rows}
    stray = sorted(set(lines) - set(order))
    if stray:
        raise FormatError(
            f"cell {stray[0]} (and {len(stray) - 1} more) is not in the seed-{seed} sample of {n_planned}: "
            "wrong --seed or --n-planned"
        )
    cells, incomplete = [], 0
    for idx in order:
        r = lines.get(idx)
        if r is None:
            continue
        if any(k not in r for c in COLUMNS for k in (*_needed(c), c.seconds)):
            incomplete += 1
            continue
        row = by_index[idx]
        acc = {t: float(row[c]) for t, c in TARGETS.items()}
        if "test" in r and abs(float(r["test"]) - acc["test"]) > 1e-6:
            raise FormatError(
                f"cell {idx}: the benchmark's test accuracy {r['test']} is not the table's {acc['test']}"
            )
        values, seconds = {}, {}
        for c in COLUMNS:
            if c.parts:
                values.update({f"{c.key}:{p}": _finite_or_none(r[f"az_{p}"]) for p in c.parts})
            else:
                values[c.key] = _finite_or_none(r[c.source])
            seconds[c.key] = round(float(r[c.seconds]) * c.share, 5)
        cells.append(
            {
                "arch_index": idx,
                "arch_str": row["arch_str"],
                "accuracy": acc,
                "values": values,
                "seconds": seconds,
            }
        )
    if len(cells) < 2:
        raise FormatError(f"only {len(cells)} complete cell(s) in {', '.join(map(str, paths))}")
    return {
        "format": FORMAT,
        "space": NB201.name,
        "n": len(cells),
        "sample": {
            "seed": seed,
            "n_planned": n_planned,
            "incomplete_skipped": incomplete,
            "how": f"numpy default_rng({seed}).choice({len(rows)}, {n_planned}, replace=False) over the "
            "NB201 table's rows, cells in that order; these are the ones every proxy had scored",
        },
        "accuracy_source": f"shared/data/nb201/{table.name} ("
        + ", ".join(f"{t}: {c}" for t, c in TARGETS.items())
        + ")",
        "benchmark": "benchmarks/proxy_correlation.py --new (per-cell lines)",
        "settings": {
            "networks": "standard NB201 network (C=16, N=5), PyTorch default init after "
            "torch.manual_seed(arch_index) unless a proxy says otherwise",
            "proxies": {c.key: c.setting for c in COLUMNS},
            "seconds": "wall time of one proxy on one cell, 1 torch thread; the network build is inside "
            "Zen's and GradSign's timing and outside the others'; Zen's two BN variants were timed "
            "together (each gets half); MACs share #params' count_complexity call",
        },
        "machine": machine or _machine(),
        "date": date or datetime.date.today().isoformat(),
        "cells": cells,
    }


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {__name__}", description="the proxy trust sample")
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the shipped sample from benchmarks/proxy_correlation.py's lines")
    b.add_argument("lines", nargs="+", help="per-cell JSON lines (shards of one run)")
    b.add_argument(
        "--nb201", help="NB201 accuracy table (default: ../shared/data/nb201/nb201_cifar10_200ep.csv)"
    )
    b.add_argument("--seed", type=int, default=0, help="the benchmark's sample seed")
    b.add_argument("--n-planned", type=int, default=1000, help="the benchmark's --n")
    b.add_argument("--machine", help="where the benchmark ran (default: this machine)")
    b.add_argument("-o", "--output", default=str(DATA_PATH))
    a = ap.parse_args(argv)
    from explorer.fileio import atomic_write_text

    try:
        doc = build(a.lines, a.nb201, seed=a.seed, n_planned=a.n_planned, machine=a.machine)
    except (ExplorerError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    atomic_write_text(a.output, json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"wrote {a.output}: {doc['n']} cells ({doc['sample']['incomplete_skipped']} incomplete skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
