"""The project database: real SQLite file, concurrent writers, migrations, crash safety."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time

import pytest

from explorer.errors import ExplorerError
from explorer.spaces import get_space
from explorer.store import (
    APP_ID,
    SCHEMA_VERSION,
    Project,
    ProjectDamagedError,
    ProjectLockedError,
    StoreError,
    recover_project,
    recovered_path,
)
from tests.store_helpers import damage_a_page, open_rounds

TABLES = ("candidates", "checkpoints", "job_logs", "jobs", "metrics", "settings")


def graph(seed=0):
    sp = get_space("nb201")
    return sp.encode(sp.sample(seed))


def test_candidates_round_trip_and_filter(tmp_path):
    p = Project(tmp_path / "p.nasx")
    a = p.add_candidate(graph(1), name="alpha", tags=["fast", "mobile"], notes="first")
    b = p.add_candidate(graph(2), name="beta", tags=["slow"], parent_id=a)
    assert p.candidate(a).graph == graph(1)
    assert p.candidate(b).parent_id == a
    assert [c.name for c in p.candidates(text="fast")] == ["alpha"]
    assert [c.name for c in p.candidates(space="nb201")] == ["alpha", "beta"]
    p.update_candidate(a, tags=["edge"], notes="changed")
    assert p.candidate(a).tags == ["edge"]
    p.delete_candidate(b)
    assert p.count_candidates() == 1
    with pytest.raises(StoreError):
        p.candidate(b)


def test_metrics_keep_settings_and_supersede(tmp_path):
    p = Project(tmp_path / "p.nasx")
    c = p.add_candidate(graph())
    p.record_metric(c, "proxy", "zen", 10.0, settings={"batch_size": 16, "bn_variance": "running"})
    p.record_metric(c, "proxy", "zen", 11.0, settings={"batch_size": 64})
    p.record_metric(c, "latency", "note10", 20.5, unit="ms", method="lut", device_version="1")
    rows = p.metrics(c)
    assert [(r["name"], r["value"]) for r in rows] == [("zen", 11.0), ("note10", 20.5)]
    assert rows[0]["settings"] == {"batch_size": 64}
    assert p.metric_table() == {c: {"proxy:zen": 11.0, "latency:note10": 20.5}}


def test_concurrent_writes_from_four_threads_lose_no_rows(tmp_path):
    p = Project(tmp_path / "p.nasx")
    cids = [p.add_candidate(graph(k)) for k in range(4)]
    errors = []

    def worker(k):
        try:
            for i in range(150):
                p.record_metric(cids[k], "proxy", f"m{i}", float(i))
                if i % 50 == 0:
                    p.add_candidate(graph(k), name=f"t{k}-{i}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert p.db["metrics"].count == 600
    assert p.count_candidates() == 4 + 12


def test_jobs_logs_checkpoints_settings(tmp_path):
    p = Project(tmp_path / "p.nasx")
    j = p.add_job("train", {"epochs": 1})
    p.update_job(j, status="running", progress={"step": 3})
    p.log(j, "step 3 loss 2.1")
    p.add_checkpoint("/tmp/x.pt", job_id=j, phase="kernel", step=3)
    assert p.job(j)["progress"] == {"step": 3}
    assert p.logs(j) == ["step 3 loss 2.1"]
    assert p.checkpoints(j)[0]["phase"] == "kernel"
    assert [x["id"] for x in p.jobs("running")] == [j]
    p.set_setting("devices", ["a", "b"])
    assert Project(tmp_path / "p.nasx").setting("devices") == ["a", "b"]


def test_migrates_an_old_schema_and_refuses_a_newer_one(tmp_path):
    path = tmp_path / "old.nasx"
    p = Project(path)
    p.db.execute("DROP TABLE settings")
    p.db.execute("PRAGMA user_version=1")
    p.close()
    p2 = Project(path)
    assert p2.schema_version() == SCHEMA_VERSION
    assert "settings" in p2.db.table_names()
    p2.db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    p2.close()
    with pytest.raises(StoreError, match="newer than this app"):
        Project(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.nasx"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a NAS Explorer project"):
        Project(bad)


def test_killed_writer_loses_at_most_the_edit_in_flight(tmp_path):
    path = tmp_path / "p.nasx"
    Project(path).close()
    code = (
        "import sys, time\n"
        "from explorer.store import Project\n"
        "from explorer.spaces import get_space\n"
        f"p = Project({str(path)!r})\n"
        "sp = get_space('nb201')\n"
        "i = 0\n"
        "while True:\n"
        "    p.add_candidate(sp.encode(sp.sample(i)), name=f'c{i}')\n"
        "    i += 1\n"
        "    print(i, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    last = 0
    t0 = time.time()
    while last < 20 and time.time() - t0 < 120:
        last = int(proc.stdout.readline() or last)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    p = Project(path)
    n = p.count_candidates()
    assert n >= last  # every acknowledged write survived
    assert p.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    names = [c.name for c in p.candidates()]
    assert names == [f"c{i}" for i in range(n)]
    sqlite3.connect(path).execute("SELECT count(*) FROM candidates").fetchone()


# -- hardening: concurrent opens, locks, foreign and damaged files -------------------------------
def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def folder(path) -> list[str]:
    return sorted(os.listdir(path))


def one_line(e: BaseException) -> str:
    text = str(e)
    assert text and "\n" not in text and len(text) < 400, text
    return text


def test_eight_processes_opening_one_new_project_at_once_all_succeed(tmp_path):
    """The race of issue 15: 26 of 40 opens failed with "table candidates already exists"."""
    paths = [str(tmp_path / f"new{r}.nasx") for r in range(4)]
    old = tmp_path / "old.nasx"  # and a v1 project of before the application id, migrated by all at once
    p = Project(old)
    p.db.execute("DROP TABLE settings")
    p.db.execute("PRAGMA user_version=1")
    p.db.execute("PRAGMA application_id=0")
    p.close()
    paths.append(str(old))
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=open_rounds, args=(paths, barrier, results)) for _ in range(8)]
    for proc in procs:
        proc.start()
    try:
        seen = [results.get(timeout=300) for _ in range(8 * len(paths))]
    finally:
        for proc in procs:
            proc.join(timeout=60)
    errors = [r for r in seen if r[1] != "ok"]
    assert errors == []
    assert {r[2] for r in seen} == {(SCHEMA_VERSION, APP_ID, TABLES, "wal")}
    assert sorted(r[0] for r in seen) == sorted(paths * 8)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".new")]  # no half-built files left


def test_a_new_project_gets_the_users_normal_file_mode(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "p.nasx"
    Project(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    with pytest.raises(StoreError, match="no folder"):
        Project(tmp_path / "missing" / "p.nasx")


def test_a_write_lock_held_elsewhere_is_a_clear_error_after_the_wait_given(tmp_path):
    path = tmp_path / "p.nasx"
    p = Project(path, timeout=0.3)
    cid = p.add_candidate(graph(1))
    jid = p.add_job("train", {})
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    writes = {
        "add_candidate": lambda: p.add_candidate(graph(2)),
        "update_candidate": lambda: p.update_candidate(cid, notes="x"),
        "delete_candidate": lambda: p.delete_candidate(cid),
        "record_metric": lambda: p.record_metric(cid, "proxy", "zen", 1.0),
        "add_job": lambda: p.add_job("train", {}),
        "update_job": lambda: p.update_job(jid, status="running"),
        "log": lambda: p.log(jid, "line"),
        "add_checkpoint": lambda: p.add_checkpoint("x.pt", job_id=jid),
        "set_setting": lambda: p.set_setting("k", 1),
    }
    try:
        for name, write in writes.items():
            with pytest.raises(ProjectLockedError) as e:
                write()
            assert isinstance(e.value, ExplorerError) and not isinstance(e.value, sqlite3.Error), name
            text = one_line(e.value)
            assert str(path) in text and "locked by another program" in text and "try again" in text
        # reads go on meanwhile (WAL)
        assert p.count_candidates() == 1 and p.candidate(cid).graph == graph(1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert p.add_candidate(graph(2)) == cid + 1  # the lock gone, writes land again


def test_sqlite_failures_of_the_store_are_our_own_errors(tmp_path):
    p = Project(tmp_path / "p.nasx")
    with pytest.raises(StoreError) as e:
        p.record_metric(999, "proxy", "zen", 1.0)  # no such candidate (foreign key)
    assert "FOREIGN KEY" in one_line(e.value)
    with pytest.raises(StoreError, match="no candidate 5"):
        p.candidate(5)


def test_a_transaction_lands_all_or_nothing(tmp_path):
    p = Project(tmp_path / "p.nasx")
    with pytest.raises(RuntimeError), p.transaction():
        cid = p.add_candidate(graph())
        p.record_metric(cid, "proxy", "zen", 1.0)
        raise RuntimeError("the rest failed")
    assert p.count_candidates() == 0 and p.metric_table() == {}
    with p.transaction():
        cid = p.add_candidate(graph())
        p.record_metric(cid, "proxy", "zen", 1.0)
    assert p.metric_table() == {cid: {"proxy:zen": 1.0}}


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_foreign_sqlite_file_is_refused_and_left_byte_identical(tmp_path, journal):
    path = tmp_path / "other.db"
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA journal_mode={journal}")
    c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    c.execute('CREATE TABLE "odd ""name""\nwith a newline" (x)')  # names come from the file: quoted, one line
    c.execute("INSERT INTO notes (text) VALUES ('keep me')")
    c.commit()
    c.close()
    before, files = sha256(path), folder(tmp_path)
    with pytest.raises(StoreError, match="not a NAS Explorer project") as e:
        Project(path)
    assert "tables notes" in one_line(e.value)
    assert sha256(path) == before and folder(tmp_path) == files  # no -wal/-shm/-journal either
    c = sqlite3.connect(path)
    c.execute("PRAGMA application_id=1234")  # another program's id: refused from the header alone
    c.commit()
    c.close()
    before = sha256(path)
    with pytest.raises(StoreError, match="application id 0x000004d2"):
        Project(path)
    assert sha256(path) == before and folder(tmp_path) == files


def _project_file(path, n=24):
    p = Project(path)
    for k in range(n):
        cid = p.add_candidate(graph(k), name=f"c{k}")
        p.record_metric(cid, "proxy", "zen", float(k))
    p.close()
    return path


def _corrupt(kind, path):
    if kind == "garbage":
        path.write_bytes(random.Random(1).randbytes(8192))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "foreign":
        c = sqlite3.connect(path)
        c.execute("CREATE TABLE t (x)")
        c.commit()
        c.close()
    else:
        _project_file(path)
        if kind == "truncated":
            os.truncate(path, path.stat().st_size // 2)
        elif kind == "newer":
            c = sqlite3.connect(path)
            c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
            c.commit()
            c.close()
        elif kind == "damaged":
            damage_a_page(path)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("garbage", "not an SQLite database"),
        ("truncated", "is damaged"),
        ("empty", "an empty file"),
        ("foreign", "not a NAS Explorer project"),
        ("newer", "newer than this app"),
        ("damaged", "is damaged"),
    ],
)
def test_a_corrupt_project_file_is_a_one_line_error_and_stays_unchanged(tmp_path, kind, message):
    path = tmp_path / f"{kind}.nasx"
    _corrupt(kind, path)
    before, files = sha256(path), folder(tmp_path)
    with pytest.raises(StoreError) as e:
        Project(path)
    text = one_line(e.value)
    assert message in text and str(path) in text
    assert sha256(path) == before and folder(tmp_path) == files


def test_a_damaged_page_is_refused_and_a_recovered_copy_keeps_what_still_reads(tmp_path):
    path = _project_file(tmp_path / "p.nasx", n=30)
    p = Project(path)
    originals = {c.id: c.arch_json for c in p.candidates()}
    jid = p.add_job("train", {"epochs": 1})
    p.log(jid, "step 1")
    p.set_setting("devices", ["a"])
    p.close()
    damage_a_page(path)
    before = sha256(path)
    with pytest.raises(ProjectDamagedError) as e:
        Project(path)
    assert str(path) in one_line(e.value) and e.value.path == path
    report = recover_project(path, recovered_path(path))
    assert report.copy.name == "p.recovered.nasx"
    assert sha256(path) == before  # only read
    q = Project(report.copy)  # a whole project again (quick_check passes)
    got = {c.id: c.arch_json for c in q.candidates()}
    assert 0 < len(got) < len(originals)
    assert all(originals[i] == a for i, a in got.items())  # what reads is what was written
    lost = set(originals) - set(got)
    assert lost == {i for a, b in report.unreadable["candidates"] for i in range(a, b + 1)} & set(originals)
    assert q.metric_table() == {i: {"proxy:zen": float(i - 1)} for i in got}
    assert report.orphans["metrics"] == len(lost)  # metrics of lost candidates are dropped
    assert q.logs(jid) == ["step 1"] and q.setting("devices") == ["a"]
    assert f"{len(got)} candidates" in report.summary() and "unreadable: candidates ids" in report.summary()
    assert recovered_path(path).name == "p.recovered-2.nasx"
    with pytest.raises(StoreError, match="the file exists"):
        recover_project(path, report.copy)


def test_a_page_damaged_while_open_is_our_error_not_sqlites(tmp_path):
    path = _project_file(tmp_path / "p.nasx")
    p = Project(path)
    assert p.count_candidates() == 24
    p.close()
    damage_a_page(path)
    with pytest.raises(ProjectDamagedError) as e:  # the next read meets the damaged page
        p.candidates()
    assert "is damaged" in one_line(e.value)
