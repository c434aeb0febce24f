"""File > Import model: an ONNX file, a torch.export program or a `package.module:factory` spec
into the editor, the GUI twin of `nas-explorer arch import` (the same importer, input shape and
parity check, and the same report lines).

The import and its check run on a worker (tracing a big model takes seconds); Cancel drops the
result (the importer itself cannot be interrupted, so a cancelled trace finishes unseen). A bad
source leaves the dialog open with the importer's one-line error, and the editor's graph as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from ..errors import ExplorerError
from ..importers import ImportResult, import_model, parse_input_shape
from .workers import Task, first_line, run_task

FILE_FILTER = "Models (*.onnx *.pt2);;ONNX (*.onnx);;torch.export programs (*.pt2);;All (*)"


class ImportCancelled(Exception):
    """Raised by the worker once told to stop (the task bridge treats it as the cancellation)."""


@dataclass
class ImportOutcome:
    """An import as the editor opens it: the result, the parity check and the report lines."""

    src: str
    result: ImportResult
    max_abs_diff: float | None
    lines: list[str] = field(default_factory=list)
    warning: str = ""


def run_import(src: str, shape: tuple | None, check: bool, progress, should_stop) -> ImportOutcome:
    """`arch import SRC [--input-shape S] [--no-check]` without the files: import, then check."""
    from ..commands.import_ import describe, parity_warning

    progress(f"importing {src}\u2026")
    result = import_model(src, shape)
    if should_stop():
        raise ImportCancelled
    diff = None
    if check:
        progress("checking the built graph against the original\u2026")
        diff = result.parity()
        if should_stop():
            raise ImportCancelled
    return ImportOutcome(src, result, diff, describe(src, result, diff), parity_warning(diff))


class ImportDialog(QDialog):
    """Source (a file or a spec), input shape, check; Import runs it in the background."""

    imported = Signal(object)  # ImportOutcome

    def __init__(self, parent=None, src: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Import model")
        self.task: Task | None = None
        self._gen = 0  # the wanted task's generation: a cancelled or replaced one is dropped
        self.outcome: ImportOutcome | None = None
        self.error = ""
        self.source_edit = QLineEdit(src)
        self.source_edit.setPlaceholderText("model.onnx, program.pt2 or package.module:factory")
        self.source_edit.setToolTip(
            "an ONNX file, a torch.export program (torch.export.save), or a Python factory "
            "package.module:factory (called with no arguments, traced with torch.export)"
        )
        browse = QPushButton("File\u2026")
        browse.clicked.connect(self._browse)
        src_row = QHBoxLayout()
        src_row.addWidget(self.source_edit, 1)
        src_row.addWidget(browse)
        self.shape_edit = QLineEdit()
        self.shape_edit.setPlaceholderText("NxCxHxW; default: the file's own, else 1x3x224x224")
        self.check_box = QCheckBox("run the built graph against the original (max abs diff)")
        self.check_box.setChecked(True)
        form = QFormLayout()
        form.addRow("Source:", src_row)
        form.addRow("Input shape:", self.shape_edit)
        form.addRow("", self.check_box)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.import_btn = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.import_btn.setDefault(True)
        self.import_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)
        self.resize(560, 0)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import model", "", FILE_FILTER)
        if path:
            self.source_edit.setText(path)

    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running and not self.task.stop_event.is_set()

    def _show_error(self, message: str) -> None:
        self.error = message
        self.status.setStyleSheet("color: #b71c1c")
        self.status.setText(message)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.bar.setRange(0, 0 if busy else 1)  # 0..0: a busy bar (the importer has no steps)
        self.import_btn.setEnabled(not busy)
        self.source_edit.setEnabled(not busy)
        self.shape_edit.setEnabled(not busy)
        self.check_box.setEnabled(not busy)
        if text:
            self.status.setStyleSheet("")
            self.status.setText(text)

    def start(self) -> Task | None:
        """Check the form here (one-line errors at once), then import on a worker."""
        if self.running:
            return None
        src = self.source_edit.text().strip()
        if not src:
            self._show_error("choose a .onnx or .pt2 file, or type package.module:factory")
            return None
        try:
            text = self.shape_edit.text().strip()
            shape = parse_input_shape(text) if text else None
        except ExplorerError as e:
            self._show_error(str(e))
            return None
        self.error, self.outcome = "", None
        check = self.check_box.isChecked()
        self._set_busy(True, f"importing {src}\u2026")
        self._gen += 1
        task = self.task = run_task(
            lambda progress, stop: run_import(src, shape, check, progress, stop), self, generation=self._gen
        )
        task.progress.connect(self._progress)
        task.result.connect(self._done)
        task.error.connect(self._failed)
        return task

    def _current(self, gen: int) -> bool:
        """Signals of the task still wanted (not cancelled, not replaced)."""
        return gen == self._gen and self.task is not None and not self.task.stop_event.is_set()

    def _progress(self, gen: int, text: str) -> None:
        if self._current(gen):
            self.status.setText(text)

    def _done(self, gen: int, outcome: ImportOutcome) -> None:
        if not self._current(gen):
            return
        self.outcome = outcome
        self._set_busy(False, "imported")
        self.imported.emit(outcome)
        self.accept()

    def _failed(self, gen: int, text: str) -> None:
        if self._current(gen):
            self._set_busy(False)
            self._show_error(first_line(text, 400))

    def cancel(self) -> None:
        """While importing: stop waiting for it (its result is dropped); else close the dialog."""
        if self.running:
            self.task.cancel()
            self._set_busy(False, "cancelled: the graph is unchanged")
            return
        self.reject()

    def reject(self) -> None:
        if self.running:
            self.task.cancel()
        super().reject()
