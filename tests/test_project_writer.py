"""The project writer: one thread, calls in order, a locked project holds (never drops) a write."""

from __future__ import annotations

import sqlite3
import threading

from explorer.project_writer import ProjectWriter
from explorer.spaces import get_space
from explorer.store import Project, ProjectLockedError


def graph(seed=0):
    sp = get_space("nb201")
    return sp.encode(sp.sample(seed))


def test_calls_run_in_order_on_one_thread_with_their_results(tmp_path):
    p = Project(tmp_path / "p.nasx")
    threads, done = set(), []

    def add(k):
        threads.add(threading.current_thread().name)
        return p.add_candidate(graph(k), name=f"c{k}")

    w = ProjectWriter(on_done=done.append)
    items = [w.submit(add, k, label=f"keep {k}") for k in range(6)]
    assert w.wait_idle(60)
    assert [i.result for i in items] == [1, 2, 3, 4, 5, 6]
    assert [c.name for c in p.candidates()] == [f"c{k}" for k in range(6)]
    assert threads == {"project-writer"} and threading.current_thread().name not in threads
    assert done == items
    assert w.close(5)


def test_a_lock_holds_the_write_and_retry_lands_it_once(tmp_path):
    path = tmp_path / "p.nasx"
    p = Project(path, timeout=0.2)
    errors = []
    w = ProjectWriter(on_error=lambda item, e: errors.append((item, e)))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    keep = w.submit(p.add_candidate, graph(1), label="keep candidate")
    metric = w.submit(lambda: p.record_metric(keep.result, "proxy", "zen", 3.0), label="its metric")
    assert not keep.done  # submit did not wait for the lock
    assert not w.wait_idle(30)  # paused on the failure
    assert w.failed is keep and isinstance(keep.error, ProjectLockedError)
    assert errors == [(keep, keep.error)]
    assert w.pending() == [keep, metric] and metric.attempts == 0  # the one behind waits its turn
    w.retry()  # still locked: held again, still not dropped
    assert not w.wait_idle(30) and w.failed is keep and keep.attempts == 2
    other.execute("ROLLBACK")
    other.close()
    w.retry()
    assert w.wait_idle(30)
    assert keep.done and metric.done and w.failed is None
    assert p.count_candidates() == 1  # landed once
    assert p.metric_table() == {keep.result: {"proxy:zen": 3.0}}
    w.close(5)


def test_a_bug_in_one_call_is_reported_and_the_rest_go_on(tmp_path):
    p = Project(tmp_path / "p.nasx")
    errors = []
    w = ProjectWriter(on_error=lambda item, e: errors.append(e))

    def broken():
        raise ValueError("bad call")

    bad = w.submit(broken)
    good = w.submit(p.add_candidate, graph(2))
    assert w.wait_idle(60)
    assert isinstance(bad.error, ValueError) and not bad.done and errors == [bad.error]
    assert good.done and w.failed is None and p.count_candidates() == 1
    w.close(5)


def test_unthreaded_writer_runs_at_once_and_a_callbacks_writes_after_it(tmp_path):
    p = Project(tmp_path / "p.nasx")
    w = ProjectWriter(threaded=False)
    order = []

    def first():
        order.append("first")
        return p.add_candidate(graph(3))

    def then(cid):
        order.append("callback")
        w.submit(lambda: order.append("nested") or p.record_metric(cid, "proxy", "zen", 1.0))
        order.append("callback end")

    item = w.submit(first, on_done=then)
    assert item.done and item.result == 1  # ran in this thread, before submit returned
    assert order == ["first", "callback", "callback end", "nested"]
    assert p.metric_table() == {1: {"proxy:zen": 1.0}}


def test_close_writes_what_is_queued_first(tmp_path):
    p = Project(tmp_path / "p.nasx")
    w = ProjectWriter()
    for k in range(3):
        w.submit(p.add_candidate, graph(k))
    assert w.close(60)
    assert p.count_candidates() == 3
