"""Where the cost of a network goes: params, MACs and latency on one device per node, with shares.

One report for the CLI (`arch info --per-layer [--device D]`), the editor's heat overlay and its
per-layer table. Latency per node comes from a layer-wise device (its table entry for the node's
LUT key; this machine's table measures the layers it lacks when asked); nodes without a key
(input, output, identity, dropout, skips) cost nothing in the sum. A network-wise device predicts
whole networks only, so it gives a total but no per-node figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .arch import ArchGraph, count_complexity

METRICS = ("latency_ms", "macs", "params")


@dataclass
class NodeShare:
    node: str
    op: str
    group: str
    out_shape: tuple[int, ...]
    params: int
    macs: int
    key: str | None = None
    latency_ms: float | None = None  # None: no figure (no device, a network-wise device, missing)

    def share(self, report: LayerReport, metric: str) -> float | None:
        total = report.total(metric)
        v = getattr(self, metric)
        return None if v is None or not total else v / total


@dataclass
class LayerReport:
    nodes: list[NodeShare]
    device: str | None = None
    latency: dict | None = None  # the device's whole-network prediction (Prediction.as_dict)
    missing: list[str] = field(default_factory=list)

    def total(self, metric: str) -> float:
        return float(sum(getattr(n, metric) or 0 for n in self.nodes))

    def sorted_by(self, metric: str) -> list[NodeShare]:
        return sorted(self.nodes, key=lambda n: -(getattr(n, metric) or 0))

    def as_dict(self) -> dict:
        rows = []
        for n in self.nodes:
            row = {
                "node": n.node,
                "op": n.op,
                "group": n.group,
                "output": list(n.out_shape),
                "params": n.params,
                "macs": n.macs,
                "params_share": _round(n.share(self, "params")),
                "macs_share": _round(n.share(self, "macs")),
            }
            if self.device is not None:
                row["key"] = n.key
                row["latency_ms"] = _round(n.latency_ms, 5)
                row["latency_share"] = _round(n.share(self, "latency_ms"))
            rows.append(row)
        out = {"per_layer": rows}
        if self.device is not None:
            out["device"] = self.device
            out["latency"] = self.latency
        return out


def _round(v, digits: int = 4):
    return None if v is None or not math.isfinite(v) else round(v, digits)


def _group(graph: ArchGraph, node: str) -> str:
    return graph.g.nodes[node].get("group") or ""


def layer_report(
    graph: ArchGraph,
    device=None,
    *,
    on_missing: str = "auto",
    should_stop: Callable[[], bool] | None = None,
) -> LayerReport:
    """Per-node params, MACs and (with `device`: a name, path or Device) latency of `graph`.

    `on_missing="auto"` lets this machine's table measure the layers it lacks first and reports
    them missing on any other table. Per-node latencies are table entries, so their shares are
    of the plain layer sum (a calibration scales the whole-network figure, not the split)."""
    c = count_complexity(graph)
    nodes = [
        NodeShare(lc.node, lc.op, _group(graph, lc.node), tuple(lc.out_shape), lc.params, lc.macs)
        for lc in c.layers
    ]
    report = LayerReport(nodes)
    if device is None:
        return report
    from .latency.predict import predict_graph
    from .latency.registry import load_device

    dev = load_device(device) if isinstance(device, str) else device
    if on_missing == "auto":
        on_missing = "measure" if getattr(dev, "can_measure", lambda: False)() else "report"
    pred = predict_graph(dev, graph, on_missing=on_missing, should_stop=should_stop)
    by_node = {n: (k, ms) for n, k, ms in pred.layers}
    for n in nodes:
        if n.node in by_node:
            n.key, n.latency_ms = by_node[n.node]
        elif pred.layers:
            n.latency_ms = 0.0  # a layer-wise device: nodes without a key cost nothing in the sum
    report.device = pred.device
    report.latency = pred.as_dict()
    report.latency.pop("layers", None)  # the per-node figures are in the rows
    report.missing = list(pred.missing_keys)
    return report
