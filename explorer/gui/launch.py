"""Start the Qt application (placeholder window until the main window lands)."""

from __future__ import annotations


def run_app(open_path: str | None = None, screenshot: str | None = None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QLabel

    from ..arch import count_complexity, load_arch
    from ..spaces import get_space

    app = QApplication.instance() or QApplication([])
    graph = (
        load_arch(open_path)
        if open_path
        else get_space("ofa-mbv3-w1.0").encode(get_space("ofa-mbv3-w1.0").sample(0))
    )
    c = count_complexity(graph)
    label = QLabel(f"NAS Explorer\n{graph.name}\nparams {c.params:,}  MACs {c.macs:,}")
    label.setMinimumSize(480, 200)
    label.show()
    if screenshot:
        QTimer.singleShot(200, lambda: (label.grab().save(screenshot), app.quit()))
    return app.exec()
