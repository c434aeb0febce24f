"""Live metrics off the GUI thread: debounced requests, generation numbers, one worker at a time.

Each edit restarts a single-shot timer; when it fires, the graph is validated on the GUI thread
(no torch), the previous job is told to stop, and a new job with the next generation number runs
in a one-thread QThreadPool. Results carry their generation; stale ones are dropped.
"""

from __future__ import annotations

import json
import math
import threading

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


class _Job(QRunnable):
    def __init__(self, gen, graph, settings, devices, stop, carrier, torch_threads):
        super().__init__()
        self.setAutoDelete(True)
        self.gen, self.graph, self.settings, self.devices = gen, graph, settings, devices
        self.stop, self.carrier, self.torch_threads = stop, carrier, torch_threads

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
                should_stop=self.stop.is_set,
                on_entry=lambda k, e: self.stop.is_set() or self.carrier.entry.emit(self.gen, k, _dump(e)),
            )
        except Stopped:
            pass
        except Exception as e:  # noqa: BLE001 - reported in the panel, never crashes the app
            if not self.stop.is_set():
                self.carrier.failed.emit(self.gen, f"{e.__class__.__name__}: {e}")
        else:
            if not self.stop.is_set():
                self.carrier.done.emit(self.gen, _dump(res))
        finally:
            self.carrier.ended.emit(self.gen)


class MetricsController(QObject):
    started = Signal(int, list)  # generation, metric keys being computed
    entry = Signal(int, str, object)  # generation, key, entry dict
    finished = Signal(int, object)  # generation, all entries
    invalid = Signal(int, object)  # generation, validation Report
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None, debounce_ms: int = 300, torch_threads: int | None = 1):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
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
            self.busy = False
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
        self.started.emit(gen, metric_keys(devices))
        self.pool.start(_Job(gen, graph, settings, devices, self._stop, carrier, self.torch_threads))

    def _release(self, gen: int) -> None:
        """The job has returned: its carrier may go (kept until then so the worker never emits on
        a deleted object)."""
        self._carriers.pop(gen, None)

    def _on_entry(self, gen: int, key: str, entry: str) -> None:
        if gen == self.generation:
            self.entry.emit(gen, key, json.loads(entry))

    def _on_done(self, gen: int, result: str) -> None:
        if gen == self.generation:
            self.busy = False
            self.finished.emit(gen, json.loads(result))

    def _on_failed(self, gen: int, message: str) -> None:
        if gen == self.generation:
            self.busy = False
            self.failed.emit(gen, message)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop the timer and any job; wait for the worker to return (the window is closing)."""
        self._closed = True
        self.timer.stop()
        self._stop.set()
        self.pool.clear()
        return self.pool.waitForDone(timeout_ms)
