"""Batch scoring: a CSV of architectures in, the same rows with one column per proxy out.

A row names its architecture by an `arch_str` column (NB201 cells), a `config` column (a space's
native config as JSON, e.g. OFA's {"ks", "e", "d", "r"}) or a `file` column (an architecture JSON
file, relative to the CSV). Every row is scored with the same settings and build seed, so a row's
values do not depend on which worker scored it or on the other rows; population proxies (AZ-NAS,
the ensemble) are then aggregated over all the rows of the file, the population it ranks.

Workers are processes (spawn), each with one torch thread: proxies are small-batch work that one
core runs about as fast as two threads, so N processes give close to N times the throughput.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from explorer.errors import ExplorerError, FormatError
from explorer.proxies.population import population_scores
from explorer.proxies.registry import ProxySettings, ProxyValue, compute_many, expand

ARCH_COLUMNS = ("arch_str", "config", "file")


@dataclass
class Table:
    path: Path
    fields: list[str]
    rows: list[dict]
    column: str  # which of ARCH_COLUMNS names the architecture


def read_table(path: str | os.PathLike) -> Table:
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = [dict(r) for r in reader]
    except FileNotFoundError:
        raise FormatError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise FormatError(f"{p}: cannot read it as CSV ({e})") from None
    column = next((c for c in ARCH_COLUMNS if c in fields), None)
    if column is None:
        raise FormatError(f"{p}: needs an arch_str, config or file column (has {', '.join(fields[:8])})")
    if not rows:
        raise FormatError(f"{p}: no rows")
    return Table(p, fields, rows, column)


def graphs_of(table: Table, space_name: str | None):
    """The ArchGraph of every row; FormatError naming the first row that does not give one."""
    from explorer.arch import check, load_arch
    from explorer.spaces import get_space

    space = get_space(space_name) if space_name else None
    if space is None and table.column != "file":
        raise ExplorerError(f"--space is needed to read the {table.column} column")
    out = []
    for k, row in enumerate(table.rows, start=2):  # line 1 is the header
        value = (row.get(table.column) or "").strip()
        try:
            if table.column == "file":
                f = Path(value)
                graph = load_arch(f if f.is_absolute() else table.path.parent / f)
            elif table.column == "arch_str":
                graph = space.encode({"arch_str": value})
            else:
                try:
                    config = json.loads(value)
                except json.JSONDecodeError as e:
                    raise ExplorerError(f"config is not JSON ({e.msg})") from None
                graph = space.encode(config)
            check(graph)
        except ExplorerError as e:
            raise FormatError(f"{table.path} line {k}: {e}") from None
        out.append(graph)
    return out


def _score_one(job) -> dict[str, ProxyValue]:
    graph, names, settings = job
    return compute_many(graph, names, settings)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def score_graphs(
    graphs: Sequence,
    names: Sequence[str],
    settings: ProxySettings,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, ProxyValue]]:
    """Per-network values of `names` (ensembles' members included), in input order."""
    jobs = [(g, list(expand(names)), settings) for g in graphs]
    done: list[dict[str, ProxyValue]] = []
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            done.append(_score_one(j))
            if progress is not None:
                progress(len(done), len(jobs))
        return done
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_init_worker) as pool:
        for values in pool.imap(_score_one, jobs):
            done.append(values)
            if progress is not None:
                progress(len(done), len(jobs))
    return done


def columns(names: Sequence[str], values: Sequence[dict[str, ProxyValue]]) -> dict[str, list[float | None]]:
    """One column per asked proxy: its score, or its aggregate over all the rows (population)."""
    return {n: population_scores(n, [v[n] for v in values]) for n in names}


def failures(names: Sequence[str], values: Sequence[dict[str, ProxyValue]]) -> list[str]:
    """One line per (row, proxy) that has no value, for stderr."""
    out = []
    for k, v in enumerate(values, start=2):
        for n in names:
            if v[n].message:
                out.append(f"line {k}: {n}: {v[n].message}")
    return out


def write_table(path: str | os.PathLike, table: Table, cols: dict[str, list[float | None]]) -> Path:
    """The input rows with a column per proxy (named exactly as asked; an empty cell where a proxy
    failed), written atomically."""
    import io

    from explorer.fileio import atomic_write_text

    fields = table.fields + [n for n in cols if n not in table.fields]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for i, row in enumerate(table.rows):
        out = dict(row)
        for n, col in cols.items():
            v = col[i]
            out[n] = _cell(v)
        w.writerow(out)
    return atomic_write_text(path, buf.getvalue())


def _cell(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return ""
    if float(v).is_integer() and abs(v) < 2**53:
        return str(int(v))  # counts (params, MACs, GradSign) print as integers
    return repr(float(v))
