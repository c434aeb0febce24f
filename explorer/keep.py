"""Keep a graph as a project candidate: the one path from the editor (File > Keep, the candidates
dock's Keep current) and scripts into the project.

The candidate gets its params/MACs counted now, its lineage (`parent_id` of a Net2Net child), and
the live metrics computed for it, but only when they were computed for this very graph: the caller
passes the digest (explorer.edits.graph_digest) of the graph the metrics belong to, and metrics of
another graph (an edit made while they were shown, or no digest at all) are refused, never stored
beside the wrong architecture. One transaction: a keep retried after a lock never lands twice.
"""

from __future__ import annotations

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


def keep_candidate(
    project: Project,
    graph: ArchGraph,
    metrics: dict | None = None,
    *,
    metrics_digest: str | None = None,
    name: str | None = None,
    tags: tuple[str, ...] | list[str] = ("kept",),
    notes: str = "",
) -> int:
    """Store `graph` (a copy, without the id of a candidate it was opened from) as a new candidate
    with its params/MACs and, if they are of this graph (`stale_reason` says why not), its live
    metrics (`compute_metrics` entries); returns the candidate id. Raises InvalidGraphError for a
    graph with validation errors."""
    from .bulk import record_live_metrics

    check_keepable(graph)
    g = graph.copy()
    g.meta.pop("candidate_id", None)
    refused = stale_reason(g, metrics, metrics_digest)
    with project.transaction():
        cid = project.add_candidate(g, name=name, tags=tags, notes=notes, parent_id=g.meta.get("parent_id"))
        c = count_complexity(g)
        project.record_metric(cid, "complexity", "params", c.params)
        project.record_metric(cid, "complexity", "macs", c.macs)
        if metrics and not refused:
            record_live_metrics(project, cid, metrics)
    return cid
