"""The project database: real SQLite file, concurrent writers, migrations, crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from explorer.spaces import get_space
from explorer.store import SCHEMA_VERSION, Project, StoreError


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
