"""The Qt presentation layer (PySide6): it only presents and edits core objects."""

from __future__ import annotations

import sys


def _pin_none() -> None:
    """Work around PySide6 6.12 on Python < 3.12: its void wrappers (setToolTip, setPos, addItem,
    setSceneRect, ...) return None without a new reference, as if None were immortal (it is only
    from 3.12 on). Each call costs None one reference; at about 5,000 calls the interpreter aborts
    with "Fatal Python error: none_dealloc". Giving None a huge reference count makes it
    effectively immortal, as in 3.12+. Measured here: 1000 `item.setToolTip` calls -> -999 refs."""
    if sys.version_info >= (3, 12) or getattr(sys, "_nas_explorer_none_pinned", False):
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        if not version("shiboken6").startswith("6.12"):
            return  # the project pins PySide6 != 6.12 on this Python; guard for hand-made envs
    except PackageNotFoundError:
        return
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
    sys._nas_explorer_none_pinned = True


_pin_none()
