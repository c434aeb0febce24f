"""Live metrics off the GUI thread: debounced requests, generation numbers, one worker at a time.

Each edit restarts a single-shot timer; when it fires, the previous jobs are told to stop and a
new job with the next generation number runs in a one-thread pool of the worker bridge
(workers.py), on the report the editor validated the edit with (validated here only when none is
given). Results carry their generation; stale ones are dropped.

Rows of this machine's layer table that lack layers arrive as pending entries; once the job's
other entries are in, the missing layers are measured by a second job in its own pool (after the
proxies, so they do not share the cores with the measurement), which fills those rows. The next
edit cancels it between layers; what it measured stays in the table.

Every job ends in exactly one of `finished` or `failed` for its generation: any exception in the
worker (KeyboardInterrupt and SystemExit included) is reported, and a watchdog on the GUI thread
reports a job that returned without a result (lost signal) or shows no sign of life for `stall_s`
(stuck or killed thread), so the panel never says "computing..." for ever.
"""

from __future__ import annotations

import json
import math
import time
from functools import partial

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from ..arch import ArchGraph, validate
from ..arch.validate import Report, trusted
from ..edits import graph_digest
from ..live_metrics import (
    LiveSettings,
    Stopped,
    compute_metrics,
    count_entries,
    metric_keys,
    predict_latency,
)
from .workers import Task, first_line, new_pool, run_task


def _plain(obj):
    """What JSON keeps of `obj`, non-finite floats as None: the entries the panel gets are plain
    data, never objects the worker still holds."""

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.loads(json.dumps(clean(obj), default=str))


def _threads(torch_threads: int | None) -> None:
    if torch_threads:
        import torch

        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)  # leave a core for the GUI thread


def _compute(graph, report, settings, devices, gen, torch_threads, progress, should_stop) -> dict:
    """The worker's side: every metric of `graph`, each entry reported as it arrives."""
    _threads(torch_threads)
    if should_stop():
        raise Stopped
    res = compute_metrics(
        graph,
        settings,
        devices,
        should_stop=should_stop,
        on_entry=lambda k, e: should_stop() or progress((k, _plain(e))),
        report=report,
        generation=gen,
        measure="defer",
    )
    return _plain(res)


def _measure(graph, report, devices, stamp, measure_layer, torch_threads, progress, should_stop) -> None:
    """The measuring job: each pending device's missing layers, then its row (on the job's
    report: the graph is not validated again)."""
    _threads(torch_threads)
    kw = {"measure_layer": measure_layer} if measure_layer is not None else {}
    with trusted(graph, report):
        for d in devices:
            if should_stop():
                raise Stopped
            entry = predict_latency(graph, d, should_stop, **kw) | stamp
            if not should_stop():
                progress((f"latency:{d}", _plain(entry)))


class MetricsController(QObject):
    started = Signal(int, list)  # generation, metric keys being computed
    entry = Signal(int, str, object)  # generation, key, entry dict
    finished = Signal(int, object)  # generation, all entries
    invalid = Signal(int, object)  # generation, validation Report
    failed = Signal(int, str)  # generation, "Type: reason" line + details (see failure_text)
    settled = Signal(int)  # generation: every row is in, the background-measured ones too

    RESULT_GRACE_S = 2.0  # a returned job's queued result must have arrived by then

    def __init__(
        self,
        parent: QObject | None = None,
        debounce_ms: int = 300,
        torch_threads: int | None = 1,
        stall_s: float = 300.0,
    ):
        super().__init__(parent)
        self.pool = self._new_pool()
        self._old_pools: list[QThreadPool] = []  # pools whose stuck job was given up
        self.stall_s = stall_s  # the core polls between metrics: one paper-size proxy stays silent
        self.watchdog = QTimer(self)
        self.watchdog.setInterval(250)
        self.watchdog.timeout.connect(self._check_alive)
        self.task: Task | None = None  # the current generation's job
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self._fire)
        self.generation = 0
        self.digest = ""  # graph_digest of the current generation's graph (what its metrics are of)
        self.computations = 0  # jobs started (tests: ten quick edits -> one)
        self.torch_threads = torch_threads
        self.busy = False
        self._pending: tuple | None = None
        self._closed = False
        self.measure_pool = self._new_pool()  # measuring missing layers: never ahead of a job
        self.measure_task: Task | None = None
        self.measuring = False  # a measuring job of the current generation runs
        self.measure_layer = None  # a stand-in for the layer measurement (tests); None: the real one
        self._to_measure: list[str] = []  # devices whose rows the current job left pending
        self._unfilled: set[str] = set()  # pending rows the measuring job has not filled yet
        self._job: tuple | None = None  # (graph, report, generation) of the current job

    def idle(self) -> bool:
        """No computation due, running, or measuring layers in the background."""
        return not (self.busy or self.measuring or self.timer.isActive() or self._pending is not None)

    def _new_pool(self) -> QThreadPool:
        return new_pool(self, 1)

    def _stop_current(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.measure_task is not None:
            self.measure_task.cancel()
        self.measuring = False

    def request(
        self,
        graph: ArchGraph,
        settings: LiveSettings,
        devices: list[str],
        immediate: bool = False,
        report: Report | None = None,
    ):
        """A new generation for `graph` (copied now): the running jobs are told to stop, params and
        MACs (shapes alone, about a millisecond) arrive at once, the rest after the debounce.
        `report` is its validation, which the caller already has (the document's), so the edit is
        validated once."""
        if self._closed:
            return
        graph = graph.copy()
        report = validate(graph) if report is None else report
        self._stop_current()  # the running jobs (if any) stop at their next check
        self._idle()
        self.generation += 1
        gen = self.generation
        self.digest = graph_digest(graph)
        if not report.ok:
            self.timer.stop()
            self._pending = None
            self.invalid.emit(gen, report)
            return
        self._pending = (graph, settings, list(devices), report, gen)
        self.started.emit(gen, metric_keys(devices, settings))
        stamp = {"digest": self.digest, "generation": gen}
        try:
            counts = count_entries(graph, report)
        except Exception:  # noqa: BLE001 - a bug in counting: the job counts again and reports it
            counts = {}
        for key, entry in counts.items():
            self.entry.emit(gen, key, _plain(entry | stamp))
        if immediate:
            self.timer.stop()
            self._fire()
        else:
            self.timer.start()

    def _fire(self) -> None:
        if self._pending is None or self._closed:
            return
        graph, settings, devices, report, gen = self._pending
        self._pending = None
        if gen != self.generation:
            return
        self.computations += 1
        self.busy = True
        self._to_measure = []
        self._job = (graph, report, gen)
        job = partial(_compute, graph, report, settings, devices, gen, self.torch_threads)
        task = self.task = run_task(job, pool=self.pool, generation=gen)
        task.progress.connect(self._on_entry)
        task.result.connect(self._on_done)
        task.error.connect(self._on_failed)
        task.finished.connect(self._release)
        self.watchdog.start()

    def _idle(self) -> None:
        self.busy = False
        self.watchdog.stop()

    def _release(self, gen: int) -> None:
        """The job has returned. `finished` follows `result`/`error` in the same queue, so a
        current job still busy here returned without a result."""
        if gen == self.generation and self.busy:
            self._give_up(gen, "the metrics worker ended without a result")

    def _check_alive(self) -> None:
        """Watchdog tick (GUI thread) while a job is current."""
        p = self.task.pulse if self.task is not None else None
        if not self.busy or p is None:
            self.watchdog.stop()
            return
        now = time.monotonic()
        if p.returned is not None and now - p.returned > self.RESULT_GRACE_S:
            self._give_up(self.generation, "the metrics worker ended but its result never arrived")
        elif p.returned is None and now - p.beat > self.stall_s:
            self._give_up(
                self.generation,
                f"no sign of life from the metrics worker for {self.stall_s:g} s: gave up on it"
                "\n\nIt may be stuck or its thread was killed; the next edit (or F5) starts a new one.",
            )

    def _give_up(self, gen: int, message: str) -> None:
        """End the current generation as failed; a job that has not returned is told to stop (and
        stays silent), and later jobs get a fresh pool so they do not queue behind it."""
        self._stop_current()
        if self.task is not None and self.task.running:
            self._old_pools.append(self.pool)
            self.pool = self._new_pool()
        self._idle()
        self.failed.emit(gen, message)

    def _on_entry(self, gen: int, payload: tuple) -> None:
        key, entry = payload
        if gen == self.generation and entry.get("generation", gen) == gen:
            if entry.get("pending") and key.startswith("latency:"):
                self._to_measure.append(key[len("latency:") :])
            if not entry.get("pending"):
                self._unfilled.discard(key)
            self.entry.emit(gen, key, entry)

    def _on_done(self, gen: int, result: dict) -> None:
        if gen == self.generation and self.busy:
            self._idle()
            self.finished.emit(gen, result)
            self._start_measuring(gen)

    def _start_measuring(self, gen: int) -> None:
        """The layers the job's pending rows lack, measured by their own job; its rows arrive as
        entries of the same generation, then `settled` (at once when there is nothing to measure)."""
        if not self._to_measure or self._job is None or self._job[2] != gen or self._closed:
            self.settled.emit(gen)
            return
        graph, report, _ = self._job
        devices, self._to_measure = list(dict.fromkeys(self._to_measure)), []
        self._unfilled = {f"latency:{d}" for d in devices}
        stamp = {"digest": self.digest, "generation": gen}
        job = partial(_measure, graph, report, devices, stamp, self.measure_layer, self.torch_threads)
        task = self.measure_task = run_task(job, pool=self.measure_pool, generation=gen)
        self.measuring = True
        task.progress.connect(self._on_entry)
        task.error.connect(self._on_measure_failed)
        task.finished.connect(self._measured)

    def _on_measure_failed(self, gen: int, message: str) -> None:
        """A measuring job that failed: the rows it did not fill say why."""
        if gen == self.generation:
            entry = {"value": None, "reason": first_line(message) or "measuring failed", "generation": gen}
            for key in sorted(self._unfilled):
                self.entry.emit(gen, key, dict(entry, digest=self.digest))
            self._unfilled = set()

    def _measured(self, gen: int) -> None:
        if gen == self.generation:
            self.measuring = False
            self.settled.emit(gen)

    def _on_failed(self, gen: int, message: str) -> None:
        if gen == self.generation and self.busy:
            self._idle()
            self.failed.emit(gen, message)
            self._start_measuring(gen)  # the rows it left pending do not depend on what failed

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop the timer and any job; wait for the worker to return (the window is closing)."""
        self._closed = True
        self.timer.stop()
        self._idle()
        self._stop_current()
        self.pool.clear()
        self.measure_pool.clear()
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for pool in [self.pool, self.measure_pool, *self._old_pools]:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            ok = pool.waitForDone(left) and ok
        return ok
