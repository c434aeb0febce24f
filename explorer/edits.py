"""Graph-level edit commands: each takes a graph (and the weights it has, if any) and returns an
`Edit` (the new graph, its weights, the undo text and what to tell the user) or raises an
ExplorerError naming the reason. The editor pushes an Edit as one undoable command; a script
applies it directly. Also what identifies a graph for its metrics (`graph_digest`).

Net2Net (function-preserving growth, explorer.estimators.net2net) is the first kind: the child
records its lineage in `graph.meta` (`parent_id` of a stored parent, `lineage` with the operation)
so it is undone and kept with the graph.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .arch import ArchGraph
from .estimators.net2net import Net2NetError, candidate_actions, deepen_problem, net2deeper, net2wider
from .estimators.net2net import widen_problem as _widen_problem
from .estimators.net2net import width_of as _width_of

FRESH = " (the graph had no weights: grown from a fresh seeded init, seed 0)"


def structure_key(graph: ArchGraph) -> tuple:
    """What the metrics depend on: nodes with their op and params, edges with their ports
    (positions, groups, names and meta excluded)."""
    nodes = tuple(
        (n, d["op"], tuple(sorted(d["params"].items(), key=lambda kv: kv[0])))
        for n, d in graph.g.nodes(data=True)
    )
    edges = tuple(sorted(graph.g.edges(data="port")))
    return nodes, edges


def graph_digest(graph: ArchGraph) -> str:
    """A short digest of `structure_key`: equal for graphs whose metrics are equal."""
    text = json.dumps(structure_key(graph), default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Edit:
    text: str  # one line for the undo history ("Widen conv_1 to 12")
    graph: ArchGraph
    weights: dict  # state_dict of build_model(graph)
    message: str  # what happened, for the status bar
    new_node: str | None = None  # a node the edit added (to select it)


def _weights_of(graph: ArchGraph, weights: dict | None) -> tuple[dict, bool]:
    """(state_dict, fresh): the given weights, else a seeded init (seed 0) of the graph."""
    if weights is not None:
        return weights, False
    from .arch.build import build_model

    return build_model(graph, seed=0).state_dict(), True


def grown_from(parent: ArchGraph, child: ArchGraph, **lineage) -> ArchGraph:
    """Mark `child` as grown from `parent`: a new, unsaved candidate whose `parent_id` is the
    parent's stored id (if any) and whose `lineage` names the parent and the operation."""
    pid = parent.meta.get("candidate_id")
    child.meta.pop("candidate_id", None)
    if pid is not None:
        child.meta["parent_id"] = pid
    else:
        child.meta.pop("parent_id", None)
    child.meta["lineage"] = {"parent": pid if pid is not None else (parent.name or "untitled"), **lineage}
    return child


@dataclass(frozen=True)
class Growth:
    """Which Net2Net edits a node allows: None, or why not (the reason shown on the action)."""

    widen: str | None
    deepen: str | None
    suggested_width: int | None  # about 1.5x the current width, where widening is allowed


def growth_options(graph: ArchGraph, nid: str, valid: bool = True) -> Growth:
    if not valid:
        why = "fix the graph's errors first (see Errors)"
        return Growth(why, why, None)
    widen_why = _widen_problem(graph, nid)
    suggested = None
    if widen_why is None:
        acts = candidate_actions(graph)
        suggested = next((a["width"] for a in acts if a["action"] == "widen" and a["node"] == nid), None)
    return Growth(widen_why, deepen_problem(graph, nid), suggested)


def widen_width(graph: ArchGraph, nid: str) -> int:
    """The width a widen of `nid` starts from; raises Net2NetError when it cannot be widened."""
    why = _widen_problem(graph, nid)
    if why:
        raise Net2NetError(why)
    return _width_of(graph, nid)


def widen(graph: ArchGraph, weights: dict | None, nid: str, width: int) -> Edit:
    """Net2Wider: `nid` gets `width` units, copies of existing ones; the network computes the same."""
    current = widen_width(graph, nid)
    if width <= current:
        raise Net2NetError(f"{nid}: new width {width} must be larger than the current {current}")
    state, fresh = _weights_of(graph, weights)
    g2, s2 = net2wider(graph, state, nid, int(width))
    grown_from(graph, g2, op="widen", node=nid, width=int(width))
    said = f"widened {nid} {current} \u2192 {width}, function kept" + FRESH * fresh
    return Edit(f"Widen {nid} to {width}", g2, s2, said)


def deepen(graph: ArchGraph, weights: dict | None, nid: str) -> Edit:
    """Net2Deeper: an identity-initialised layer after `nid`; the network computes the same."""
    why = deepen_problem(graph, nid)
    if why:
        raise Net2NetError(why)
    state, fresh = _weights_of(graph, weights)
    g2, s2, new = net2deeper(graph, state, nid)
    grown_from(graph, g2, op="deepen", node=nid, new_node=new)
    said = f"inserted identity layer {new} after {nid}, function kept" + FRESH * fresh
    return Edit(f"Deepen after {nid}", g2, s2, said, new_node=new)
