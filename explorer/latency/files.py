"""Device files on disk: where they live, reading their JSON with one-line errors, writing them.

Files are found in the repo's ``luts/`` and in the user directory (``$NAS_EXPLORER_LUTS`` or
``~/.local/share/nas-explorer/luts``); a user device of the same name shadows a shipped one. Every
write is atomic (temporary file + rename) and keeps the previous file as ``<name>.json.bak``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import explorer
from explorer.errors import FormatError
from explorer.fileio import atomic_write_text


def shipped_dir() -> Path:
    return Path(explorer.__file__).resolve().parents[1] / "luts"


def user_dir() -> Path:
    env = os.environ.get("NAS_EXPLORER_LUTS")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "nas-explorer" / "luts"


def search_dirs() -> list[Path]:
    """User directory first, so a user's device shadows a shipped one of the same name."""
    return [user_dir(), shipped_dir()]


def find_device_file(name: str) -> Path | None:
    """`<name>.json` in the first search directory holding one."""
    for d in search_dirs():
        p = d / f"{name}.json"
        if p.is_file():
            return p
    return None


def read_device_json(path: str | Path):
    """The parsed JSON of a device file; a clear FormatError (naming the backup, if any) otherwise."""
    path = Path(path)
    bak = path.with_name(path.name + ".bak")
    hint = f"; the previous version is {bak.name}" if bak.exists() else ""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise FormatError(f"cannot read device file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: corrupt device file (not UTF-8 text){hint}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(
            f"{path}: corrupt device file (corrupt or truncated JSON at line {e.lineno}: {e.msg}){hint}"
        ) from None
    except RecursionError:
        raise FormatError(f"{path}: corrupt device file (JSON nested too deeply){hint}") from None


def write_device_json(path: str | Path, d: Mapping) -> Path:
    """Write atomically, an existing file first kept as `<name>.bak`: layer tables one entry per line
    (readable, diffable), model weights compact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    indent = 1 if d.get("kind") == "lut" else None
    atomic_write_text(path, json.dumps(d, indent=indent, separators=(",", ":"), allow_nan=False), backup=True)
    return path
