"""A small registry of search spaces (built-in ones load on first use, so the op registry and
the spaces never import each other at module load)."""

from __future__ import annotations

import importlib

from ..errors import ConfigError, clip
from .base import SearchSpace

_SPACES: dict[str, SearchSpace] = {}
_BUILTIN_MODULES = ("explorer.spaces.ofa_mbv3", "explorer.spaces.nb201")
_loaded = False


def register_space(space: SearchSpace) -> SearchSpace:
    _SPACES[space.name] = space
    return space


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _BUILTIN_MODULES:
            importlib.import_module(mod)


def list_spaces() -> list[SearchSpace]:
    _load_builtin()
    return list(_SPACES.values())


def get_space(name: str) -> SearchSpace:
    _load_builtin()
    space = _SPACES.get(name) if isinstance(name, str) else None
    if space is None:
        raise ConfigError(f"unknown search space {clip(name)} (known: {', '.join(_SPACES)})")
    return space
