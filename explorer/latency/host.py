"""The machine a measurement runs on: its CPU / GPU, runtime versions and cores (recorded with every
table, so a "device" is hardware x runtime x threads x batch), and the CPU time other processes use
while we measure (`LoadMonitor`, the protocol's foreign-load check)."""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import re
import time


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def gpu_model() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # pragma: no cover - broken CUDA installs
        return None
    return None


def slug(text: str) -> str:
    """`AMD EPYC 7B13 64-Core Processor` -> `amd-epyc-7b13-64-core`: file-name-safe device names."""
    s = re.sub(r"\((r|tm)\)", "", text.lower())
    s = re.sub(r"(@| with ).*$", "", s)
    s = re.sub(r"\b(processor|cpu)\b", " ", s)
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s[:40].strip("-") or "unknown"


def runtime_versions() -> dict:
    import torch

    out = {"torch": torch.__version__.split("+")[0], "python": platform.python_version()}
    try:
        import onnxruntime

        out["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        out["onnxruntime"] = None
    if torch.cuda.is_available():
        out["cuda"] = torch.version.cuda
    return out


def environment(config) -> dict:
    """What a measurement's numbers depend on (a MeasureConfig's runtime, threads and batch),
    recorded with every table and record."""
    env = _environment(config.runtime, config.threads, config.batch)
    return {**env, "versions": dict(env["versions"])}


@functools.lru_cache(maxsize=16)
def _environment(runtime: str, threads: int, batch: int) -> dict:
    versions = runtime_versions()
    env = {
        "runtime": runtime,
        "runtime_version": versions["onnxruntime"] if runtime == "onnxruntime" else versions["torch"],
        "versions": versions,
        "hardware": gpu_model() if runtime == "torch-cuda" else cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_cores": cpu_count(),
        "threads": threads,
        "batch": batch,
        "os": f"{platform.system()} {platform.release()}",
    }
    return env


def today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- foreign load: what other processes do while we measure ---------------------------------------
def _proc_stat() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs, or None where /proc/stat does not exist."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            parts = f.readline().split()
    except OSError:
        return None
    vals = [int(v) for v in parts[1:9]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


def _own_jiffies() -> int | None:
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime of all threads
    except (OSError, IndexError, ValueError):
        return None


class LoadMonitor:
    """CPU time that *other* processes used between start() and stop(), in cores
    (1.0 = one core fully busy). Linux only; elsewhere falls back to the 1-minute load average."""

    def start(self) -> LoadMonitor:
        self._stat, self._own, self._t = _proc_stat(), _own_jiffies(), time.perf_counter()
        return self

    def stop(self) -> float | None:
        stat, own = _proc_stat(), _own_jiffies()
        if self._stat is None or stat is None or own is None or self._own is None:
            try:
                return max(0.0, os.getloadavg()[0] - 1.0)
            except (AttributeError, OSError):
                return None
        d_busy, d_total = stat[0] - self._stat[0], stat[1] - self._stat[1]
        if d_total <= 0:
            return 0.0
        ncpu = os.cpu_count() or 1
        foreign = max(0, d_busy - (own - self._own))
        return foreign / d_total * ncpu
