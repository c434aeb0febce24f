"""Looking at a project file without writing to it: recognise ours, refuse foreign, newer or damaged files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import ProjectDamagedError, ProjectLockedError, StoreError, _cap
from .schema import _READ_TIMEOUT_S, _SQLITE_MAGIC, APP_ID, SCHEMA_VERSION


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file or leave files beside it: `immutable` when no WAL
    file exists (a read-only WAL connection would create -wal/-shm), `mode=ro` otherwise (a live
    WAL belongs to the file's state, and its readers take the normal locks)."""
    wal_mode = _header(path)[18] == 2
    live_wal = Path(f"{path}-wal").exists()
    query = "immutable=1" if wal_mode and not live_wal else "mode=ro"
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?{query}", uri=True, isolation_level=None, timeout=_READ_TIMEOUT_S
    )


def _header(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(100)


def _table_columns(conn: sqlite3.Connection) -> dict[str, set[str]]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    quoted = {n: n.replace('"', '""') for n in names}
    return {n: {r[1] for r in conn.execute(f'PRAGMA table_info("{quoted[n]}")')} for n in names}


def _recognise(path: Path, conn: sqlite3.Connection, app_id: int) -> int:
    """The schema version of a file that is one of ours; StoreError for anything else."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app_id != APP_ID:  # projects written before the application id was set: known by their tables
        tables = _table_columns(conn)
        if not {"id", "arch"} <= tables.get("candidates", set()):
            what = (
                f"tables {', '.join(sorted(tables)[:6])}{', …' if len(tables) > 6 else ''}"
                if tables
                else "no tables"
            )
            raise StoreError(f"{path}: not a NAS Explorer project (an SQLite database with {_cap(what)})")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: project schema v{version} is newer than this app (v{SCHEMA_VERSION})")
    return version


def inspect_project(path: str | Path) -> tuple[int, bool]:
    """(schema version, in WAL mode) of an existing project file, read without writing to it.

    Raises StoreError for an empty, unreadable, non-SQLite or foreign file and a newer schema, and
    ProjectDamagedError when `PRAGMA quick_check` finds damaged pages. An `immutable` read takes
    no locks, so it is trusted only if the file did not change meanwhile (another process opening
    it, a checkpoint at its close): otherwise it looks again, then with a live WAL and locks."""
    path = Path(path)
    for _ in range(3):
        before = _snapshot(path)
        try:
            return _inspect_once(path)
        except StoreError:
            if _snapshot(path) == before:
                raise
    return _inspect_once(path)


def _snapshot(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return ()
    return st.st_mtime_ns, st.st_size, Path(f"{path}-wal").exists()


def _inspect_once(path: Path) -> tuple[int, bool]:
    try:
        size = path.stat().st_size
        head = _header(path)
    except IsADirectoryError:
        raise StoreError(f"{path}: a folder, not a NAS Explorer project") from None
    except OSError as e:
        raise StoreError(f"{path}: cannot read it ({e.strerror or e})") from None
    if size == 0:
        raise StoreError(f"{path}: an empty file, not a NAS Explorer project")
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise StoreError(f"{path}: not a NAS Explorer project (not an SQLite database)")
    app_id = int.from_bytes(head[68:72], "big")
    if app_id not in (0, APP_ID):
        raise StoreError(
            f"{path}: not a NAS Explorer project (an SQLite database of another program, "
            f"application id {app_id:#010x})"
        )
    try:
        conn = _connect_readonly(path)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot read it ({e})") from e
    try:
        version = _recognise(path, conn, app_id)
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e).lower():
            raise ProjectLockedError(path, _READ_TIMEOUT_S) from e
        raise ProjectDamagedError(path, str(e)) from e
    finally:
        conn.close()
    if problems != ["ok"]:
        lines = [ln for p in problems for ln in p.splitlines() if ln.strip() and not ln.startswith("***")]
        raise ProjectDamagedError(path, lines[0] if lines else "quick_check failed")
    return version, head[18] == 2
