"""Bulk sampling: "sample N from this space and score them with the live proxy settings" as a job.

Each sampled config is encoded, scored with `explorer.live_metrics.compute_metrics` (params, MACs,
the proxies the live settings show, latency per device) and written to the project as a candidate
with its metrics, one candidate at a time, so a cancelled or killed job keeps everything scored so
far.

Metric rows follow one naming scheme shared by the app: kind "complexity" (params, macs), "proxy"
(zen, gradsign), "latency" (one row per device, unit ms), "accuracy" (estimators).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from .arch import ArchGraph
from .errors import ConfigError
from .live_metrics import LiveSettings, Stopped, compute_metrics
from .spaces import get_space
from .store import Project

ProgressCb = Callable[[dict], None]
StopCb = Callable[[], bool]


def metric_row_key(key: str) -> tuple[str, str]:
    """compute_metrics key -> (kind, name) in the project database."""
    if key in ("params", "macs"):
        return "complexity", key
    if key.startswith("latency:"):
        return "latency", key.split(":", 1)[1]
    if key.startswith("accuracy:"):
        return "accuracy", key.split(":", 1)[1]
    return "proxy", key


def record_live_metrics(project: Project, cid: int, result: dict, settings: dict | None = None) -> int:
    """Write compute_metrics entries for candidate `cid`; n/a entries are stored as NULL with the
    reason in `method`, so the table shows why. Returns the number of rows written."""
    n = 0
    for key, entry in result.items():
        kind, name = metric_row_key(key)
        value = entry.get("value") if isinstance(entry, dict) else entry
        method = (entry.get("method") or entry.get("reason") or "") if isinstance(entry, dict) else ""
        project.record_metric(
            cid,
            kind,
            name,
            value,
            unit="ms" if kind == "latency" else "",
            method=str(method),
            settings=settings if kind == "proxy" else None,
            device_version=str(entry.get("version", "")) if isinstance(entry, dict) else "",
        )
        n += 1
    return n


@dataclass
class BulkSampleJob:
    """Sample `n` configs from `space` (seeds seed, seed+1, ...) and score them into `project_path`."""

    project_path: str
    space: str
    n: int
    seed: int = 0
    settings: dict | None = None  # LiveSettings fields; None: the live defaults
    devices: tuple[str, ...] = ()
    tags: tuple[str, ...] = ("bulk",)
    skip_duplicates: bool = True

    def run(self, progress: ProgressCb = lambda d: None, should_stop: StopCb = lambda: False) -> dict:
        if self.n < 1:
            raise ConfigError(f"sample count must be at least 1, got {self.n}")
        space = get_space(self.space)
        project = Project(self.project_path)
        note = ""
        live = LiveSettings.from_dict(self.settings) if self.settings else LiveSettings.live()
        settings_dict = live.to_dict()
        seen: set[str] = set()
        if self.skip_duplicates:
            seen = {json.dumps(c.config, sort_keys=True) for c in project.candidates(space=self.space)}
        ids: list[int] = []
        skipped = 0
        t0 = time.perf_counter()
        seed = self.seed
        attempts = 0
        stopped = False
        while len(ids) < self.n:
            if should_stop():
                stopped = True
                break
            attempts += 1
            if attempts > self.n * 20:
                break  # a tiny space is exhausted
            cfg = space.sample(seed)
            seed += 1
            key = json.dumps(cfg, sort_keys=True)
            if key in seen:
                skipped += 1
                continue
            seen.add(key)
            graph: ArchGraph = space.encode(cfg)
            graph.name = f"{self.space} #{seed - 1}"
            try:
                result = compute_metrics(graph, live, list(self.devices), should_stop=should_stop)
            except Stopped:
                stopped = True
                break
            except Exception as e:  # noqa: BLE001 - one candidate's failure is noted, the rest go on
                result = {}
                note = note or f"scoring failed once ({e.__class__.__name__}: {e})"
            cid = project.add_candidate(graph, tags=self.tags, notes=f"bulk sample, seed {seed - 1}")
            record_live_metrics(project, cid, result, settings_dict)
            ids.append(cid)
            dt = time.perf_counter() - t0
            rate = len(ids) / dt if dt > 0 else None
            progress(
                {
                    "phase": "sample",
                    "step": len(ids),
                    "total": self.n,
                    "candidates_per_s": rate,
                    "eta_s": (self.n - len(ids)) / rate if rate else None,
                    "candidate_id": cid,
                }
            )
        project.close()
        dt = time.perf_counter() - t0
        return {
            "candidate_ids": ids,
            "scored": len(ids),
            "skipped_duplicates": skipped,
            "stopped": stopped,
            "seconds": dt,
            "candidates_per_s": len(ids) / dt if dt > 0 else None,
            "note": note,
            "settings": settings_dict,
        }
