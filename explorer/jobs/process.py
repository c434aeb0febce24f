"""A job's child process: started in a session of its own (it outlives the window, and a cancel
reaches its whole group), found again by pid, and followed through the files in its run folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from ..progress import Progress
from .commands import package_root

_SEARCH_LINE = re.compile(r"\[search\] generation (\d+)/(\d+)\s*(.*)")


def pid_alive(pid: int | None) -> bool:
    """Whether `pid` is a live (not zombie) process running NAS Explorer."""
    if not pid:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap our own finished child
        if done == pid:
            return False
    except ChildProcessError:
        pass
    except OSError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return False
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            return b"explorer" in cmd
        except OSError:
            return False
    return True


def spawn(args: list[str], run_dir: Path) -> subprocess.Popen:
    """`python -m explorer ARGS` with stdout to run_dir/stdout.txt and stderr appended to
    run_dir/stderr.txt, in a new session."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root() + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    out = open(run_dir / "stdout.txt", "w", encoding="utf-8")  # noqa: SIM115
    err = open(run_dir / "stderr.txt", "a", encoding="utf-8")  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "explorer", *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    finally:
        out.close()
        err.close()


def signal_group(pid: int | None, sig: int = signal.SIGKILL) -> bool:
    """Send `sig` to the job's process group (the process alone if that fails); False when it
    could not be sent at all."""
    if not pid:
        return False
    try:
        os.killpg(os.getpgid(pid), sig)
        return True
    except OSError:
        try:
            os.kill(pid, sig)
            return True
        except OSError:
            return False


class StderrTail:
    """The lines a job appended to run_dir/stderr.txt since the last `poll()` (from `start`, a
    byte offset: a resumed job's earlier lines are not read again)."""

    def __init__(self, run_dir: Path, start: int = 0):
        self.path = Path(run_dir) / "stderr.txt"
        self.pos = start

    def skip_existing(self) -> None:
        self.pos = self.path.stat().st_size if self.path.exists() else 0

    def poll(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8", errors="replace") as f:
            f.seek(self.pos)
            text = f.read()
            self.pos = f.tell()
        return [ln for ln in text.splitlines() if ln.strip()]


def search_progress(line: str) -> Progress | None:
    """The evolutionary search's `[search] generation i/n ...` stderr line as a Progress record."""
    m = _SEARCH_LINE.search(line)
    if m is None:
        return None
    return Progress(phase="search", step=int(m[1]), total=int(m[2]), message=m[3].strip())
