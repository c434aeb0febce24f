"""Keep a graph as a project candidate: the one path from the editor (File > Keep, the candidates
dock's Keep current) and scripts into the project.

The candidate gets its params/MACs counted now, its lineage (`parent_id` of a Net2Net child), and
the live metrics computed for it, but only when they were computed for this very graph: the caller
passes the digest (explorer.edits.graph_digest) of the graph the metrics belong to, and metrics of
another graph (an edit made while they were shown, or no digest at all) are refused, never stored
beside the wrong architecture. One transaction: a keep retried after a lock never lands twice.
Weights kept with the graph (an imported model's, a Net2Net child's) go to a file beside the
project (`<project>.weights/`), named by their digest so a retried keep rewrites the same file,
and the candidate points at it: Export then writes them instead of a fresh init.
"""

from __future__ import annotations

from pathlib import Path

from .arch import ArchGraph, count_complexity, validate
from .edits import graph_digest
from .errors import ExplorerError
from .store import Project


class InvalidGraphError(ExplorerError):
    """The graph has validation errors: it cannot be kept."""


def check_keepable(graph: ArchGraph) -> None:
    report = validate(graph)
    if not report.ok:
        raise InvalidGraphError(f"the graph is invalid: {report.issues[0]}")


def stale_reason(graph: ArchGraph, metrics: dict | None, metrics_digest: str | None) -> str:
    """Why `metrics` may not be recorded with `graph` ("" when they may, or there are none)."""
    if not metrics:
        return ""
    if metrics_digest is None:
        return "the metrics do not say which graph they were computed for"
    if metrics_digest != graph_digest(graph):
        return "the metrics were computed for an earlier version of the graph"
    return ""


def weights_dir(project: Project) -> Path:
    return project.path.with_name(project.path.name + ".weights")


def save_kept_weights(project: Project, weights: dict) -> Path:
    from .tensorfile import payload_digest, save_tensors

    state = {k: v.detach().cpu() for k, v in weights.items()}
    return save_tensors(weights_dir(project) / f"w{payload_digest(state)[:16]}.pt", state)


def keep_candidate(
    project: Project,
    graph: ArchGraph,
    metrics: dict | None = None,
    *,
    metrics_digest: str | None = None,
    name: str | None = None,
    tags: tuple[str, ...] | list[str] = ("kept",),
    notes: str = "",
    weights: dict | None = None,
) -> int:
    """Store `graph` (a copy, without the id of a candidate it was opened from) as a new candidate
    with its params/MACs and, if they are of this graph (`stale_reason` says why not), its live
    metrics (`compute_metrics` entries) and `weights` (a state_dict of the built graph, stored in a
    file); returns the candidate id. Raises InvalidGraphError for a graph with validation errors."""
    from .bulk import record_live_metrics

    check_keepable(graph)
    g = graph.copy()
    g.meta.pop("candidate_id", None)
    refused = stale_reason(g, metrics, metrics_digest)
    path = str(save_kept_weights(project, weights)) if weights else None
    with project.transaction():
        cid = project.add_candidate(
            g, name=name, tags=tags, notes=notes, parent_id=g.meta.get("parent_id"), weights_path=path
        )
        c = count_complexity(g)
        project.record_metric(cid, "complexity", "params", c.params)
        project.record_metric(cid, "complexity", "macs", c.macs)
        if metrics and not refused:
            record_live_metrics(project, cid, metrics)
    return cid
