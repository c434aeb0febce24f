"""The one bridge between worker threads and the GUI thread.

`run_task(fn, ...)` runs `fn(progress, should_stop) -> result` (the core's job convention) on a
QThreadPool and returns a `Task` whose signals fire on the GUI thread, each tagged with the task's
generation so a caller drops what a newer request has made stale:

    progress(gen, payload)  any number, in order      result(gen, value)  fn returned
    error(gen, text)        fn raised (any BaseException; `failure_text`)
    finished(gen)           always, last

Cancel is cooperative (`task.cancel()` sets a threading.Event that `should_stop()` reads); what fn
raises once it was told to stop is the cancellation, not an error. A task also keeps a pulse (last
sign of life, when fn returned) in plain attributes, so a watchdog can tell a lost signal or a stuck
thread from a slow one.

Why a mailbox: no Python object travels through Qt's queued-connection machinery. A worker parks a
call in a deque and wakes the GUI thread with an argument-less signal; the GUI thread runs the
parked calls in order. `ProjectWrites` uses the same mailbox for the project writer's thread.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..errors import ExplorerError


def failure_text(e: BaseException) -> str:
    """The type and first line of the message (an ExplorerError's message as is: it is written for
    the user), a blank line, then the traceback (panels show the first line, the rest in a tooltip)."""
    lines = str(e).strip().splitlines()
    if lines and isinstance(e, ExplorerError):
        head = lines[0]
    else:
        head = f"{e.__class__.__name__}: {lines[0]}" if lines else e.__class__.__name__
    return head + "\n\n" + "".join(traceback.format_exception(e)).rstrip()


def first_line(text: str, limit: int = 200) -> str:
    """The first non-blank line of `text` (a `failure_text`'s head), cut to `limit` characters so a
    banner or status stays one line."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


class _Relay(QObject):
    """Lives on the GUI thread; `wake` emitted from any thread is delivered queued to `drain`."""

    wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.calls: deque[tuple[Callable, tuple]] = deque()
        self.wake.connect(self.drain)

    def drain(self) -> None:
        try:
            while self.calls:
                fn, args = self.calls.popleft()
                fn(*args)
        finally:
            if self.calls:  # a call raised: the rest still runs, on the next turn of the loop
                self.wake.emit()


class Mailbox:
    """`post(fn, *args)` from any thread: `fn(*args)` runs on the thread that made the mailbox, in
    the order posted; posted from that thread itself, it runs at once (after what waits)."""

    def __init__(self) -> None:
        self._relay = _Relay()
        self._owner = threading.get_ident()

    def post(self, fn: Callable, *args) -> None:
        if threading.get_ident() == self._owner:
            self._relay.drain()
            fn(*args)
            return
        self._relay.calls.append((fn, args))
        self._relay.wake.emit()


_mailbox: Mailbox | None = None


def gui_mailbox() -> Mailbox:
    """The GUI thread's mailbox (made on first use, which is on the GUI thread)."""
    global _mailbox
    if _mailbox is None:
        _mailbox = Mailbox()
    return _mailbox


class Pulse:
    """Signs of life the worker writes and a watchdog on the GUI thread reads: plain attributes,
    not signals, so a signal that is lost or never sent cannot hide a dead or finished task."""

    __slots__ = ("beat", "returned")

    def __init__(self) -> None:
        self.beat = time.monotonic()  # last time the task polled should_stop or reported progress
        self.returned: float | None = None  # when fn returned (or raised)


class Task(QObject):
    """Handle of one background call, on the GUI thread."""

    progress = Signal(int, object)
    result = Signal(int, object)
    error = Signal(int, str)
    finished = Signal(int)

    def __init__(self, generation: int = 0, parent: QObject | None = None):
        super().__init__(parent)
        self.generation = generation
        self.stop_event = threading.Event()
        self.pulse = Pulse()

    @property
    def running(self) -> bool:
        """Queued or running: fn has not returned yet."""
        return self.pulse.returned is None

    def cancel(self) -> None:
        self.stop_event.set()

    def _emit(self, kind: str, payload: Any) -> None:
        signal = {"progress": self.progress, "result": self.result, "error": self.error}.get(kind)
        if signal is not None:
            signal.emit(self.generation, payload)
        else:
            self.finished.emit(self.generation)


# Tasks whose `finished` has not been delivered: the registry, not the worker, keeps each handle
# alive, so its last reference is dropped on the GUI thread (a QObject must die on its own thread).
_tasks: dict[int, Task] = {}
_tokens = itertools.count(1)


def _deliver(token: int, kind: str, payload: Any = None) -> None:
    task = _tasks.pop(token, None) if kind == "finished" else _tasks.get(token)
    if task is None:
        return
    try:
        task._emit(kind, payload)
    except RuntimeError:  # its owner deleted it meanwhile (a closed dialog): nobody listens
        pass


class _Runnable(QRunnable):
    def __init__(self, fn: Callable, token: int, task: Task, mailbox: Mailbox):
        super().__init__()
        self.setAutoDelete(True)
        # plain Python objects only: the worker never holds the Task (a QObject of the GUI thread)
        self.fn, self.token, self.mailbox = fn, token, mailbox
        self.stop, self.pulse = task.stop_event, task.pulse

    def _should_stop(self) -> bool:
        self.pulse.beat = time.monotonic()
        return self.stop.is_set()

    def _progress(self, payload: Any) -> None:
        self.pulse.beat = time.monotonic()
        self.mailbox.post(_deliver, self.token, "progress", payload)

    def run(self) -> None:
        post, token = self.mailbox.post, self.token
        try:
            value = self.fn(self._progress, self._should_stop)
        except BaseException as e:  # noqa: BLE001 - a worker thread has no one above to catch it
            if not self.stop.is_set():  # once told to stop, what it raises is the cancellation
                post(_deliver, token, "error", failure_text(e))
        else:
            post(_deliver, token, "result", value)
        finally:
            self.pulse.returned = time.monotonic()
            post(_deliver, token, "finished")


def new_pool(parent: QObject | None = None, threads: int = 1) -> QThreadPool:
    pool = QThreadPool(parent)
    pool.setMaxThreadCount(threads)
    return pool


_shared: QThreadPool | None = None


def shared_pool() -> QThreadPool:
    """Two threads for project jobs (bulk sampling, export, recovery), apart from the live-metrics
    and estimator pools so a long job never holds them back."""
    global _shared
    if _shared is None:
        _shared = new_pool(None, 2)
    return _shared


def run_task(
    fn: Callable[[Callable[[Any], None], Callable[[], bool]], Any],
    parent: QObject | None = None,
    *,
    pool: QThreadPool | None = None,
    generation: int = 0,
) -> Task:
    """Start `fn(progress, should_stop)` on `pool` (default: the shared pool). Nothing is reported
    before the GUI thread returns to its event loop, so connect the task's signals right after.
    A pool that goes waits for its tasks: the caller keeps its pool while they run."""
    task = Task(generation, parent)
    token = next(_tokens)
    _tasks[token] = task
    (pool or shared_pool()).start(_Runnable(fn, token, task, gui_mailbox()))
    return task
