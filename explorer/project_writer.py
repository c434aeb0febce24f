"""Writes to a project off the caller's thread, in order, never dropped on a lock.

The GUI hands every write (keep a candidate, a job's status and log lines) to one ProjectWriter:
a background thread runs the calls first in, first out, so the window never waits on SQLite. A
call that fails with a StoreError (the file is locked by another program, read-only, damaged,
the disk is full) is kept at the head of the queue and the queue pauses: later calls wait behind
it, so their order holds (metrics never land before their candidate), and `retry()` runs it again
once the user has dealt with the cause. Any other exception is a bug in that call: it is reported
and skipped, so one bad call cannot stall the rest.

    writer = ProjectWriter(on_error=lambda item, exc: print(exc))
    item = writer.submit(project.add_candidate, graph, label="keep candidate")
    writer.wait_idle(5); item.result  # -> the new candidate id

With `threaded=False` calls run at once in the caller's thread (same pausing and retry), for
scripts and widgets used outside the main window. Callbacks run on the writer's thread.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .store import StoreError

_ids = itertools.count(1)


@dataclass
class WriteItem:
    """One queued call; `done`, `result` and `error` are filled in by the writer."""

    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    on_done: Callable[[Any], None] | None = None
    id: int = field(default_factory=lambda: next(_ids))
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    attempts: int = 0

    def describe(self) -> str:
        return self.label or getattr(self.fn, "__name__", "write")


class ProjectWriter:
    """One thread, a FIFO of write calls, result/error callbacks, retry of the failed head."""

    def __init__(
        self,
        on_done: Callable[[WriteItem], None] | None = None,
        on_error: Callable[[WriteItem, BaseException], None] | None = None,
        *,
        threaded: bool = True,
        name: str = "project-writer",
    ):
        self.on_done, self.on_error = on_done, on_error
        self.threaded = threaded
        self._queue: deque[WriteItem] = deque()
        self._cond = threading.Condition()
        self._paused: WriteItem | None = None
        self._busy = False
        self._closing = False
        self._draining = False  # threaded=False: a callback's submit joins the running drain
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
            self._thread.start()

    # -- API --------------------------------------------------------------------------------------
    def submit(self, fn: Callable, *args, label: str = "", on_done=None, **kwargs) -> WriteItem:
        """Queue `fn(*args, **kwargs)`; `on_done(result)` runs after it succeeded."""
        item = WriteItem(fn, args, kwargs, label, on_done)
        with self._cond:
            if self._closing:
                raise RuntimeError("the project writer is closed")
            self._queue.append(item)
            self._cond.notify_all()
        if not self.threaded:
            self._drain()
        return item

    @property
    def failed(self) -> WriteItem | None:
        """The call that failed and holds the queue (None while the queue runs)."""
        return self._paused

    def pending(self) -> list[WriteItem]:
        """Calls not written yet, in order (the failed one first)."""
        with self._cond:
            return list(self._queue)

    def retry(self) -> None:
        """Run the failed call again, then the ones behind it."""
        with self._cond:
            if self._paused is None:
                return
            self._paused = None
            self._cond.notify_all()
        if not self.threaded:
            self._drain()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every call is written (True) or the queue is paused on a failure (False)."""
        with self._cond:
            self._cond.wait_for(
                lambda: not self._busy and (self._paused is not None or not self._queue), timeout
            )
            return not self._queue and not self._busy

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued (unless paused) and stop the thread; True when nothing was left."""
        flushed = self.wait_idle(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        return flushed

    # -- running ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closing or (self._queue and self._paused is None))
                if self._closing and (not self._queue or self._paused is not None):
                    return
                if self._paused is not None or not self._queue:
                    continue
                item = self._queue[0]
                self._busy = True
            self._run(item)

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            while True:
                with self._cond:
                    if self._paused is not None or not self._queue:
                        return
                    item = self._queue[0]
                    self._busy = True
                self._run(item)
        finally:
            self._draining = False

    def _run(self, item: WriteItem) -> None:
        item.attempts += 1
        try:
            result = item.fn(*item.args, **item.kwargs)
        except StoreError as e:  # the file, not the call: keep it, pause, wait for retry()
            item.error = e
            with self._cond:
                self._paused = item
            self._call(self.on_error, item, e)
            self._finish()
            return
        except Exception as e:  # noqa: BLE001 - a bug in this call: report it, go on with the rest
            item.error = e
            with self._cond:
                self._queue.popleft()
            self._call(self.on_error, item, e)
            self._finish()
            return
        item.done, item.result, item.error = True, result, None
        with self._cond:
            self._queue.popleft()
        if item.on_done is not None:
            self._call(item.on_done, result)
        self._call(self.on_done, item)
        self._finish()

    def _finish(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    @staticmethod
    def _call(cb, *args) -> None:
        if cb is None:
            return
        try:
            cb(*args)
        except Exception:  # noqa: BLE001 - a failing callback must not stop the writer
            import traceback

            traceback.print_exc()
