"""The project database: one SQLite file per project (sqlite-utils, WAL mode).

Holds candidates (architecture JSON, space and native config, name, tags, notes, lineage,
weights), their metrics (proxy values with the settings used, latency per device with method
and device-file version, accuracy estimates), background jobs with their logs, and checkpoints.
Every write commits at once, so a killed app loses at most the edit in flight; each thread gets
its own connection, so worker threads can record results concurrently. Plain tables and JSON
text columns: any SQLite tool (Datasette, sqlite3) can browse it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from .arch import ArchGraph, from_json, to_json
from .errors import ExplorerError

SCHEMA_VERSION = 2


class StoreError(ExplorerError):
    """The project file cannot be opened or is from a newer app."""


def _now() -> float:
    return time.time()


def _migrate_1(db: sqlite_utils.Database) -> None:
    db["candidates"].create(
        {
            "id": int,
            "name": str,
            "space": str,
            "config": str,
            "arch": str,
            "tags": str,
            "notes": str,
            "parent_id": int,
            "weights_path": str,
            "created": float,
            "modified": float,
        },
        pk="id",
    )
    db["metrics"].create(
        {
            "id": int,
            "candidate_id": int,
            "kind": str,  # complexity | proxy | latency | accuracy
            "name": str,  # params, macs, zen, gradsign, a device name, an estimator name
            "value": float,
            "unit": str,
            "method": str,
            "settings": str,
            "device_version": str,
            "created": float,
        },
        pk="id",
        foreign_keys=[("candidate_id", "candidates", "id")],
    )
    db["metrics"].create_index(["candidate_id", "kind", "name"])
    db["jobs"].create(
        {
            "id": int,
            "kind": str,
            "status": str,  # queued | running | done | failed | cancelled | interrupted
            "params": str,
            "progress": str,
            "result": str,
            "error": str,
            "pid": int,
            "run_dir": str,
            "created": float,
            "started": float,
            "finished": float,
        },
        pk="id",
    )
    db["job_logs"].create(
        {"id": int, "job_id": int, "ts": float, "line": str},
        pk="id",
        foreign_keys=[("job_id", "jobs", "id")],
    )
    db["job_logs"].create_index(["job_id"])
    db["checkpoints"].create(
        {
            "id": int,
            "job_id": int,
            "candidate_id": int,
            "path": str,
            "phase": str,
            "step": int,
            "created": float,
        },
        pk="id",
    )


def _migrate_2(db: sqlite_utils.Database) -> None:
    """v2: a free-form key/value table for project settings (selected devices, live settings)."""
    db["settings"].create({"key": str, "value": str}, pk="key")


MIGRATIONS = {1: _migrate_1, 2: _migrate_2}


@dataclass
class Candidate:
    id: int
    name: str
    space: str | None
    config: dict | None
    arch_json: str
    tags: list[str]
    notes: str
    parent_id: int | None
    weights_path: str | None
    created: float
    modified: float

    @property
    def graph(self) -> ArchGraph:
        return from_json(self.arch_json)


class Project:
    """A project file. Open it from any thread; each thread uses its own SQLite connection."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        try:
            db = self.db
            db.execute("PRAGMA journal_mode=WAL")
            self._upgrade(db)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: not a NAS Explorer project ({e})") from None

    # -- connection per thread ------------------------------------------------------------------
    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(
                str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    def save_as(self, path: str | Path) -> Project:
        """Copy the whole project (consistent snapshot via SQLite's backup API) and open the copy."""
        dst = sqlite3.connect(str(path))
        try:
            self.db.conn.backup(dst)
        finally:
            dst.close()
        return Project(path)

    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _upgrade(self, db: sqlite_utils.Database) -> None:
        with self._lock:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: project schema v{version} is newer than this app (v{SCHEMA_VERSION})"
                )
            for v in range(version + 1, SCHEMA_VERSION + 1):
                db.execute("BEGIN IMMEDIATE")
                try:
                    MIGRATIONS[v](db)
                    db.execute(f"PRAGMA user_version={v}")
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise

    # -- candidates -----------------------------------------------------------------------------
    def add_candidate(
        self,
        graph: ArchGraph,
        name: str | None = None,
        tags: Iterable[str] = (),
        notes: str = "",
        parent_id: int | None = None,
        weights_path: str | None = None,
    ) -> int:
        now = _now()
        row = {
            "name": name or graph.name or "candidate",
            "space": graph.meta.get("space"),
            "config": json.dumps(graph.meta.get("config")) if graph.meta.get("config") is not None else None,
            "arch": to_json(graph, indent=None),
            "tags": ",".join(t.strip() for t in tags if t.strip()),
            "notes": notes,
            "parent_id": parent_id,
            "weights_path": weights_path,
            "created": now,
            "modified": now,
        }
        return self.db["candidates"].insert(row).last_pk

    def update_candidate(self, cid: int, graph: ArchGraph | None = None, **fields) -> None:
        upd = dict(fields)
        if "tags" in upd and not isinstance(upd["tags"], str):
            upd["tags"] = ",".join(upd["tags"])
        if graph is not None:
            upd["arch"] = to_json(graph, indent=None)
            upd["space"] = graph.meta.get("space")
            upd["config"] = (
                json.dumps(graph.meta.get("config")) if graph.meta.get("config") is not None else None
            )
        upd["modified"] = _now()
        self.db["candidates"].update(cid, upd)

    def delete_candidate(self, cid: int) -> None:
        self.db.execute("DELETE FROM metrics WHERE candidate_id = ?", [cid])
        self.db["candidates"].delete(cid)

    def candidate(self, cid: int) -> Candidate:
        try:
            return self._candidate(self.db["candidates"].get(cid))
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"no candidate {cid}") from None

    @staticmethod
    def _candidate(r: dict) -> Candidate:
        return Candidate(
            id=r["id"],
            name=r["name"],
            space=r["space"],
            config=json.loads(r["config"]) if r["config"] else None,
            arch_json=r["arch"],
            tags=[t for t in (r["tags"] or "").split(",") if t],
            notes=r["notes"] or "",
            parent_id=r["parent_id"],
            weights_path=r["weights_path"],
            created=r["created"],
            modified=r["modified"],
        )

    def candidates(self, text: str | None = None, space: str | None = None) -> list[Candidate]:
        where, args = [], []
        if text:
            where.append("(name LIKE ? OR tags LIKE ? OR notes LIKE ?)")
            args += [f"%{text}%"] * 3
        if space:
            where.append("space = ?")
            args.append(space)
        rows = self.db["candidates"].rows_where(" AND ".join(where) or None, args, order_by="id")
        return [self._candidate(r) for r in rows]

    def count_candidates(self) -> int:
        return self.db["candidates"].count

    # -- metrics --------------------------------------------------------------------------------
    def record_metric(
        self,
        cid: int,
        kind: str,
        name: str,
        value: float | None,
        *,
        unit: str = "",
        method: str = "",
        settings: dict | None = None,
        device_version: str = "",
        replace: bool = True,
    ) -> None:
        """Store one metric; with `replace`, an older value of the same (kind, name) is superseded."""
        row = {
            "candidate_id": cid,
            "kind": kind,
            "name": name,
            "value": None if value is None else float(value),
            "unit": unit,
            "method": method,
            "settings": json.dumps(settings or {}, sort_keys=True),
            "device_version": device_version,
            "created": _now(),
        }
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if replace:
                db.execute(
                    "DELETE FROM metrics WHERE candidate_id = ? AND kind = ? AND name = ?", [cid, kind, name]
                )
            db["metrics"].insert(row)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def metrics(self, cid: int) -> list[dict]:
        rows = self.db["metrics"].rows_where("candidate_id = ?", [cid], order_by="id")
        return [dict(r, settings=json.loads(r["settings"] or "{}")) for r in rows]

    def metric_table(self) -> dict[int, dict[str, float | None]]:
        """{candidate id: {"kind:name": latest value}} for tables and plots."""
        out: dict[int, dict[str, float | None]] = {}
        for r in self.db.execute(
            "SELECT candidate_id, kind, name, value FROM metrics ORDER BY id"
        ).fetchall():
            out.setdefault(r[0], {})[f"{r[1]}:{r[2]}"] = r[3]
        return out

    # -- jobs -----------------------------------------------------------------------------------
    def add_job(self, kind: str, params: dict, run_dir: str | None = None) -> int:
        row = {
            "kind": kind,
            "status": "queued",
            "params": json.dumps(params),
            "progress": "{}",
            "run_dir": run_dir,
            "created": _now(),
        }
        return self.db["jobs"].insert(row).last_pk

    def update_job(self, jid: int, **fields) -> None:
        for key in ("params", "progress", "result"):
            if key in fields and not isinstance(fields[key], str):
                fields[key] = json.dumps(fields[key])
        self.db["jobs"].update(jid, fields)

    def job(self, jid: int) -> dict:
        try:
            r = self.db["jobs"].get(jid)
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"no job {jid}") from None
        return self._job(r)

    @staticmethod
    def _job(r: dict) -> dict:
        out = dict(r)
        for key in ("params", "progress", "result"):
            out[key] = json.loads(r[key]) if r[key] else None
        return out

    def jobs(self, status: str | None = None) -> list[dict]:
        where = "status = ?" if status else None
        return [
            self._job(r) for r in self.db["jobs"].rows_where(where, [status] if status else [], order_by="id")
        ]

    def log(self, jid: int, line: str) -> None:
        self.db["job_logs"].insert({"job_id": jid, "ts": _now(), "line": line})

    def logs(self, jid: int) -> list[str]:
        return [r["line"] for r in self.db["job_logs"].rows_where("job_id = ?", [jid], order_by="id")]

    def add_checkpoint(self, path: str, *, job_id=None, candidate_id=None, phase="", step=0) -> int:
        row = {
            "job_id": job_id,
            "candidate_id": candidate_id,
            "path": path,
            "phase": phase,
            "step": step,
            "created": _now(),
        }
        return self.db["checkpoints"].insert(row).last_pk

    def checkpoints(self, job_id: int | None = None) -> list[dict]:
        where = "job_id = ?" if job_id is not None else None
        return list(
            self.db["checkpoints"].rows_where(where, [job_id] if job_id is not None else [], order_by="id")
        )

    # -- settings -------------------------------------------------------------------------------
    def set_setting(self, key: str, value) -> None:
        self.db["settings"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    def setting(self, key: str, default=None):
        try:
            return json.loads(self.db["settings"].get(key)["value"])
        except sqlite_utils.db.NotFoundError:
            return default
