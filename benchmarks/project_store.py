"""The project database under stress: concurrent first opens, the cost of the read-only check on
open, recovery of a damaged page, and a write against a held lock.

  - 8 processes (spawn) open one new project at once, for `--rounds` new files and one old (v1)
    project they all migrate at once: failed opens are counted (issue 15: 26 of 40 failed);
  - opening a project of `--n` candidates (nb201 architectures, ~22 KB each): `inspect_project`
    (header, tables, `PRAGMA quick_check`) and the whole `Project()` open, median of 5, warm cache;
  - one leaf page of the candidates table overwritten with random bytes: time of `recover_project`
    and what it got back;
  - `add_candidate` while another connection holds BEGIN IMMEDIATE: how long it waited before
    ProjectLockedError, for the timeout given.

    python benchmarks/project_store.py [--n 10000] [--rounds 5] [--lock-timeout 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path


def _opener(paths, barrier, results) -> None:
    from explorer.store import Project

    for path in paths:
        barrier.wait()
        try:
            p = Project(path)
            results.put((path, p.schema_version(), ""))
            p.close()
        except Exception as e:  # noqa: BLE001 - counted
            results.put((path, -1, f"{e.__class__.__name__}: {e}"))


def race(folder: Path, rounds: int, procs: int = 8) -> dict:
    from explorer.store import Project

    paths = [str(folder / f"new{r}.nasx") for r in range(rounds)]
    old = folder / "old.nasx"
    p = Project(old)
    p.db.execute("DROP TABLE settings")
    p.db.execute("PRAGMA user_version=1")
    p.close()
    paths.append(str(old))
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_opener, args=(paths, barrier, results)) for _ in range(procs)]
    for x in ps:
        x.start()
    seen = [results.get(timeout=600) for _ in range(procs * len(paths))]
    for x in ps:
        x.join()
    errors = sorted({r[2] for r in seen if r[2]})
    return {"opens": len(seen), "failed": sum(1 for r in seen if r[2]), "errors": errors[:3]}


def fill(path: Path, n: int) -> None:
    from explorer.spaces import get_space
    from explorer.store import Project

    p = Project(path)
    sp = get_space("nb201")
    graphs = [sp.encode(sp.sample(k)) for k in range(200)]
    with p.transaction():
        for k in range(n):
            cid = p.add_candidate(graphs[k % len(graphs)], name=f"c{k}")
            p.record_metric(cid, "proxy", "zen", float(k))
            p.record_metric(cid, "complexity", "params", float(k))
    p.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--lock-timeout", type=float, default=2.0)
    args = ap.parse_args()

    from explorer.store import Project, ProjectLockedError, inspect_project, recover_project

    sys_load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    out: dict = {"load": sys_load}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        out["race"] = race(d, args.rounds)

        big = d / "big.nasx"
        t = time.perf_counter()
        fill(big, args.n)
        out["fill_s"] = round(time.perf_counter() - t, 1)
        out["file_mb"] = round(big.stat().st_size / 1e6, 1)
        ins, opens = [], []
        for _ in range(5):
            t = time.perf_counter()
            inspect_project(big)
            ins.append(time.perf_counter() - t)
            t = time.perf_counter()
            Project(big).close()
            opens.append(time.perf_counter() - t)
        out["inspect_ms_median"] = round(1000 * statistics.median(ins), 1)
        out["open_ms_median"] = round(1000 * statistics.median(opens), 1)

        from tests.store_helpers import damage_a_page

        bad = d / "bad.nasx"
        shutil.copy(big, bad)
        damage_a_page(bad)
        t = time.perf_counter()
        report = recover_project(bad, d / "bad.recovered.nasx")
        out["recover_s"] = round(time.perf_counter() - t, 2)
        out["recovered"] = report.summary()

        p = Project(big, timeout=args.lock_timeout)
        other = sqlite3.connect(big, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        t = time.perf_counter()
        try:
            p.add_candidate(p.candidate(1).graph)
        except ProjectLockedError as e:
            out["lock"] = {"waited_s": round(time.perf_counter() - t, 2), "message": str(e)}
        finally:
            other.execute("ROLLBACK")
            other.close()
            p.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
