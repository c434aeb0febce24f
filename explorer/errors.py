"""Errors the user can act on: each carries a one-line message the CLI and GUI show as is."""

from __future__ import annotations

# A quoted value in a message never takes more than this many characters (a 5,000-character
# string in a bad file must not flood the terminal); a whole printed message at most LINE_LIMIT.
VALUE_LIMIT = 80
LINE_LIMIT = 300


class ExplorerError(Exception):
    """Base of every error caused by user input (files, graphs, configs, devices)."""


class FormatError(ExplorerError):
    """A file could not be read: wrong format, unknown version, op or parameter."""


class ConfigError(ExplorerError):
    """A search-space config lies outside its space."""


class MemoryLimitError(ExplorerError):
    """Building or running a model would need more memory than the limit (checked before torch allocates)."""


def clip(value: object, limit: int = VALUE_LIMIT) -> str:
    """`repr(value)` for a message, cut to `limit` characters with the full length said."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not turn an error message into a crash
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 20, 10)]}...({len(text):,} chars)"


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """`text` as one printable line of at most `limit` characters: control characters and lone
    surrogates escaped, the middle elided (head and tail both carry information: path, reason)."""
    out = []
    for ch in str(text):
        o = ord(ch)
        if o < 32 or o == 127 or 0xD800 <= o <= 0xDFFF:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
        else:
            out.append(ch)
    line = "".join(out)
    if len(line) <= limit:
        return line
    head = (limit - 5) * 2 // 3
    return f"{line[:head]} ... {line[len(line) - (limit - 5 - head) :]}"
