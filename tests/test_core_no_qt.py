"""The core never imports Qt: checked in a fresh interpreter so nothing else has loaded it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import explorer


def test_core_imports_no_qt():
    mods = [
        m.name
        for m in pkgutil.walk_packages(explorer.__path__, "explorer.")
        if not m.name.startswith("explorer.gui") and m.name != "explorer.__main__"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "qt = ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'shiboken6')\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in qt)\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(mods) > 10
