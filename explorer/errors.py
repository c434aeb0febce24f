"""Errors the user can act on: each carries a one-line message the CLI and GUI show as is."""

from __future__ import annotations


class ExplorerError(Exception):
    """Base of every error caused by user input (files, graphs, configs, devices)."""


class FormatError(ExplorerError):
    """A file could not be read: wrong format, unknown version, op or parameter."""


class ConfigError(ExplorerError):
    """A search-space config lies outside its space."""
