"""The window's writes to its project: the core ProjectWriter bridged to Qt.

Every GUI write (keep a candidate, a job's row and log lines) goes through one `ProjectWrites`:
the SQLite call runs on the writer's thread, its `on_done(result)` comes back on the GUI thread,
and a write the project refuses (locked by another program, read-only, damaged) is held and
shown in a non-modal message with Retry, so the window keeps running and nothing is dropped.
The writer's thread reaches the GUI thread through the worker bridge's mailbox (workers.py), so no
Python object travels through Qt's queued connections.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from ..project_writer import ProjectWriter, WriteItem
from ..store import StoreError
from .workers import gui_mailbox

GUI_LOCK_WAIT_S = 2.0  # how long a GUI write waits for another program's lock before it asks


class ProjectWrites(QObject):
    """`submit(fn, *args, label=..., on_done=...)` like ProjectWriter; callbacks on the GUI thread.

    threaded=False runs each call at once (widgets used on their own, scripts, tests)."""

    saved = Signal(int)  # item id, after its on_done ran
    held = Signal(str)  # a write waits for Retry: the message shown

    def __init__(self, parent: QWidget | None = None, threaded: bool = True):
        super().__init__(parent)
        self.dialog_parent = parent
        self._mailbox = gui_mailbox()
        self.writer = ProjectWriter(on_error=self._on_error, threaded=threaded, name="gui-project-writer")
        self.box: QMessageBox | None = None
        self.retry_button = None
        self.last_message = ""

    # -- API --------------------------------------------------------------------------------------
    def submit(
        self, fn: Callable, *args, label: str = "", on_done: Callable | None = None, **kwargs
    ) -> WriteItem:
        item_id = [0]  # set once submitted: read on the GUI thread, after the write

        def finished(result):  # the writer's thread: hand the result to the GUI thread
            self._mailbox.post(self._done, item_id, on_done, result)

        if self.writer.failed is not None:  # the queue waits for Retry: say so again
            self._show_held()
        item = self.writer.submit(fn, *args, label=label, on_done=finished, **kwargs)
        item_id[0] = item.id
        return item

    def retry(self) -> None:
        self.writer.retry()

    def pending(self) -> list[WriteItem]:
        return self.writer.pending()

    def flush(self, timeout: float) -> bool:
        """Wait (at most `timeout`) until everything queued is written; False if some wait for Retry."""
        return self.writer.wait_idle(timeout)

    def shutdown(self, timeout: float = GUI_LOCK_WAIT_S + 1) -> bool:
        return self.writer.close(timeout)

    # -- from the writer --------------------------------------------------------------------------
    def _on_error(self, item: WriteItem, exc: BaseException) -> None:
        held = isinstance(exc, StoreError)
        first = (str(exc).strip().splitlines() or [""])[0]
        msg = first if held else f"Could not save {item.describe()}: {exc.__class__.__name__}: {first}"
        self._mailbox.post(self._failed, item.id, msg, held)

    def _done(self, item_id: list[int], cb: Callable | None, result) -> None:
        if self.box is not None and self.retry_button is not None and self.writer.failed is None:
            self.box.hide()  # what it waited for is written (a retry from elsewhere)
            self.retry_button = None
        if cb is not None:
            cb(result)
        self.saved.emit(item_id[0])

    def _failed(self, item_id: int, message: str, held: bool) -> None:
        self.last_message = message
        if held:
            self._show_held()
            self.held.emit(message)
        else:  # a bug in that call: it was skipped, the queue goes on
            self._box(message, retry=False)

    # -- the message ------------------------------------------------------------------------------
    def _show_held(self) -> None:
        waiting = self.writer.pending()
        if not waiting:
            return
        what = waiting[0].describe()
        more = f" and {len(waiting) - 1} more change(s)" if len(waiting) > 1 else ""
        err = waiting[0].error
        self._box(
            str(err).splitlines()[0] if err is not None else self.last_message,
            retry=True,
            info=f"Waiting to be saved: {what}{more}. Nothing is lost: Retry once the other program "
            "has finished (Later keeps it waiting).",
        )

    def _box(self, text: str, retry: bool, info: str = "") -> None:
        if self.box is None:
            self.box = QMessageBox(self.dialog_parent)
            self.box.setWindowTitle("Project")
            self.box.setIcon(QMessageBox.Icon.Warning)
            self.box.setWindowModality(Qt.WindowModality.NonModal)
            self.box.buttonClicked.connect(self._clicked)
        box = self.box
        for b in list(box.buttons()):
            box.removeButton(b)
        box.setText(text)
        box.setInformativeText(info)
        if retry:
            self.retry_button = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
            box.setDefaultButton(self.retry_button)
        else:
            self.retry_button = None
            box.addButton(QMessageBox.StandardButton.Ok)
        box.show()
        box.raise_()

    def _clicked(self, button) -> None:
        if button is not None and button is self.retry_button:
            self.retry()
