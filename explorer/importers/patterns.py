"""Composite patterns of an imported graph, as editor groups, and first positions for its nodes.

A residual block, an MBConv / inverted residual, a squeeze-excitation or a concat block is the part
of the graph between a fork and the node that merges it back: everything dominated by the fork
that reaches the merge. Such regions become `group`s (res1, mbconv2, se1, cat3...) that the editor
collapses like a stage of the OFA space; nested regions go to the outermost one. An inverted
residual without a skip (stride 2) is recognised as its chain: 1x1 expand -> depthwise -> (SE) ->
1x1 linear project.
"""

from __future__ import annotations

import math

import networkx as nx

from ..arch import ArchGraph

MAX_REGION = 60  # larger "regions" are whole-network forks (a detector's two heads), not blocks
COLLAPSE_OVER = 24  # as the editor's default_collapsed: bigger graphs open with groups collapsed
COL_W, ROW_H = 180.0, 80.0


def _regions(graph: ArchGraph) -> list[tuple[str, set[str], str]]:
    g = graph.g
    idom = nx.immediate_dominators(g, graph.input_node)
    found = []
    for m in graph.topological():
        op = graph.op(m)
        if op not in ("add", "mul", "concat") or len(graph.inputs(m)) < 2:
            continue
        fork = idom.get(m)
        if fork is None:
            continue
        region = (nx.ancestors(g, m) | {m}) - nx.ancestors(g, fork) - {fork}
        if len(region) < 2 or len(region) > MAX_REGION:
            continue
        ops = {graph.op(n) for n in region}
        if op == "mul":
            kind = "se" if ops & {"global_avgpool", "adaptive_pool"} else "gate"
        elif op == "concat":
            kind = "cat"
        else:
            kind = "mbconv" if "dwconv" in ops and "conv" in ops else "res"
        found.append((kind, region, m))
    found += _mbconv_chains(graph, found)
    return found


def _is_1x1(graph: ArchGraph, n: str, act: bool) -> bool:
    if graph.op(n) != "conv":
        return False
    p = graph.params(n)
    return p["kernel"] == 1 and p["groups"] == 1 and ((p["act"] != "none") == act)


def _mbconv_chains(graph: ArchGraph, regions) -> list:
    """Inverted residuals without a skip: expand 1x1 (optional) -> depthwise -> SE? -> project 1x1."""
    g = graph.g
    se_of = {m: r for kind, r, m in regions if kind == "se"}
    out = []
    for d in graph.nodes_of("dwconv"):
        body = {d}
        se = next((m for m in se_of if d in graph.inputs(m)), None)
        if se is not None:
            body |= se_of[se]
        after = list(g.successors(se or d))
        nxt = after[0] if len(after) == 1 else None
        if nxt is None or not _is_1x1(graph, nxt, act=False):
            continue
        body.add(nxt)
        pred = graph.inputs(d)[0]
        if _is_1x1(graph, pred, act=True) and g.out_degree(pred) == 1:
            body.add(pred)
        if len(body) >= 3:
            out.append(("mbconv", body, nxt))
    return out


def assign_groups(graph: ArchGraph) -> dict[str, list[str]]:
    """Set `group` on the nodes of recognised blocks; returns {group: members}."""
    order = {n: k for k, n in enumerate(graph.topological())}
    taken: set[str] = set()
    chosen = []
    for kind, region, last in sorted(_regions(graph), key=lambda r: (-len(r[1]), order[r[2]])):
        if region & taken:
            continue
        taken |= region
        chosen.append((order[last], kind, region))
    counts: dict[str, int] = {}
    groups = {}
    for _, kind, region in sorted(chosen, key=lambda c: c[0]):
        counts[kind] = counts.get(kind, 0) + 1
        name = f"{kind}{counts[kind]}"
        for n in region:
            graph.g.nodes[n]["group"] = name
        groups[name] = sorted(region, key=order.get)
    return groups


def layout(graph: ArchGraph) -> None:
    """Left to right by longest-path depth, parallel branches stacked, long chains wrapped into
    rows. The editor opens a graph of more than COLLAPSE_OVER nodes with its groups collapsed
    (drawn at their first member), so a big graph is laid out with each group as one slot; the
    editor lays it out again when a group is expanded."""
    members: dict[str, list[str]] = {}
    for n, d in graph.g.nodes(data=True):
        if d.get("group"):
            members.setdefault(d["group"], []).append(n)
    contract = len(graph) > COLLAPSE_OVER
    rep = {}
    for n, d in graph.g.nodes(data=True):
        grp = d.get("group")
        rep[n] = f"group:{grp}" if contract and grp and len(members[grp]) > 1 else n
    view = nx.DiGraph()
    for n in graph.topological():
        view.add_node(rep[n])
    view.add_edges_from((rep[a], rep[b]) for a, b in graph.g.edges if rep[a] != rep[b])
    depth: dict[str, int] = {}
    for n in nx.topological_sort(view):
        depth[n] = max((depth[p] + 1 for p in view.predecessors(n)), default=0)
    cols: dict[int, list[str]] = {}
    for n, d in depth.items():
        cols.setdefault(d, []).append(n)
    n_cols = max(cols) + 1
    tallest = max(len(v) for v in cols.values())
    per_row = max(6, math.ceil(math.sqrt(n_cols * 3)))
    band = (tallest + 0.6) * ROW_H
    pos = {}
    for d, slot in cols.items():
        row, col = divmod(d, per_row)
        for j, v in enumerate(slot):
            pos[v] = (col * COL_W, row * band + (j - (len(slot) - 1) / 2) * ROW_H)
    for n in graph.g.nodes:
        graph.g.nodes[n]["pos"] = pos[rep[n]]
