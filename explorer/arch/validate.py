"""Graph validation: every problem is reported with the node (or edge) it belongs to, so the
editor can mark it in place and the CLI can name it. An invalid graph never reaches torch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import networkx as nx

from ..errors import ExplorerError, clip, one_line
from .graph import NODE_ID, ArchGraph
from .registry import OPS, Shape, ShapeError, op_spec


@dataclass(frozen=True)
class Issue:
    message: str
    nodes: tuple[str, ...] = ()
    edge: tuple[str, str] | None = None

    def __str__(self) -> str:
        where = ""
        if self.edge:
            where = f"edge {self.edge[0]} -> {self.edge[1]}: "
        elif self.nodes:
            where = ("node " if len(self.nodes) == 1 else "nodes ") + ", ".join(self.nodes) + ": "
        return where + self.message


@dataclass
class Report:
    issues: list[Issue] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # topological (empty when there is a cycle)
    inputs: dict[str, list[str]] = field(default_factory=dict)  # sources in port order

    @property
    def ok(self) -> bool:
        return not self.issues

    def for_node(self, nid: str) -> list[Issue]:
        return [i for i in self.issues if nid in i.nodes or (i.edge and nid == i.edge[1])]

    def add(self, message: str, *nodes: str, edge: tuple[str, str] | None = None) -> None:
        # capped: a cycle through 100,000 nodes or a list of bad ports stays one readable line
        self.issues.append(Issue(one_line(message), tuple(nodes), edge))


class GraphError(ExplorerError):
    """An invalid graph; `.report` lists every issue."""

    def __init__(self, report: Report):
        self.report = report
        first = str(report.issues[0])
        more = f" (and {len(report.issues) - 1} more)" if len(report.issues) > 1 else ""
        super().__init__(f"invalid graph: {first}{more}")


def validate(graph: ArchGraph) -> Report:
    r = Report()
    g = graph.g
    known = True
    for nid, data in g.nodes(data=True):
        if not isinstance(nid, str) or not NODE_ID.fullmatch(nid):
            r.add("node id must be a letter or _ followed by letters, digits or _ (max 64)", str(nid))
        spec = op_spec(data.get("op"))
        if spec is None:
            r.add(f"unknown op {clip(data.get('op'))}", nid)
            known = False
            continue
        params = data.get("params", {})
        if not isinstance(params, dict):
            r.add(f"params must be an object, got {clip(params)}", nid)
            continue
        for msg in spec.param_errors(params):
            r.add(msg, nid)

    ins, outs = graph.nodes_of("input"), graph.nodes_of("output")
    if not ins:
        r.add("graph has no input node")
    elif len(ins) > 1:
        r.add("graph has several input nodes; exactly one is allowed", *ins)
    if not outs:
        r.add("graph has no output node")
    elif len(outs) > 1:
        r.add("graph has several output nodes; exactly one is allowed", *outs)

    cycle = None
    try:
        r.order = graph.topological()
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(g)
    if cycle:
        r.add(
            "cycle: " + " -> ".join([u for u, _ in cycle] + [cycle[0][0]]),
            *dict.fromkeys(u for u, _ in cycle),
        )

    by_port: dict[str, list[tuple[int, str]]] = {n: [] for n in g.nodes}
    for u, v, p in g.edges(data="port"):
        by_port[v].append((p, u))
    for nid, data in g.nodes(data=True):
        ports = sorted(by_port[nid])
        r.inputs[nid] = [u for _, u in ports]
        spec = op_spec(data.get("op"))
        if spec is None:
            continue
        n_in = len(ports)
        lo, hi = spec.min_inputs, spec.max_inputs
        if n_in < lo:
            need = f"{lo}" if hi == lo else f"at least {lo}"
            r.add(f"{data['op']} needs {need} input(s), has {n_in}", nid)
        elif hi is not None and n_in > hi:
            r.add(f"{data['op']} takes {hi} input(s), has {n_in}", nid)
        if [p for p, _ in ports] != list(range(n_in)):
            r.add(f"input ports must be 0..{n_in - 1}, got {clip([p for p, _ in ports])}", nid)
        if data["op"] == "output" and g.out_degree(nid):
            r.add("the output node cannot feed other nodes", nid)

    if len(ins) == 1:
        reach = nx.descendants(g, ins[0]) | {ins[0]}
        for nid in g.nodes:
            if nid not in reach:
                r.add("unreachable from the input", nid)
    if len(outs) == 1:
        feeds = nx.ancestors(g, outs[0]) | {outs[0]}
        for nid in g.nodes:
            if nid not in feeds and not (len(ins) == 1 and nid not in reach):
                r.add("dangling: does not lead to the output", nid)

    if cycle is None and known:
        _infer_shapes(graph, r)
    return r


def _infer_shapes(graph: ArchGraph, r: Report) -> None:
    bad = {i.nodes[0] for i in r.issues if len(i.nodes) == 1}
    for nid in r.order:
        srcs = r.inputs[nid]
        if nid in bad or any(s not in r.shapes for s in srcs):
            continue
        data = graph.g.nodes[nid]
        spec = OPS[data["op"]]
        params = spec.resolve(data["params"])
        try:
            r.shapes[nid] = tuple(int(v) for v in spec.shape(params, [r.shapes[s] for s in srcs]))
        except ShapeError as e:
            r.add(str(e), nid)
            continue
        if any(v < 1 for v in r.shapes[nid]):
            r.add(f"output shape {r.shapes.pop(nid)} has an empty dimension", nid)


def reshaped(graph: ArchGraph, report: Report) -> Report:
    """The report of `graph`, which differs from the valid graph `report` is of only in its input
    shape: the structural checks stand, the shapes are inferred again (the live proxies run an
    edited graph at their own resolution without validating it a second time)."""
    r = Report(order=list(report.order), inputs=dict(report.inputs))
    _infer_shapes(graph, r)
    return r


_TRUSTED: dict[int, list] = {}  # id(graph) -> [graph, report, how many blocks trust it]
_TRUSTED_LOCK = threading.Lock()


@contextmanager
def trusted(graph: ArchGraph, report: Report) -> Iterator[None]:
    """Within the block (in any thread), `check(graph)` returns `report` instead of validating
    again: the caller validated this very graph object and does not change it meanwhile. Counting,
    building and keying one graph each call `check`; the live metrics validate once per edit."""
    if not report.ok:
        raise GraphError(report)
    key = id(graph)
    with _TRUSTED_LOCK:
        held = _TRUSTED.get(key)
        if held is not None and held[0] is graph:
            held[2] += 1
        else:
            held = _TRUSTED[key] = [graph, report, 1]
    try:
        yield
    finally:
        with _TRUSTED_LOCK:
            held[2] -= 1
            if held[2] == 0 and _TRUSTED.get(key) is held:
                del _TRUSTED[key]


def check(graph: ArchGraph) -> Report:
    """Validate and raise GraphError when anything is wrong; return the report (with shapes)."""
    known = _TRUSTED.get(id(graph))
    if known is not None and known[0] is graph:
        return known[1]
    report = validate(graph)
    if not report.ok:
        raise GraphError(report)
    return report
