"""The metrics panel when the computation fails outside the per-proxy guards, its worker dies, hangs
or its result is lost: the numbers not recomputed are greyed, the reason shown (details in the
tooltip), and the next edit computes normally."""

from __future__ import annotations

import threading

import pytest

from explorer import live_metrics as LM
from explorer.gui.metrics_worker import MetricsController
from explorer.live_metrics import LOCAL_CPU

from .conftest import METRICS_TIMEOUT_MS, wait_metrics
from .helpers import small_graph

GREY = "#8a8a8a"


def _colour(win, row: int) -> str:
    return win.metrics.summary.item(row, 1).foreground().color().name()


def _set_channels(win, n: int) -> None:
    win.doc.edit(f"channels {n}", lambda g: g.set_params("conv_1", out_channels=n))


def _wait_failed(qtbot, win):
    qtbot.waitUntil(lambda: win.metrics.failure is not None, timeout=METRICS_TIMEOUT_MS)
    assert not win.controller.busy and not win.controller.watchdog.isActive()


def _assert_recovers(qtbot, win, n: int) -> None:
    _set_channels(win, n)
    wait_metrics(qtbot, win)
    m = win.metrics
    assert m.failure is None and not m.failed_keys and not m.banner.isVisible()
    assert m.values["gradsign"]["value"] is not None and m.last_result is not None
    assert _colour(win, 0) != GREY and _colour(win, 3) != GREY
    assert all("computing" not in m.text_of(k) for k in ("params", "macs", "zen", "gradsign"))


@pytest.mark.parametrize("exc", [RuntimeError("GradSign blew up\nsecond line"), KeyboardInterrupt()])
def test_failure_greys_what_it_left_stale_says_why_and_recovers(qtbot, make_window, monkeypatch, exc):
    win = make_window(small_graph(), devices=(LOCAL_CPU,))
    m = win.metrics
    old_params, old_gs = m.values["params"]["value"], m.text_of("gradsign")
    old_lat = m.values[f"latency:{LOCAL_CPU}"]
    real = LM._run_jobs

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(LM, "_run_jobs", boom)  # outside the per-proxy guards
    _set_channels(win, 16)
    _wait_failed(qtbot, win)

    # params, MACs and the latency row were delivered before the failure (its new layer measured
    # after it): fresh, not greyed
    qtbot.waitUntil(lambda: not win.controller.measuring, timeout=METRICS_TIMEOUT_MS)
    assert m.values["params"]["value"] > old_params and _colour(win, 0) != GREY
    # the new graph's latency entry (its text may round to the old one's: 0.05 ms both)
    lat = m.values[f"latency:{LOCAL_CPU}"]
    assert lat["digest"] == m.digest != old_lat["digest"] and not lat.get("pending")
    assert lat["generation"] == m.generation != old_lat["generation"]
    assert m.latency.item(0, 1).foreground().color().name() != GREY
    # GradSign and Zen were not: old values, greyed, with the reason in their tooltip
    assert m.text_of("gradsign") == old_gs and _colour(win, 3) == GREY
    assert m.failed_keys == {"zen", "gradsign"}
    assert "not recomputed" in m.summary.item(3, 1).toolTip()
    name = type(exc).__name__
    assert m.banner.isVisible() and f"Metrics failed: {name}" in m.banner.text()
    assert "Greyed values are from an earlier graph" in m.banner.text()
    assert all("computing" not in m.text_of(k) for k in ("params", "macs", "zen", "gradsign"))
    if isinstance(exc, RuntimeError):
        assert "blew up" in m.banner.text() and "second line" not in m.banner.text()
        assert "second line" in m.banner.toolTip()
    assert "Traceback" in m.banner.toolTip() and "boom" in m.banner.toolTip()
    assert m.last_result is None  # nothing stale gets recorded with a kept candidate

    monkeypatch.setattr(LM, "_run_jobs", real)
    _assert_recovers(qtbot, win, 12)


def test_first_computation_failing_says_failed_not_a_dash(qtbot, make_window, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("proxies failed")

    monkeypatch.setattr(LM, "_proxy_jobs", boom)
    win = make_window(small_graph(), devices=())
    _wait_failed(qtbot, win)
    assert win.metrics.text_of("zen") == "failed" and _colour(win, 2) == GREY
    assert win.metrics.values["params"]["value"] > 0 and _colour(win, 0) != GREY  # shown at the edit
    assert "proxies failed" in win.metrics.banner.text()
    assert "earlier graph" not in win.metrics.banner.text()


def test_counts_failing_at_the_edit_leave_them_to_the_worker(qtbot, make_window, monkeypatch):
    """A bug in counting on the GUI thread does not break the edit: the worker's failure says it."""

    def boom(graph):
        raise RuntimeError("counting failed")

    monkeypatch.setattr(LM, "count_complexity", boom)
    win = make_window(small_graph(), devices=())
    _wait_failed(qtbot, win)
    assert win.metrics.text_of("params") == "failed" and "counting failed" in win.metrics.banner.text()


def test_stuck_worker_is_given_up_and_the_next_edit_runs_beside_it(qtbot, make_window, monkeypatch):
    release = threading.Event()
    real = LM._proxy_jobs
    calls = []

    def stuck_once(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            release.wait(60)  # a worker that neither returns nor polls should_stop
        return real(*a, **k)

    win = make_window(small_graph(), devices=())
    win.controller.stall_s = 0.5
    monkeypatch.setattr(LM, "_proxy_jobs", stuck_once)
    try:
        _set_channels(win, 16)
        _wait_failed(qtbot, win)
        assert "no sign of life" in win.metrics.banner.text() and _colour(win, 3) == GREY
        assert "next edit" in win.metrics.banner.toolTip()
        assert len(win.controller._old_pools) == 1  # the stuck job keeps its own thread
        win.controller.stall_s = 300.0
        _assert_recovers(qtbot, win, 12)  # while the stuck one still waits
        assert not release.is_set() and win.controller._old_pools[0].activeThreadCount() == 1
    finally:
        release.set()
    assert win.controller.shutdown(10_000)


@pytest.mark.parametrize("lost", [("_on_done",), ("_on_done", "_release")])
def test_a_result_that_never_arrives_is_reported(qtbot, make_window, monkeypatch, lost):
    """`ended` without `done` is caught at once; with `ended` lost too, the watchdog sees the job
    returned and no result after a grace period."""
    win = make_window(small_graph(), devices=())
    for name in lost:
        monkeypatch.setattr(MetricsController, name, lambda self, *a: None)
    _set_channels(win, 16)
    _wait_failed(qtbot, win)
    text = win.metrics.banner.text()
    assert ("never arrived" if len(lost) == 2 else "ended without a result") in text
    assert not win.metrics.failed_keys  # every entry did arrive: nothing stale to grey
    assert all("computing" not in win.metrics.text_of(k) for k in ("params", "zen", "gradsign"))
    monkeypatch.undo()
    _assert_recovers(qtbot, win, 12)
