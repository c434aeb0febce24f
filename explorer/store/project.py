"""A project file: candidates, metrics, jobs, logs, checkpoints and settings, one SQLite connection per
thread, every SQLite failure turned into our own error (see the package docstring)."""

from __future__ import annotations

import functools
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

if TYPE_CHECKING:  # the architecture package pulls in torch: import it only where a graph is used
    from ..arch import ArchGraph

from .errors import ProjectDamagedError, ProjectLockedError, StoreError, _cap
from .inspect import inspect_project
from .schema import APP_ID, DEFAULT_TIMEOUT_S, MIGRATIONS, SCHEMA_VERSION, _now


def _guarded(method):
    """Turn any SQLite failure of a Project method into our own error naming the file."""

    @functools.wraps(method)
    def wrapper(self: Project, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as e:
            raise self._error(e) from e

    return wrapper


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
        from ..arch import from_json

        return from_json(self.arch_json)


class Project:
    """A project file. Open it from any thread; each thread uses its own SQLite connection.

    `timeout`: how long a write waits for another program's write lock before it raises
    ProjectLockedError (the GUI uses a short one and retries on the user's word)."""

    def __init__(self, path: str | Path, *, timeout: float = DEFAULT_TIMEOUT_S):
        self.path = Path(path)
        self.timeout = float(timeout)
        self._local = threading.local()
        self._lock = threading.Lock()
        if not self.path.exists():
            self._create()
        if self.path.exists():
            version, wal = inspect_project(self.path)
        else:  # the folder takes no hard links: build the project in place
            version, wal = 0, False
        try:
            db = self.db
            if not wal:
                db.execute("PRAGMA journal_mode=WAL")
            if version < SCHEMA_VERSION:
                self._upgrade(db)
        except sqlite3.Error as e:
            self.close()
            raise self._error(e) from e
        except BaseException:
            self.close()
            raise

    def _create(self) -> None:
        """Build a complete new project in a hidden file and hard-link it into place: a concurrent
        opener sees no file or a whole project, never a half-made one; the loser of a race opens
        the winner's file. Where hard links are refused, the caller builds it in place."""
        parent = self.path.parent
        if not parent.is_dir():
            raise StoreError(f"cannot create project {self.path}: no folder {parent}")
        tmp = parent / f".{self.path.name}.{secrets.token_hex(6)}.new"
        try:
            conn = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                db = sqlite_utils.Database(conn)
                for v in range(1, SCHEMA_VERSION + 1):
                    MIGRATIONS[v](db)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id={APP_ID}")
                conn.execute("COMMIT")
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: open theirs
            except OSError:
                pass  # no hard links here (FAT, some network shares): built in place by the caller
        except sqlite3.Error as e:
            raise StoreError(f"cannot create project {self.path} ({e})") from e
        except OSError as e:
            raise StoreError(f"cannot create project {self.path} ({e.strerror or e})") from e
        finally:
            for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
                p.unlink(missing_ok=True)

    # -- connection per thread ------------------------------------------------------------------
    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's raw sqlite-utils handle (its errors are raw sqlite3 ones: prefer methods)."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(
                str(self.path), timeout=self.timeout, check_same_thread=False, isolation_level=None
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def close(self) -> None:
        """Close this thread's connection (a later call reconnects)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    def _error(self, e: sqlite3.Error) -> StoreError:
        msg = str(e) or e.__class__.__name__
        low = msg.lower()
        if "locked" in low or "busy" in low:
            return ProjectLockedError(self.path, self.timeout)
        if "malformed" in low or "not a database" in low or "corrupt" in low:
            return ProjectDamagedError(self.path, msg)
        if "readonly" in low or "read-only" in low:
            return StoreError(f"project {self.path} cannot be written ({_cap(msg)})")
        return StoreError(f"project {self.path}: {_cap(msg)}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """Group writes: all of them land or none (a retried group never lands twice). Takes the
        write lock at once (BEGIN IMMEDIATE, waiting up to `timeout`); nested use joins the outer."""
        try:
            db = self.db
        except sqlite3.Error as e:
            raise self._error(e) from e
        conn = db.conn
        if conn.in_transaction:
            yield db
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise self._error(e) from e
        try:
            yield db
            conn.execute("COMMIT")
        except BaseException as e:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the failure already ended the transaction
            if isinstance(e, sqlite3.Error):
                raise self._error(e) from e
            raise

    @_guarded
    def save_as(self, path: str | Path) -> Project:
        """Copy the whole project (consistent snapshot via SQLite's backup API) and open the copy."""
        dst = sqlite3.connect(str(path))
        try:
            self.db.conn.backup(dst)
        finally:
            dst.close()
        return Project(path, timeout=self.timeout)

    @_guarded
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _upgrade(self, db: sqlite_utils.Database) -> None:
        """Migrate under the write lock, re-reading the version inside the transaction: of several
        processes opening one old project at once, the first migrates and the others find it done."""
        with self._lock, self.transaction():
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: project schema v{version} is newer than this app (v{SCHEMA_VERSION})"
                )
            if version == SCHEMA_VERSION:
                return
            for v in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[v](db)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute(f"PRAGMA application_id={APP_ID}")

    # -- candidates -----------------------------------------------------------------------------
    @_guarded
    def add_candidate(
        self,
        graph: ArchGraph,
        name: str | None = None,
        tags: Iterable[str] = (),
        notes: str = "",
        parent_id: int | None = None,
        weights_path: str | None = None,
    ) -> int:
        from ..arch import to_json

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
        with self.transaction() as db:
            return db["candidates"].insert(row).last_pk

    @_guarded
    def update_candidate(self, cid: int, graph: ArchGraph | None = None, **fields) -> None:
        upd = dict(fields)
        if "tags" in upd and not isinstance(upd["tags"], str):
            upd["tags"] = ",".join(upd["tags"])
        if graph is not None:
            from ..arch import to_json

            upd["arch"] = to_json(graph, indent=None)
            upd["space"] = graph.meta.get("space")
            upd["config"] = (
                json.dumps(graph.meta.get("config")) if graph.meta.get("config") is not None else None
            )
        upd["modified"] = _now()
        with self.transaction() as db:
            db["candidates"].update(cid, upd)

    @_guarded
    def delete_candidate(self, cid: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM metrics WHERE candidate_id = ?", [cid])
            db["candidates"].delete(cid)

    @_guarded
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

    @_guarded
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

    @_guarded
    def count_candidates(self) -> int:
        return self.db["candidates"].count

    @_guarded
    def candidate_rows(self) -> list[tuple]:
        """(id, name, space, tags) of every candidate, by id: what a table shows, without reading
        10,000 architecture JSONs."""
        return self.db.execute("SELECT id, name, space, tags FROM candidates ORDER BY id").fetchall()

    @_guarded
    def metric_rows(self) -> list[tuple]:
        """(candidate id, "kind:name", value) of every metric row in insertion order (the latest wins)."""
        return self.db.execute(
            "SELECT candidate_id, kind || ':' || name, value FROM metrics ORDER BY id"
        ).fetchall()

    # -- metrics --------------------------------------------------------------------------------
    @_guarded
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
        with self.transaction() as db:
            if replace:
                db.execute(
                    "DELETE FROM metrics WHERE candidate_id = ? AND kind = ? AND name = ?", [cid, kind, name]
                )
            db["metrics"].insert(row)

    @_guarded
    def metrics(self, cid: int) -> list[dict]:
        rows = self.db["metrics"].rows_where("candidate_id = ?", [cid], order_by="id")
        return [dict(r, settings=json.loads(r["settings"] or "{}")) for r in rows]

    @_guarded
    def metric_table(self) -> dict[int, dict[str, float | None]]:
        """{candidate id: {"kind:name": latest value}} for tables and plots."""
        out: dict[int, dict[str, float | None]] = {}
        for cid, key, value in self.metric_rows():
            out.setdefault(cid, {})[key] = value
        return out

    # -- jobs -----------------------------------------------------------------------------------
    @_guarded
    def add_job(self, kind: str, params: dict, run_dir: str | None = None) -> int:
        row = {
            "kind": kind,
            "status": "queued",
            "params": json.dumps(params),
            "progress": "{}",
            "run_dir": run_dir,
            "created": _now(),
        }
        with self.transaction() as db:
            return db["jobs"].insert(row).last_pk

    @_guarded
    def update_job(self, jid: int, **fields) -> None:
        for key in ("params", "progress", "result"):
            if key in fields and not isinstance(fields[key], str):
                fields[key] = json.dumps(fields[key])
        with self.transaction() as db:
            db["jobs"].update(jid, fields)

    @_guarded
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

    @_guarded
    def jobs(self, status: str | None = None) -> list[dict]:
        where = "status = ?" if status else None
        return [
            self._job(r) for r in self.db["jobs"].rows_where(where, [status] if status else [], order_by="id")
        ]

    @_guarded
    def log(self, jid: int, line: str) -> None:
        with self.transaction() as db:
            db["job_logs"].insert({"job_id": jid, "ts": _now(), "line": line})

    @_guarded
    def logs(self, jid: int) -> list[str]:
        return [r["line"] for r in self.db["job_logs"].rows_where("job_id = ?", [jid], order_by="id")]

    @_guarded
    def add_checkpoint(self, path: str, *, job_id=None, candidate_id=None, phase="", step=0) -> int:
        row = {
            "job_id": job_id,
            "candidate_id": candidate_id,
            "path": path,
            "phase": phase,
            "step": step,
            "created": _now(),
        }
        with self.transaction() as db:
            return db["checkpoints"].insert(row).last_pk

    @_guarded
    def checkpoints(self, job_id: int | None = None) -> list[dict]:
        where = "job_id = ?" if job_id is not None else None
        return list(
            self.db["checkpoints"].rows_where(where, [job_id] if job_id is not None else [], order_by="id")
        )

    # -- settings -------------------------------------------------------------------------------
    @_guarded
    def set_setting(self, key: str, value) -> None:
        with self.transaction() as db:
            db["settings"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    @_guarded
    def setting(self, key: str, default=None):
        try:
            return json.loads(self.db["settings"].get(key)["value"])
        except sqlite_utils.db.NotFoundError:
            return default
