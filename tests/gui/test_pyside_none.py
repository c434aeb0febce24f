"""PySide6 6.12 on Python < 3.12 drops a reference to None on every void call; without the
workaround in explorer.gui the interpreter aborts after a few thousand edits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import explorer.gui  # applies the workaround
from PySide6.QtWidgets import QApplication, QGraphicsRectItem
app = QApplication([])
item = QGraphicsRectItem()
for _ in range(50_000):
    item.setToolTip("x")
print("survived")
"""


def test_many_void_calls_do_not_abort_the_interpreter():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and "survived" in r.stdout, r.stderr[-500:]
