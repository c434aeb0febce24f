"""Start the Qt application: `nas-explorer [--open FILE] [--screenshot PATH]`."""

from __future__ import annotations

import os
import sys
import time

SCREENSHOT_TIMEOUT_S = 90.0


def _size_from_env(default=(1280, 800)) -> tuple[int, int]:
    raw = os.environ.get("NAS_EXPLORER_WINDOW_SIZE", "")
    try:
        w, h = (int(v) for v in raw.lower().split("x"))
        return w, h
    except ValueError:
        return default


def default_project_path():
    """The project opened when none is named: $NAS_EXPLORER_PROJECT or the user's data dir."""
    from pathlib import Path

    env = os.environ.get("NAS_EXPLORER_PROJECT")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "nas-explorer"
    base.mkdir(parents=True, exist_ok=True)
    return base / "default.nasx"


def run_app(open_path: str | None = None, screenshot: str | None = None) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from ..arch import load_arch
    from .main_window import ICON, MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("NAS Explorer")
    app.setOrganizationName("nas-explorer")
    app.setDesktopFileName("nas-explorer")
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    project = None
    if open_path and open_path.endswith(".nasx"):
        project, open_path = open_path, None
    elif screenshot is None:
        project = str(default_project_path())
    graph = load_arch(open_path) if open_path else None  # a bad file: one-line error, exit code 2
    win = MainWindow(
        graph,
        open_path,
        restore_state=screenshot is None,
        ask_to_save=screenshot is None,
        torch_threads=1,
        project=project,
    )
    if open_path:
        win._add_recent(open_path)
    if screenshot:
        w, h = _size_from_env()
        win.resize(w, h)
    win.show()
    if screenshot:
        return _screenshot(app, win, screenshot)
    return app.exec()


def _screenshot(app, win, path: str) -> int:
    """Wait for the live metrics, every row (or an invalid-graph verdict), then save the window as PNG."""
    from PySide6.QtCore import QTimer

    t0 = time.perf_counter()
    state = {"done": False}

    def finish(*_a) -> None:
        if state["done"]:
            return
        state["done"] = True
        QTimer.singleShot(50, win.view.zoom_to_fit)
        QTimer.singleShot(400, shoot)

    def shoot() -> None:
        img = win.grab()
        ok = img.save(path)
        dt = time.perf_counter() - t0
        print(
            f"screenshot {'saved to' if ok else 'FAILED:'} {path} ({img.width()}x{img.height()}, {dt:.1f} s)"
        )
        state["ok"] = ok
        win.close()
        app.quit()

    c = win.controller
    c.settled.connect(finish)  # after the rows measured in the background too
    c.invalid.connect(finish)
    c.failed.connect(finish)
    QTimer.singleShot(int(SCREENSHOT_TIMEOUT_S * 1000), finish)
    app.exec()
    return 0 if state.get("ok") else 1
