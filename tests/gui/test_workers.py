"""The worker bridge: a function on a pool thread, its reports on the GUI thread in order, tagged
with the task's generation; cooperative cancel; every exception reported, none after a cancel."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject

from explorer.errors import FormatError
from explorer.gui.workers import first_line, new_pool, run_task


def follow(task):
    """Every signal of `task` as (name, generation, payload, thread name), in arrival order."""
    seen = []
    here = lambda: threading.current_thread().name  # noqa: E731
    task.progress.connect(lambda g, p: seen.append(("progress", g, p, here())))
    task.result.connect(lambda g, v: seen.append(("result", g, v, here())))
    task.error.connect(lambda g, t: seen.append(("error", g, t, here())))
    task.finished.connect(lambda g: seen.append(("finished", g, None, here())))
    return seen


def test_reports_arrive_in_order_on_the_gui_thread_with_their_generation(qtbot):
    def job(progress, should_stop):
        for i in range(3):
            progress({"step": i, "thread": threading.current_thread().name})
        return [1, 2]

    task = run_task(job, generation=7)
    seen = follow(task)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] == "finished", timeout=10_000)
    assert [s[0] for s in seen] == ["progress"] * 3 + ["result", "finished"]
    assert {s[1] for s in seen} == {7}
    assert [s[2]["step"] for s in seen[:3]] == [0, 1, 2]
    assert seen[0][2]["thread"] != "MainThread"  # computed on a pool thread ...
    assert {s[3] for s in seen} == {"MainThread"}  # ... delivered on the GUI thread
    assert seen[3][2] == [1, 2] and not task.running and task.pulse.returned is not None


@pytest.mark.parametrize(
    "exc, head",
    [
        (RuntimeError("boom\nmore"), "RuntimeError: boom"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
        (FormatError("bad.json: not an architecture file"), "bad.json: not an architecture file"),
    ],
)
def test_every_exception_is_reported_as_one_error(qtbot, exc, head):
    def job(progress, should_stop):
        raise exc

    pool = new_pool(None, 1)  # a pool waits for its tasks when it goes: keep it while they run
    task = run_task(job, pool=pool)
    seen = follow(task)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] == "finished", timeout=10_000)
    assert [s[0] for s in seen] == ["error", "finished"]
    assert first_line(seen[0][2]) == head and "Traceback" in seen[0][2]


def test_cancel_is_cooperative_and_its_unwinding_is_no_error(qtbot):
    started, pause = threading.Event(), threading.Event()
    polls = []

    def job(progress, should_stop):
        started.set()
        while not should_stop():
            polls.append(1)
            pause.wait(0.01)
        raise RuntimeError("stopped mid-way")  # what a job raises once told to stop

    pool = new_pool(None, 1)
    task = run_task(job, pool=pool)
    seen = follow(task)
    assert started.wait(10)
    beat = task.pulse.beat
    qtbot.waitUntil(lambda: len(polls) > 2, timeout=10_000)
    assert task.running and task.pulse.beat > beat  # polling should_stop is a sign of life
    task.cancel()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] == "finished", timeout=10_000)
    assert [s[0] for s in seen] == ["finished"]


def test_a_handle_deleted_by_its_owner_meanwhile_is_harmless(qtbot):
    release = threading.Event()
    owner = QObject()

    def job(progress, should_stop):
        release.wait(10)
        progress("late")
        return "late"

    pool = new_pool(None, 1)
    task = run_task(job, owner, pool=pool)
    got = []
    task.result.connect(lambda g, v: got.append(v))
    owner.deleteLater()
    qtbot.waitUntil(lambda: not _alive(task), timeout=5000)
    release.set()
    assert pool.waitForDone(10_000)
    qtbot.wait(50)  # its reports are delivered to nobody
    assert got == []


def _alive(obj) -> bool:
    try:
        obj.objectName()
    except RuntimeError:
        return False
    return True
