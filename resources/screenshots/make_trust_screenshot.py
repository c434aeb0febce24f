"""Regenerate resources/screenshots/trust_panel.png (offscreen): the Estimators dock's trust panel on
the shipped NB201 sample, with the cost measured here on 3 NB201 cells (official settings, 1 thread).

    QT_QPA_PLATFORM=offscreen python resources/screenshots/make_trust_screenshot.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch
    from PySide6.QtWidgets import QApplication

    from explorer.gui.trust_panel import TrustPanel

    torch.set_num_threads(1)
    app = QApplication.instance() or QApplication([])
    panel = TrustPanel()
    panel.setStyleSheet("TrustPanel { background: white; }")
    panel.resize(680, 1180)
    panel.show()

    def until(done, timeout=900):
        t0 = time.monotonic()
        while not done() and time.monotonic() - t0 < timeout:
            app.processEvents()
            time.sleep(0.02)

    until(lambda: panel.table_data is not None)
    panel.measure()
    until(lambda: panel.costs is not None)
    for _ in range(20):
        app.processEvents()
    out = HERE / "trust_panel.png"
    panel.grab().save(str(out))
    print(f"screenshot saved to {out}")
    panel.shutdown()


if __name__ == "__main__":
    main()
