"""Automatic layout: left to right by topological generation, long chains wrapped into rows so
a 30-block network stays readable when fitted to the window. Pure networkx, no Qt."""

from __future__ import annotations

import math

import networkx as nx

COL_W = 180.0
ROW_H = 80.0


def unit_of(nid: str) -> str | None:
    """A repeated unit inside a group (NB201 cell "s1c0" of "s1c0_e01"); None for plain ids."""
    return nid.split("_", 1)[0] if "_" in nid else None


def collapsible(g: nx.DiGraph) -> dict[str, list[str]]:
    """Groups (the `group` attribute) and, inside them, units shared by several nodes."""
    out: dict[str, list[str]] = {}
    for n, d in g.nodes(data=True):
        if d.get("group"):
            out.setdefault(d["group"], []).append(n)
    units: dict[str, list[str]] = {}
    for n, d in g.nodes(data=True):
        u = unit_of(n)
        if d.get("group") and u and u not in out:
            units.setdefault(u, []).append(n)
    out.update({u: m for u, m in units.items() if len(m) > 1})
    return out


def default_collapsed(g: nx.DiGraph, space: str | None = None, max_nodes: int = 24) -> set[str]:
    """What a freshly opened graph shows collapsed: nothing for small graphs; every multi-node
    group for big ones; a space with an `edit_group` (NB201: stage1) keeps that group's first unit
    open (the cell is what users edit)."""
    if g.number_of_nodes() <= max_nodes:
        return set()
    groups: dict[str, list[str]] = {}
    for n, d in g.nodes(data=True):
        if d.get("group"):
            groups.setdefault(d["group"], []).append(n)
    out = {k for k, m in groups.items() if len(m) > 1}
    from ..spaces import find_space

    sp = find_space(space)
    keep = sp.edit_group if sp is not None else None
    if keep in out:
        out.discard(keep)
        cells = sorted({unit_of(n) for n in groups[keep] if unit_of(n)})
        out |= set(cells[1:])
    return out


def view_graph(g: nx.DiGraph, collapsed: set[str]) -> tuple[nx.DiGraph, dict[str, str]]:
    """The graph as shown: members of a collapsed group (or unit) contracted into one node
    "group:<name>". Returns the view graph and the member -> view-node map."""
    rep = {}
    for n, d in g.nodes(data=True):
        grp = d.get("group")
        unit = unit_of(n) if grp else None
        if grp and grp in collapsed:
            rep[n] = f"group:{grp}"
        elif unit and unit in collapsed:
            rep[n] = f"group:{unit}"
        else:
            rep[n] = n
    v = nx.DiGraph()
    for n in g.nodes:
        v.add_node(rep[n])
    for a, b in g.edges:
        if rep[a] != rep[b]:
            v.add_edge(rep[a], rep[b])
    return v, rep


def generations(v: nx.DiGraph) -> list[list[str]]:
    try:
        return [list(gen) for gen in nx.topological_generations(v)]
    except nx.NetworkXUnfeasible:  # a cycle: fall back to BFS depth from the sources
        order = list(v.nodes)
        depth = {}
        for n in order:
            preds = [depth[p] for p in v.predecessors(n) if p in depth]
            depth[n] = max(preds, default=-1) + 1
        gens: dict[int, list[str]] = {}
        for n, k in depth.items():
            gens.setdefault(k, []).append(n)
        return [gens[k] for k in sorted(gens)]


def auto_layout(g: nx.DiGraph, collapsed: set[str] | None = None, aspect: float = 1.6) -> dict[str, tuple]:
    """Positions for the view nodes (group nodes included), wrapped into rows of generations."""
    v, _ = view_graph(g, collapsed or set())
    gens = generations(v)
    if not gens:
        return {}
    tallest = max(len(x) for x in gens)
    n = len(gens)
    # choose columns per row so that the bounding box approaches `aspect` (width / height)
    per_row = n
    for cols in range(4, n + 1):
        rows = math.ceil(n / cols)
        if cols * COL_W / (rows * (tallest + 0.6) * ROW_H) >= aspect:
            per_row = cols
            break
    order = {n: i for i, n in enumerate(v.nodes)}
    pos = {}
    band = (tallest + 0.6) * ROW_H
    for k, gen in enumerate(gens):
        row, col = divmod(k, per_row)
        x = col * COL_W
        for j, node in enumerate(sorted(gen, key=lambda s: order.get(s, 0))):
            y = row * band + (j - (len(gen) - 1) / 2) * ROW_H
            pos[node] = (x, y)
    return pos
