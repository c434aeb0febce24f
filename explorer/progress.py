"""The core job interface: a long task as a plain object the CLI, the GUI and tests drive alike.

A job has `run(progress, should_stop) -> result`. It reports `Progress` records through
`progress` and polls `should_stop()` between units of work, so cancelling is cooperative and a
cancelled job leaves its files consistent. A parent process (the GUI) follows a job running in a
child process through the JSON-lines file `ProgressWriter` appends and `ProgressReader` tails.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class Progress:
    """One progress report; fields a job does not know stay None."""

    phase: str = ""
    step: int = 0
    total: int | None = None
    loss: float | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.step / self.total)

    def to_json(self) -> str:
        d = asdict(self)
        for k in ("loss", "images_per_s", "eta_s"):
            v = d[k]
            if v is not None and not math.isfinite(v):
                d[k] = None
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Progress:
        known = {
            k: d[k] for k in ("phase", "step", "total", "loss", "images_per_s", "eta_s", "message") if k in d
        }
        return cls(**known, extra=dict(d.get("extra") or {}))


ProgressFn = Callable[[Progress], None]
StopFn = Callable[[], bool]


class Cancelled(Exception):
    """Raised inside a job when `should_stop()` became true; `run` callers may catch it."""


class Job(Protocol):
    def run(self, progress: ProgressFn, should_stop: StopFn) -> Any: ...


def no_progress(_: Progress) -> None:
    return None


def never_stop() -> bool:
    return False


class Rate:
    """Images/s and ETA over a job's steps (wall clock since the first `update`)."""

    def __init__(self, total_steps: int | None = None, start_step: int = 0):
        self.total = total_steps
        self.start_step = start_step
        self.t0 = time.perf_counter()
        self.images = 0

    def update(self, step: int, images: int) -> tuple[float | None, float | None]:
        self.images += images
        dt = time.perf_counter() - self.t0
        ips = self.images / dt if dt > 0 else None
        done = step - self.start_step
        eta = None
        if self.total is not None and done > 0 and dt > 0:
            eta = max(0.0, (self.total - step) * dt / done)
        return ips, eta


class ProgressWriter:
    """Appends one JSON object per progress report to a file, flushed so a reader sees it at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the job's life

    def __call__(self, p: Progress) -> None:
        self._f.write(p.to_json() + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> ProgressWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ProgressReader:
    """Tails a JSON-lines progress file: `poll()` returns the complete records written since the last call.

    A half-written last line (the writer was killed mid-write) is kept back until it is complete.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._pos = 0
        self._partial = ""

    def poll(self) -> list[Progress]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as f:
            f.seek(self._pos)
            chunk = f.read()
            self._pos = f.tell()
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(Progress.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue
        return out


def tee(*fns: ProgressFn | None) -> ProgressFn:
    """One progress callback that forwards to several (None entries are skipped)."""
    live = [f for f in fns if f is not None]

    def _fn(p: Progress) -> None:
        for f in live:
            f(p)

    return _fn
