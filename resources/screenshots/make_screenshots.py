"""Regenerate the README screenshots (offscreen): the default project and an NB201 cell through
`nas-explorer --screenshot`, an invalid edit (last metrics greyed) through the window API, and
the Metrics panel with registered proxies beside Zen/GradSign plus the live settings dialog.

    QT_QPA_PLATFORM=offscreen python resources/screenshots/make_screenshots.py [window|invalid|live]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXAMPLES = REPO / "resources" / "examples"
SIZES = {"1280x800": "", "1920x1080": "_1920"}


def cli_shot(out: Path, size: str, open_path: Path | None, cfg: str) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NAS_EXPLORER_WINDOW_SIZE=size, XDG_CONFIG_HOME=cfg)
    cmd = [sys.executable, "-m", "explorer", "--screenshot", str(out)]
    if open_path:
        cmd += ["--open", str(open_path)]
    subprocess.run(cmd, cwd=REPO, env=env, check=True, timeout=600)


def invalid_shot(out: Path, size: str) -> None:
    """Open a valid graph, wait for its metrics, add an edge the classifier cannot take."""
    from PySide6.QtWidgets import QApplication

    from explorer.arch import load_arch
    from explorer.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    w, h = (int(v) for v in size.split("x"))
    win = MainWindow(load_arch(EXAMPLES / "small_cnn.json"), restore_state=False, ask_to_save=False)
    win.resize(w, h)
    win.show()
    while win.controller.busy or win.controller.timer.isActive() or win.controller._pending is not None:
        app.processEvents()
    win.scene.connect_nodes("input", "fc")
    win.controller.timer.stop()
    win.controller._fire()
    win.scene.select_nodes(["fc"])
    for _ in range(20):
        app.processEvents()
    win.view.zoom_to_fit()
    app.processEvents()
    win.grab().save(str(out))
    print(f"screenshot saved to {out}")
    win.close()


def live_shots() -> None:
    """An NB201 cell with NASWOT, AZ-NAS and the ensemble shown (the population proxies as their
    percentile in the space's reference sample), then the settings dialog listing every proxy."""
    from PySide6.QtWidgets import QApplication

    from explorer.gui.main_window import MainWindow
    from explorer.gui.settings_dialog import SettingsDialog
    from explorer.live_metrics import LiveSettings
    from explorer.spaces import get_space

    app = QApplication.instance() or QApplication([])
    s = LiveSettings(proxies=("zen", "gradsign", "naswot", "az-nas", "ensemble"))
    nb = get_space("nb201")
    win = MainWindow(nb.encode(nb.sample(3)), settings=s, devices=[], restore_state=False, ask_to_save=False)
    win.device_list.set_checked("help-nb201-pixel3", True)
    win.device_list.set_checked("local-cpu", True)
    win.resize(1280, 800)
    win.show()
    c = win.controller
    while c.busy or c.measuring or c.timer.isActive() or c._pending is not None:
        app.processEvents()
    win.metrics_dock.resize(460, 520)
    app.processEvents()
    win.metrics.grab().save(str(HERE / "metrics_panel_proxies.png"))
    dlg = SettingsDialog(s, win)
    dlg.resize(760, dlg.sizeHint().height())
    dlg.show()
    app.processEvents()
    dlg.grab().save(str(HERE / "settings_dialog.png"))
    print(f"screenshots saved to {HERE / 'metrics_panel_proxies.png'} and {HERE / 'settings_dialog.png'}")
    dlg.close()
    win.close()


def main() -> None:
    which = set(sys.argv[1:]) or {"window", "invalid", "live"}
    with tempfile.TemporaryDirectory() as cfg:
        for size, suffix in SIZES.items() if "window" in which else ():
            cli_shot(HERE / f"main_window{suffix}.png", size, None, cfg)
            cli_shot(HERE / f"nb201_cell{suffix}.png", size, EXAMPLES / "nb201_resnet_like.json", cfg)
        os.environ["XDG_CONFIG_HOME"] = cfg
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        for size, suffix in SIZES.items() if "invalid" in which else ():
            invalid_shot(HERE / f"invalid_graph{suffix}.png", size)
        if "live" in which:
            live_shots()


if __name__ == "__main__":
    main()
