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


def _rank(space: SearchSpace) -> int:
    module = type(space).__module__
    return _BUILTIN_MODULES.index(module) if module in _BUILTIN_MODULES else len(_BUILTIN_MODULES)


def list_spaces() -> list[SearchSpace]:
    """Built-in spaces in `_BUILTIN_MODULES` order, then the others as registered: the order (and
    so every default) never depends on which module happened to be imported first."""
    _load_builtin()
    return sorted(_SPACES.values(), key=_rank)


def find_space(name) -> SearchSpace | None:
    """The registered space of that name, or None (a graph's `meta.space` may name any space)."""
    _load_builtin()
    return _SPACES.get(name) if isinstance(name, str) else None


def spaces_with(**flags) -> list[SearchSpace]:
    """Registered spaces whose attributes equal `flags` (e.g. supports_supernet=True), in
    registration order: callers pick spaces by what they can do, never by name."""
    return [s for s in list_spaces() if all(getattr(s, k, None) == v for k, v in flags.items())]


def default_space(**flags) -> SearchSpace:
    """The first registered space with `flags`: the default of a `--space` option."""
    found = spaces_with(**flags)
    if not found:
        raise ConfigError(f"no registered search space has {flags}")
    return found[0]


def get_space(name: str) -> SearchSpace:
    _load_builtin()
    space = _SPACES.get(name) if isinstance(name, str) else None
    if space is None:
        raise ConfigError(f"unknown search space {clip(name)} (known: {', '.join(_SPACES)})")
    return space
