"""The project schema: its version, application id, tables and the migrations that build them."""

from __future__ import annotations

import time

import sqlite_utils

SCHEMA_VERSION = 2
APP_ID = 0x4E415358  # "NASX" in the header's application_id: this file is a NAS Explorer project
DEFAULT_TIMEOUT_S = 30.0
_READ_TIMEOUT_S = 5.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
_TABLES = ("candidates", "metrics", "jobs", "job_logs", "checkpoints", "settings")


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
