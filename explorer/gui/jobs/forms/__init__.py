"""One form per job kind: its widgets, its parameters (`params()`, the keys the job's command line
reads) and a `startRequested` signal the jobs panel answers by starting the job."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

DATA_TIP = "builtin: the shipped CIFAR-10 sample; or an ImageFolder directory / .npz file"


def labelled_row(*pairs: tuple[str, QWidget], into: QHBoxLayout | None = None) -> QHBoxLayout:
    """A row of "label widget" pairs (the forms' compact option rows)."""
    row = into if into is not None else QHBoxLayout()
    for label, widget in pairs:
        row.addWidget(QLabel(label))
        row.addWidget(widget)
    return row


def data_combo(tip: str = DATA_TIP) -> QComboBox:
    """An editable choice of training data: the shipped sample or a path."""
    box = QComboBox(editable=True)
    box.addItems(["builtin", "cifar-sample"])
    box.setToolTip(tip)
    return box
