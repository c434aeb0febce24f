"""A finished job's files as project rows, and the jobs a reopened project finds without a process.

Each job kind leaves its outputs in its run folder and prints a JSON result on stdout: a training
run a checkpoint, an extraction a subnet with its weights, an evolutionary search the best config,
a ProxylessNAS search the derived architecture with its path's weights and latencies. `record_end`
turns them into checkpoint, candidate and metric rows and writes the job's final row, all in one
transaction, so a write retried after a lock never adds a candidate twice. Pure: the GUI calls these
on its project writer's thread, a script or test calls them directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from ..arch import ArchGraph, count_complexity, load_arch
from ..store import Project, StoreError
from .process import pid_alive
from .status import ACTIVE, BN, EXTRACT, PROXYLESS, SEARCH, TRAIN

GONE = "interrupted: the process is gone"


def record_job(project: Project, jid: int, fields: dict | None, lines: list[str] = ()) -> None:
    """A job row's fields and its log lines, in one transaction."""
    with project.transaction():
        if fields:
            project.update_job(jid, **fields)
        for line in lines:
            project.log(jid, line)


def read_result(run_dir: Path) -> dict | None:
    """The JSON object a job printed on stdout (after any other output), or None."""
    try:
        text = (Path(run_dir) / "stdout.txt").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text:
        return None
    try:
        return json.loads(text[text.index("{") :])
    except (ValueError, json.JSONDecodeError):
        return None


def error_tail(run_dir: Path, code: int | None) -> str:
    """A failed job's reason: the last three lines of its stderr, else its exit code."""
    p = Path(run_dir) / "stderr.txt"
    tail = p.read_text(errors="replace").strip().splitlines()[-3:] if p.exists() else []
    return " | ".join(tail) or f"exit code {code}"


def _complexity(p: Project, cid: int, graph: ArchGraph) -> None:
    c = count_complexity(graph)
    p.record_metric(cid, "complexity", "params", c.params)
    p.record_metric(cid, "complexity", "macs", c.macs)


def _train(p: Project, job: dict, result: dict) -> None:
    ck = result.get("checkpoint") or str(Path(job["run_dir"]) / "supernet.pt")
    last = (result.get("metrics") or [{}])[-1]
    p.add_checkpoint(ck, job_id=job["id"], phase=str(last.get("phase", "")), step=int(last.get("steps", 0)))


def _extracted(p: Project, job: dict, result: dict) -> int:
    params = job["params"]
    graph = load_arch(result["arch"])
    src = params.get("candidate_id")
    graph.name = f"extracted from #{src}" if src else "extracted subnet"
    graph.meta.setdefault("provenance", f"extracted from supernet {params['checkpoint']}")
    cid = p.add_candidate(
        graph,
        tags=["extracted"] + (["bn-recalibrated"] if params.get("recalibrate") else []),
        notes=f"job {job['id']}",
        parent_id=src,
        weights_path=result["weights"],
    )
    p.record_metric(cid, "complexity", "params", result.get("params"))
    p.record_metric(cid, "complexity", "macs", result.get("macs"))
    return cid


def _searched(p: Project, job: dict, result: dict) -> int:
    from ..search.predictor import official_space
    from ..spaces import get_space

    params = job["params"]  # the result names its space; older results: the search's default
    space = get_space(result.get("space") or params.get("space") or official_space())
    graph = space.encode(result["config"])
    graph.name = f"search ≤{params['constraint']}"
    cid = p.add_candidate(graph, tags=["search"], notes=f"job {job['id']}")
    p.record_metric(cid, "accuracy", "estimate", result.get("accuracy"), method=params.get("accuracy", ""))
    lat_name = params.get("latency", "note10")
    if lat_name != "macs":  # with "macs" the constraint is in MMACs, recorded below as MACs
        p.record_metric(cid, "latency", lat_name, result.get("latency_ms"), unit="ms", method="search table")
    _complexity(p, cid, graph)
    return cid


def _derived(p: Project, job: dict, result: dict) -> int:
    """The ProxylessNAS argmax path as a candidate with the supernet's weights of that path, its
    predicted latency on the search's device and, for a local device, measured."""
    params = job["params"]
    graph = load_arch(result["arch"])
    dev = (result.get("device") or {}).get("name") or str(params.get("device", "local"))
    target = result.get("target_ms", params.get("target_ms"))
    graph.name = f"proxyless {target:g} ms on {dev}"
    cid = p.add_candidate(
        graph, tags=["proxyless"], notes=f"job {job['id']}", weights_path=result.get("weights")
    )
    p.record_metric(
        cid, "latency", dev, result.get("predicted_ms"), unit="ms", method="ProxylessNAS layer table"
    )
    m = result.get("measured") or {}
    if m.get("measured_ms") is not None:
        p.record_metric(
            cid,
            "latency",
            f"{dev} measured",
            m["measured_ms"],
            unit="ms",
            method=f"measured median (p10 {m.get('p10_ms')}, p90 {m.get('p90_ms')})",
        )
    if result.get("val_acc_supernet_path") is not None:
        p.record_metric(
            cid,
            "accuracy",
            "proxyless supernet",
            result["val_acc_supernet_path"],
            method="supernet weights of the path, BN recalibrated, held-out split",
        )
    _complexity(p, cid, graph)
    return cid


_CANDIDATE_MAKERS: dict[str, Callable[[Project, dict, dict], int]] = {
    EXTRACT: _extracted,
    BN: _extracted,
    SEARCH: _searched,
    PROXYLESS: _derived,
}


def ingest(project: Project, job: dict, result: dict) -> dict:
    """Turn a finished job's outputs into project rows; returns `result` with the new candidate's
    id (`candidate_id`) for the kinds that make one."""
    result = dict(result)
    if job["kind"] == TRAIN:
        _train(project, job, result)
    elif job["kind"] in _CANDIDATE_MAKERS:
        result["candidate_id"] = _CANDIDATE_MAKERS[job["kind"]](project, job, result)
    return result


def record_end(
    project: Project, jid: int, status: str, result: dict | None, error: str | None, finished: float
) -> str:
    """A job's final row, with its outputs ingested when it is done; returns the status written
    ("failed" with the reason when ingesting failed: then none of its rows are left behind)."""
    with project.transaction() as db:
        if status == "done":
            try:
                with db.atomic():
                    result = ingest(project, project.job(jid), result or {})
            except StoreError:
                raise  # the project, not the job: the caller holds the write for Retry
            except Exception as e:  # noqa: BLE001 - reported on the job row
                status, error = "failed", f"{e.__class__.__name__}: {e}"
        project.update_job(jid, status=status, result=result or {}, error=error, finished=finished)
        project.log(jid, f"{status}" + (f": {error}" if error else ""))
    return status


def on_reopen(
    project: Project, alive: Callable[[int | None], bool] = pid_alive
) -> tuple[list[int], list[int]]:
    """The project's queued or running jobs: (ids whose process still runs, to follow again; ids
    whose process is gone, to mark interrupted with `mark_gone`)."""
    follow, gone = [], []
    for job in project.jobs():
        if job["status"] not in ACTIVE:
            continue
        if job["status"] == "running" and alive(job.get("pid")) and job.get("run_dir"):
            follow.append(job["id"])
        else:
            gone.append(job["id"])
    return follow, gone


def mark_gone(project: Project, jid: int, when: float | None = None) -> None:
    """A job found without its process: interrupted (training and ProxylessNAS stay resumable)."""
    record_job(
        project, jid, dict(status="interrupted", finished=time.time() if when is None else when), [GONE]
    )
