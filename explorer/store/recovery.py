"""Recovering a damaged project: copy every row that still reads into a new project."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StoreError, _cap
from .inspect import _connect_readonly, _header, _recognise, _table_columns
from .project import Project
from .schema import _SQLITE_MAGIC, _TABLES, APP_ID


@dataclass
class RecoveryReport:
    """What `recover_project` copied: rows per table, and the id ranges that no longer read."""

    source: Path
    copy: Path
    rows: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    orphans: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        got = ", ".join(f"{n} {t}" for t, n in self.rows.items() if n or t == "candidates")
        text = f"recovered {got} from {self.source.name} into {self.copy.name}"
        lost = [
            f"{t} ids " + ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in ranges[:4])
            for t, ranges in self.unreadable.items()
            if ranges
        ]
        if lost:
            text += "; unreadable: " + "; ".join(lost)
        dropped = [f"{n} {t} of lost rows" for t, n in self.orphans.items() if n]
        if dropped:
            text += "; dropped " + ", ".join(dropped)
        return text


_MAX_ROWID = 2**63 - 1


def _salvage(conn: sqlite3.Connection, table: str, cols: list[str]) -> tuple[list[tuple], list]:
    """Every row of `table` that still reads, by rowid: in chunks while pages read, one row at a
    time near damage, and past a page that does not read at all by finding the first rowid whose
    b-tree seek succeeds (doubling, then bisecting). Returns (rows, unreadable rowid ranges)."""
    sel = ", ".join(f'"{c}"' for c in cols)
    chunk_sql = f'SELECT rowid, {sel} FROM "{table}" WHERE rowid >= ? ORDER BY rowid LIMIT 256'
    next_sql = f'SELECT rowid FROM "{table}" WHERE rowid >= ? ORDER BY rowid LIMIT 1'
    one_sql = f'SELECT rowid, {sel} FROM "{table}" WHERE rowid = ?'

    def seeks(start: int) -> bool:
        try:
            conn.execute(next_sql, (start,)).fetchone()
            return True
        except sqlite3.DatabaseError:
            return False

    rows: list[tuple] = []
    lost: list[tuple[int, int]] = []
    start = -_MAX_ROWID
    for _ in range(1_000_000):  # every pass moves `start` forward; the bound guards a corrupt b-tree
        try:
            chunk = conn.execute(chunk_sql, (start,)).fetchall()
        except sqlite3.DatabaseError:
            chunk = None
        if chunk is not None:
            if not chunk:
                break
            rows += chunk
            start = max(start, chunk[-1][0]) + 1
            continue
        try:
            nxt = conn.execute(next_sql, (start,)).fetchone()
        except sqlite3.DatabaseError:  # the page holding the next rowid does not read
            step = 1
            while start + step <= _MAX_ROWID and not seeks(start + step):
                step *= 2
            if start + step > _MAX_ROWID:
                lost.append((start, _MAX_ROWID))
                break
            lo, hi = start + step // 2, start + step  # seek fails at lo (or lo is start), works at hi
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if seeks(mid) else (mid, hi)
            lost.append((max(start, 1), hi - 1))
            start = hi
            continue
        if nxt is None:
            break
        rid = max(nxt[0], start)
        try:
            row = conn.execute(one_sql, (rid,)).fetchone()
            if row is not None:
                rows.append(row)
        except sqlite3.DatabaseError:
            lost.append((rid, rid))
        start = rid + 1
    return rows, lost


def recovered_path(src: str | Path) -> Path:
    """A free name beside `src` for its recovered copy: x.recovered.nasx, x.recovered-2.nasx, ..."""
    src = Path(src)
    for k in range(1, 10_000):
        p = src.with_name(f"{src.stem}.recovered{'' if k == 1 else f'-{k}'}{src.suffix or '.nasx'}")
        if not p.exists():
            return p
    raise StoreError(f"no free name for a recovered copy of {src}")


def recover_project(src: str | Path, dst: str | Path) -> RecoveryReport:
    """Copy the rows of a (damaged) project that still read into a new project `dst`, reading
    `src` through a read-only connection (it is never written). Ids are kept, so metrics, logs and
    lineage still point at their rows; metrics and logs of rows that were lost are dropped."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise StoreError(f"cannot recover into {dst}: the file exists")
    try:
        head = _header(src)
    except OSError as e:
        raise StoreError(f"{src}: cannot read it ({e.strerror or e})") from None
    if not head.startswith(_SQLITE_MAGIC):
        raise StoreError(f"{src}: not an SQLite database, nothing to recover")
    app_id = int.from_bytes(head[68:72], "big")
    if app_id not in (0, APP_ID):
        raise StoreError(f"{src}: not a NAS Explorer project (application id {app_id:#010x})")
    try:
        conn = _connect_readonly(src)
    except sqlite3.Error as e:
        raise StoreError(f"{src}: cannot read it ({e})") from e
    try:
        try:
            _recognise(src, conn, app_id)
            tables = _table_columns(conn)
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"{src}: its list of tables does not read ({_cap(e)}), nothing to recover; "
                "the sqlite3 tool's .recover may find more"
            ) from e
        out = Project(dst)
        report = RecoveryReport(src, dst)
        kept: dict[str, set] = {}
        try:
            with out.transaction() as db:
                for table in _TABLES:
                    if table not in tables:
                        continue
                    cols = [c for c in db[table].columns_dict if c in tables[table]]
                    rows, lost = _salvage(conn, table, cols)
                    parent = {"metrics": ("candidate_id", "candidates"), "job_logs": ("job_id", "jobs")}
                    if table in parent:
                        col, ptable = parent[table]
                        j = cols.index(col) + 1
                        keep = [r for r in rows if r[j] is None or r[j] in kept.get(ptable, set())]
                        report.orphans[table] = len(rows) - len(keep)
                        rows = keep
                    kept[table] = {r[cols.index("id") + 1] for r in rows} if "id" in cols else set()
                    names = ", ".join(f'"{c}"' for c in cols)
                    marks = ", ".join("?" for _ in cols)
                    db.conn.executemany(
                        f'INSERT OR REPLACE INTO "{table}" ({names}) VALUES ({marks})', [r[1:] for r in rows]
                    )
                    report.rows[table] = len(rows)
                    report.unreadable[table] = lost
        finally:
            out.close()
    finally:
        conn.close()
    return report
