"""Helpers of the project-store tests: the child-process side of the concurrency test (kept apart
from the test modules, whose imports pull in torch: eight spawned children import only this and
explorer.store) and a page-level damage of a real project file."""

from __future__ import annotations


def open_rounds(paths, barrier, results) -> None:
    """Open each path in turn, all children at once (a barrier per round); report what each saw."""
    from explorer.store import Project

    for path in paths:
        barrier.wait()
        try:
            p = Project(path)
            db = p.db
            seen = (
                p.schema_version(),
                db.execute("PRAGMA application_id").fetchone()[0],
                tuple(sorted(db.table_names())),
                db.execute("PRAGMA journal_mode").fetchone()[0],
            )
            p.close()
            results.put((path, "ok", seen))
        except Exception as e:  # noqa: BLE001 - every failure is counted by the test
            results.put((path, "error", f"{e.__class__.__name__}: {e}"))


def damage_a_page(path, table: str = "candidates", kind: str = "leaf", seed: int = 0) -> int:
    """Overwrite one page of `table`'s b-tree (the middle one of that kind) with random bytes, as a
    failing disk would; returns its page number. The file must be closed (no live WAL)."""
    import random
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)  # leaves no -wal/-shm behind
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [
            r[0]
            for r in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno", (table, kind)
            )
        ]
    finally:
        conn.close()
    assert pages, f"{table} has no {kind} page"
    page = pages[len(pages) // 2]
    with open(path, "r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(random.Random(seed).randbytes(page_size))
    return page
