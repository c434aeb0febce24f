"""Headless Qt for the GUI tests, settings isolated per test, tiny live settings for speed."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from explorer.live_metrics import LOCAL_CPU, LiveSettings  # noqa: E402

# r=64: OFA's last stage is 1x1 at r=32, where GradSign's per-sample BN is undefined
TINY = LiveSettings(zen_batch=4, zen_repeats=1, gradsign_batch=8, resolution=64)
METRICS_TIMEOUT_MS = 120_000


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """QSettings (layout, recent files, devices) go to a per-test folder, never the user's."""
    from PySide6.QtCore import QSettings

    cfg = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cfg))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(cfg))
    yield cfg


@pytest.fixture
def make_window(qtbot):
    import torch

    from explorer.gui.main_window import MainWindow

    threads = torch.get_num_threads()
    made = []

    def make(graph=None, settings=TINY, devices=(LOCAL_CPU,), debounce_ms=60, wait=True, **kw):
        win = MainWindow(
            graph,
            settings=settings,
            devices=None if devices is None else list(devices),
            restore_state=False,
            debounce_ms=debounce_ms,
            ask_to_save=False,
            torch_threads=1,
            **kw,
        )
        qtbot.addWidget(win)
        win.resize(1280, 800)
        win.show()
        qtbot.waitExposed(win)
        made.append(win)
        if wait:
            wait_metrics(qtbot, win)
        return win

    yield make
    for w in made:
        w.controller.shutdown()
    torch.set_num_threads(threads)  # the app's one-thread workers must not slow other tests


def wait_metrics(qtbot, win, timeout=METRICS_TIMEOUT_MS):
    """Until the current request's metrics are all in, layers measured in the background included
    (or the graph was found invalid)."""
    qtbot.waitUntil(
        lambda: (
            not win.controller.busy
            and not win.controller.measuring
            and not win.controller.timer.isActive()
            and win.controller._pending is None
        ),
        timeout=timeout,
    )
