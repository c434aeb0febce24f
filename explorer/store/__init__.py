"""The project database: one SQLite file per project (sqlite-utils, WAL mode).

Holds candidates (architecture JSON, space and native config, name, tags, notes, lineage,
weights), their metrics (proxy values with the settings used, latency per device with method
and device-file version, accuracy estimates), background jobs with their logs, and checkpoints.
Every write commits at once, so a killed app loses at most the edit in flight; each thread gets
its own connection, so worker threads can record results concurrently. Plain tables and JSON
text columns: any SQLite tool (Datasette, sqlite3) can browse it.

Opening never writes to a file it has not recognised: an existing file is first read through a
read-only connection (header, application id, tables, schema version, `PRAGMA quick_check`), so a
foreign SQLite file, a newer project or a damaged one is refused unchanged. A new project is built
in a hidden file beside it and hard-linked into place, so other processes see either no file or a
complete project; older projects are migrated inside one write transaction that re-reads the
schema version. A write that meets another program's write lock waits `timeout` seconds and then
raises `ProjectLockedError`; every other SQLite failure becomes a `StoreError` naming the file.
"""

from .errors import ProjectDamagedError, ProjectLockedError, StoreError
from .inspect import inspect_project
from .project import Candidate, Project
from .recovery import RecoveryReport, recover_project, recovered_path
from .schema import APP_ID, DEFAULT_TIMEOUT_S, SCHEMA_VERSION

__all__ = [
    "APP_ID",
    "DEFAULT_TIMEOUT_S",
    "SCHEMA_VERSION",
    "Candidate",
    "Project",
    "ProjectDamagedError",
    "ProjectLockedError",
    "RecoveryReport",
    "StoreError",
    "inspect_project",
    "recover_project",
    "recovered_path",
]
