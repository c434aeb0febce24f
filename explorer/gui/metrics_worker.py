"""Live metrics off the GUI thread: debounced requests, generation numbers, one worker at a time.

Each edit restarts a single-shot timer; when it fires, the graph is validated on the GUI thread
(no torch), the previous job is told to stop, and a new job with the next generation number runs
in a one-thread QThreadPool. Results carry their generation; stale ones are dropped.

Every job ends in exactly one of `finished` or `failed` for its generation: any exception in the
worker (KeyboardInterrupt and SystemExit included) is reported, and a watchdog on the GUI thread
reports a job that returned without a result (lost signal) or shows no sign of life for `stall_s`
(stuck or killed thread), so the panel never says "computing..." for ever.
"""

from __future__ import annotations

import json
import math
import threading
import time
import traceback

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from ..arch import ArchGraph, validate
from ..live_metrics import LiveSettings, Stopped, compute_metrics, metric_keys


def _dump(obj) -> str:
    """JSON with non-finite floats as null (entries are plain dicts of numbers and strings)."""

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), default=str)


class _Carrier(QObject):
    """Signals emitted from the worker thread, delivered queued on the GUI thread. Only ints and
    strings cross threads (entries travel as JSON): no Python object is shared between threads
    through Qt's queued-connection machinery."""

    entry = Signal(int, str, str)
    done = Signal(int, str)
    failed = Signal(int, str)
    ended = Signal(int)


def failure_text(e: BaseException) -> str:
    """The type and first line of the message, a blank line, then the traceback (the panel shows the
    first line and puts the rest in a tooltip)."""
    lines = str(e).strip().splitlines()
    head = f"{e.__class__.__name__}: {lines[0]}" if lines else e.__class__.__name__
    return head + "\n\n" + "".join(traceback.format_exception(e)).rstrip()


class _Pulse:
    """Signs of life the worker writes and the GUI thread's watchdog reads: plain attributes, not
    signals, so a signal that is lost or never sent cannot hide a dead or finished job."""

    __slots__ = ("beat", "returned")

    def __init__(self) -> None:
        self.beat = time.monotonic()  # last time the job polled should_stop or sent an entry
        self.returned: float | None = None  # when run() returned


class _Job(QRunnable):
    def __init__(self, gen, graph, settings, devices, stop, carrier, torch_threads, pulse):
        super().__init__()
        self.setAutoDelete(True)
        self.gen, self.graph, self.settings, self.devices = gen, graph, settings, devices
        self.stop, self.carrier, self.torch_threads, self.pulse = stop, carrier, torch_threads, pulse

    def _alive(self) -> bool:
        """should_stop for the core, and the job's heartbeat."""
        self.pulse.beat = time.monotonic()
        return self.stop.is_set()

    def run(self) -> None:
        try:
            if self.torch_threads:
                import torch

                if torch.get_num_threads() != self.torch_threads:
                    torch.set_num_threads(self.torch_threads)  # leave a core for the GUI thread
            if self.stop.is_set():
                raise Stopped
            res = compute_metrics(
                self.graph,
                self.settings,
                self.devices,
                should_stop=self._alive,
                on_entry=lambda k, e: self._alive() or self.carrier.entry.emit(self.gen, k, _dump(e)),
            )
            payload = _dump(res)
        except Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - a worker thread has no one above to catch it
            if not self.stop.is_set():
                self.carrier.failed.emit(self.gen, failure_text(e))
        else:
            if not self.stop.is_set():
                self.carrier.done.emit(self.gen, payload)
        finally:
            self.pulse.returned = time.monotonic()
            self.carrier.ended.emit(self.gen)


class MetricsController(QObject):
    started = Signal(int, list)  # generation, metric keys being computed
    entry = Signal(int, str, object)  # generation, key, entry dict
    finished = Signal(int, object)  # generation, all entries
    invalid = Signal(int, object)  # generation, validation Report
    failed = Signal(int, str)  # generation, "Type: reason" line + details (see failure_text)

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
        self._pulse: _Pulse | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self._fire)
        self.generation = 0
        self.computations = 0  # jobs started (tests: ten quick edits -> one)
        self.torch_threads = torch_threads
        self.busy = False
        self._pending: tuple | None = None
        self._stop = threading.Event()
        self._carriers: dict[int, _Carrier] = {}
        self._closed = False

    def _new_pool(self) -> QThreadPool:
        pool = QThreadPool(self)
        pool.setMaxThreadCount(1)
        return pool

    def request(self, graph: ArchGraph, settings: LiveSettings, devices: list[str], immediate: bool = False):
        if self._closed:
            return
        self._pending = (graph.copy(), settings, list(devices))
        if immediate:
            self.timer.stop()
            self._fire()
        else:
            self.timer.start()

    def _fire(self) -> None:
        if self._pending is None or self._closed:
            return
        graph, settings, devices = self._pending
        self._pending = None
        self._stop.set()  # the running job (if any) stops at its next check
        self.generation += 1
        gen = self.generation
        report = validate(graph)
        if not report.ok:
            self._idle()
            self.invalid.emit(gen, report)
            return
        self._stop = threading.Event()
        carrier = _Carrier()
        carrier.entry.connect(self._on_entry)
        carrier.done.connect(self._on_done)
        carrier.failed.connect(self._on_failed)
        carrier.ended.connect(self._release)
        self._carriers[gen] = carrier
        self.computations += 1
        self.busy = True
        self._pulse = _Pulse()
        self.watchdog.start()
        self.started.emit(gen, metric_keys(devices))
        job = _Job(gen, graph, settings, devices, self._stop, carrier, self.torch_threads, self._pulse)
        self.pool.start(job)

    def _idle(self) -> None:
        self.busy = False
        self.watchdog.stop()

    def _release(self, gen: int) -> None:
        """The job has returned: its carrier may go (kept until then so the worker never emits on
        a deleted object). `ended` follows `done`/`failed` in the same queue, so a current job
        still busy here returned without a result."""
        self._carriers.pop(gen, None)
        if gen == self.generation and self.busy:
            self._give_up(gen, "the metrics worker ended without a result")

    def _check_alive(self) -> None:
        """Watchdog tick (GUI thread) while a job is current."""
        p = self._pulse
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
        self._stop.set()
        if self._pulse is not None and self._pulse.returned is None:
            self._old_pools.append(self.pool)
            self.pool = self._new_pool()
        self._idle()
        self.failed.emit(gen, message)

    def _on_entry(self, gen: int, key: str, entry: str) -> None:
        if gen == self.generation:
            self.entry.emit(gen, key, json.loads(entry))

    def _on_done(self, gen: int, result: str) -> None:
        if gen == self.generation and self.busy:
            self._idle()
            self.finished.emit(gen, json.loads(result))

    def _on_failed(self, gen: int, message: str) -> None:
        if gen == self.generation and self.busy:
            self._idle()
            self.failed.emit(gen, message)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop the timer and any job; wait for the worker to return (the window is closing)."""
        self._closed = True
        self.timer.stop()
        self._idle()
        self._stop.set()
        self.pool.clear()
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for pool in [self.pool, *self._old_pools]:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            ok = pool.waitForDone(left) and ok
        return ok
