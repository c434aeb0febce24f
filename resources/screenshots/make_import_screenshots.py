"""Regenerate the import screenshots (offscreen): a MobileNetV3-shaped model (tests/zoo.py) exported
to ONNX at 224x224, imported through File > Import Model's dialog, with the latency heat overlay
on this machine's layer table and the Layers dock sorted by latency.

    QT_QPA_PLATFORM=offscreen python resources/screenshots/make_import_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))


def wait(app, cond, timeout: float = 300.0) -> None:
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("the window did not get there in time")


def export_onnx(path: Path) -> Path:
    import torch

    from tests import zoo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            zoo.make("mobilenetv3"), (torch.randn(1, 3, 224, 224),), path, dynamo=False, opset_version=17
        )
    return path


def main() -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from explorer.gui.layer_table import COLUMNS
    from explorer.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        src = export_onnx(Path(tmp) / "mobilenetv3_like.onnx")
        win = MainWindow(restore_state=False, ask_to_save=False, torch_threads=1)
        win.resize(1280, 800)
        win.show()
        wait(app, lambda: not win.controller.busy and win.controller._pending is None)
        dlg = win.import_model_dialog()
        dlg.source_edit.setText(str(src))
        dlg.start()
        wait(app, lambda: dlg.outcome is not None or bool(dlg.error))
        if dlg.error:
            raise SystemExit(dlg.error)
        win.import_box.close()
        win.scene.set_collapsed("mbconv3", False)  # one block open: its layers' own shares
        win.heat.set_mode("latency")
        win.layers_dock.raise_()
        win.resizeDocks([win.layers_dock], [260], Qt.Orientation.Vertical)
        wait(app, lambda: win.heat.report is not None and win.heat.report.device and not win.heat.busy)
        wait(app, lambda: not win.controller.busy and win.controller._pending is None)
        table = win.layer_table
        table.view.sortByColumn(COLUMNS.index("latency ms"), Qt.SortOrder.DescendingOrder)
        win.view.zoom_to_fit()
        for _ in range(30):
            app.processEvents()
        out = HERE / "import_heat.png"
        win.grab().save(str(out))
        print(f"screenshot saved to {out}")
        table.select_rows_of([table.proxy.data(table.proxy.index(0, 0))])  # the editor follows
        for _ in range(30):
            app.processEvents()
        win.resize(1280, 1000)  # the inspector now shows the node: room for both
        for _ in range(30):
            app.processEvents()
        win.resizeDocks([win.layers_dock], [420], Qt.Orientation.Vertical)
        for _ in range(30):
            app.processEvents()
        out = HERE / "layer_table.png"
        win.grab().save(str(out))
        print(f"screenshot saved to {out}")
        win.close()


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as cfg:
        os.environ["XDG_CONFIG_HOME"] = cfg  # never the user's window layout or recent files
        main()
