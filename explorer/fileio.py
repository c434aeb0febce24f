"""Atomic file writes: every file the app writes goes through `atomic_write`.

A crash at any moment leaves the old file or the new one, never half of one: the data goes to a
temporary file beside the target, is fsynced, then renamed over it (os.replace is atomic on POSIX
and Windows), and the rename is made durable by fsyncing the folder.

The temporary file is created with `os.open(..., 0o666)`, so the kernel applies the user's umask
and a new file gets the user's normal mode (`tempfile.mkstemp` would leave 0600). A file that
already exists keeps its mode: a user who made a checkpoint private keeps it private.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import ExplorerError


class WriteError(ExplorerError):
    """The output path cannot take the file (a folder, a read-only place, a missing drive...)."""


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside `path` (mode 0666 minus the umask), opened for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {path}")


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable (not possible on every platform)
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], object], *, backup: bool = False
) -> Path:
    """Call `write(f)` on a temporary binary file, then put it in place of `path` atomically.

    `backup=True` first copies an existing file to `<name>.bak` (a copy, so `path` exists at every
    instant). On any error the temporary file is removed and `path` is untouched; a path that
    cannot take a file raises WriteError (one line), errors of `write` itself propagate.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    except OSError as e:  # the folder is a file, read-only, ...
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            old_mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            old_mode = None
        if old_mode is not None:
            os.chmod(tmp, old_mode)
            if backup:
                shutil.copy2(path, path.with_name(path.name + ".bak"))
        try:
            os.replace(tmp, path)
        except OSError as e:  # e.g. `path` is a folder
            raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, backup: bool = False) -> Path:
    return atomic_write(path, lambda f: f.write(data), backup=backup)


def atomic_write_text(path: str | os.PathLike, text: str, *, backup: bool = False) -> Path:
    """UTF-8 text, newlines as given (no platform translation)."""
    return atomic_write_bytes(path, text.encode("utf-8"), backup=backup)
