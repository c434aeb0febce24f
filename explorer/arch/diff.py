"""Side-by-side difference of two architectures: which nodes correspond, which changed, which are new.

Nodes are aligned by id first (graphs sampled from one space share ids such as `block4`), then the
unmatched rest by their topological position and op (a sequence alignment of op names, so an
inserted block does not shift every later pairing). Rows come out in a merged topological order
ready to draw in two aligned columns. Metric deltas compare two `{"kind:name": value}` dicts.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from .graph import ArchGraph

SAME, CHANGED, ADDED, REMOVED = "same", "changed", "added", "removed"


@dataclass
class NodeRow:
    """One aligned row: `a` and/or `b` node ids; `params` maps a changed parameter to (a value, b value)."""

    a: str | None
    b: str | None
    status: str
    op_a: str | None = None
    op_b: str | None = None
    params: dict[str, tuple] = field(default_factory=dict)
    matched_by: str = ""  # "id" | "position" | ""

    @property
    def op_changed(self) -> bool:
        return self.a is not None and self.b is not None and self.op_a != self.op_b


@dataclass
class MetricDelta:
    key: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        return self.b - self.a

    @property
    def relative(self) -> float | None:
        d = self.delta
        if d is None or not self.a:
            return None
        return d / abs(self.a)


@dataclass
class GraphDiff:
    rows: list[NodeRow]
    edges_added: list[tuple[str, str]]  # in b's ids, edges b has and a (mapped) does not
    edges_removed: list[tuple[str, str]]  # in a's ids
    metrics: list[MetricDelta]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def identical(self) -> bool:
        return all(r.status == SAME for r in self.rows) and not self.edges_added and not self.edges_removed

    def mapping(self) -> dict[str, str]:
        """a id -> b id for every matched pair."""
        return {r.a: r.b for r in self.rows if r.a is not None and r.b is not None}

    def summary(self) -> str:
        return (
            f"{self.count(SAME)} same, {self.count(CHANGED)} changed, {self.count(ADDED)} added, "
            f"{self.count(REMOVED)} removed; edges +{len(self.edges_added)} -{len(self.edges_removed)}"
        )


def _topo(g: ArchGraph) -> list[str]:
    try:
        return g.topological()
    except Exception:  # a cycle: fall back to insertion order, the diff is still meaningful
        return g.nodes


def _param_changes(a: ArchGraph, na: str, b: ArchGraph, nb: str) -> dict[str, tuple]:
    pa, pb = a.params(na), b.params(nb)
    out = {}
    for k in sorted(set(pa) | set(pb)):
        va, vb = pa.get(k), pb.get(k)
        if va != vb:
            out[k] = (va, vb)
    return out


def _align(a: ArchGraph, b: ArchGraph) -> dict[str, tuple[str, str]]:
    """a id -> (b id, how)."""
    pairs: dict[str, tuple[str, str]] = {}
    for n in a.nodes:
        if n in b.g:
            pairs[n] = (n, "id")
    taken_b = {v for v, _ in pairs.values()}
    rest_a = [n for n in _topo(a) if n not in pairs]
    rest_b = [n for n in _topo(b) if n not in taken_b]
    if rest_a and rest_b:
        sm = difflib.SequenceMatcher(a=[a.op(n) for n in rest_a], b=[b.op(n) for n in rest_b], autojunk=False)
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
                for i, j in zip(range(i1, i2), range(j1, j2)):
                    pairs[rest_a[i]] = (rest_b[j], "position")
    return pairs


def diff_graphs(
    a: ArchGraph,
    b: ArchGraph,
    metrics_a: dict[str, float | None] | None = None,
    metrics_b: dict[str, float | None] | None = None,
) -> GraphDiff:
    pairs = _align(a, b)
    topo_a, topo_b = _topo(a), _topo(b)
    pos_a = {n: i for i, n in enumerate(topo_a)}
    b_to_a = {vb: na for na, (vb, _) in pairs.items()}
    keyed: list[tuple[tuple, NodeRow]] = []
    for na in topo_a:
        if na in pairs:
            nb, how = pairs[na]
            params = _param_changes(a, na, b, nb)
            status = CHANGED if params or a.op(na) != b.op(nb) else SAME
            row = NodeRow(na, nb, status, a.op(na), b.op(nb), params, how)
        else:
            row = NodeRow(na, None, REMOVED, a.op(na), None)
        keyed.append(((pos_a[na], 0, 0), row))
    anchor = -1
    for j, nb in enumerate(topo_b):
        if nb in b_to_a:
            anchor = pos_a[b_to_a[nb]]
            continue
        keyed.append(((anchor, 1, j), NodeRow(None, nb, ADDED, None, b.op(nb))))
    keyed.sort(key=lambda kv: kv[0])
    rows = [r for _, r in keyed]

    a_to_b = {na: vb for na, (vb, _) in pairs.items()}
    ea = {(a_to_b.get(u), a_to_b.get(v)): (u, v) for u, v in a.g.edges}
    eb = set(b.g.edges)
    removed = sorted(orig for mapped, orig in ea.items() if mapped not in eb)
    added = sorted(e for e in eb if e not in ea)
    return GraphDiff(rows, added, removed, metric_deltas(metrics_a or {}, metrics_b or {}))


def _num(v) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def metric_deltas(ma: dict, mb: dict) -> list[MetricDelta]:
    """Deltas for every metric either side has (complexity first, then proxies, latency, accuracy)."""
    order = {"complexity": 0, "proxy": 1, "latency": 2, "accuracy": 3}
    keys = sorted(set(ma) | set(mb), key=lambda k: (order.get(k.split(":", 1)[0], 9), k))
    return [MetricDelta(k, _num(ma.get(k)), _num(mb.get(k))) for k in keys]
