"""Run a core job (`fn(progress, should_stop) -> result`) on a pool thread with Qt signals back.

Used by the project docks for bulk sampling and export; the supernet trainer runs in a separate
process instead (jobs_panel). Cancel is cooperative through a `threading.Event`.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class Task(QObject):
    """Handle of one background call; signals arrive on the GUI thread (queued)."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    ended = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.stop_event = threading.Event()
        self.running = True

    def cancel(self) -> None:
        self.stop_event.set()


class _Runnable(QRunnable):
    def __init__(self, fn: Callable, task: Task):
        super().__init__()
        self.setAutoDelete(True)
        self.fn, self.task = fn, task

    def run(self) -> None:
        task = self.task
        try:
            res = self.fn(task.progress.emit, task.stop_event.is_set)
        except Exception as e:  # noqa: BLE001 - shown to the user, never crashes the app
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            task.failed.emit(f"{e.__class__.__name__}: {msg}" if msg else traceback.format_exc(limit=1))
        else:
            task.finished.emit(res)
        finally:
            task.running = False
            task.ended.emit()


_pool: QThreadPool | None = None


def pool() -> QThreadPool:
    """A pool of its own (two threads), so long project jobs never block the live-metrics worker."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(2)
    return _pool


def run_task(fn: Callable, parent: QObject | None = None) -> Task:
    task = Task(parent)
    pool().start(_Runnable(fn, task))
    return task
