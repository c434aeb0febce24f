"""The project store's errors: each a one-line message naming the file."""

from __future__ import annotations

from pathlib import Path

from ..errors import ExplorerError


class StoreError(ExplorerError):
    """The project file cannot be opened or written, or is from a newer app."""


class ProjectLockedError(StoreError):
    """Another program holds the project's write lock for longer than we were willing to wait."""

    def __init__(self, path: str | Path, waited_s: float):
        self.path, self.waited_s = Path(path), waited_s
        super().__init__(
            f"project {path} is locked by another program (another window, a job or an SQLite tool "
            f"is writing to it; waited {waited_s:g} s); try again"
        )


class ProjectDamagedError(StoreError):
    """Pages of the project file do not read back: it is left as it is; `recover_project` copies
    the rows that still read into a new file."""

    def __init__(self, path: str | Path, detail: str):
        self.path, self.detail = Path(path), _cap(detail)
        super().__init__(
            f"project {path} is damaged ({self.detail}); it was left unchanged: open a recovered copy "
            "(the rows that still read) instead"
        )


def _cap(text: str, n: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
