"""Params, MACs and latency-table keys per node, computed from shapes alone (no torch).

MACs count conv and linear multiply-accumulates only, as OFA's `count_net_flops` does; params
count every learnable tensor (BN affine included, running stats not)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..errors import MemoryLimitError
from .graph import ArchGraph
from .registry import OPS, Shape
from .validate import Report, check

BYTES_PER_VALUE = 4  # float32 weights and activations
MEMORY_LIMIT_ENV = "NAS_EXPLORER_MEMORY_LIMIT"
MEMORY_FRACTION = 0.75  # of this machine's RAM, when the environment sets no limit


@dataclass(frozen=True)
class NodeCost:
    node: str
    op: str
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    params: int
    macs: int
    lut_key: str | None


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int
    input_shape: Shape
    output_shape: Shape
    layers: tuple[NodeCost, ...]

    def as_dict(self) -> dict:
        return {
            "params": self.params,
            "macs": self.macs,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [
                {
                    "node": c.node,
                    "op": c.op,
                    "in_shapes": [list(s) for s in c.in_shapes],
                    "out_shape": list(c.out_shape),
                    "params": c.params,
                    "macs": c.macs,
                    "lut_key": c.lut_key,
                }
                for c in self.layers
            ],
        }


def count_complexity(graph: ArchGraph) -> Complexity:
    report = check(graph)
    shapes = report.shapes
    layers = []
    for nid in report.order:
        data = graph.g.nodes[nid]
        spec = OPS[data["op"]]
        p = spec.resolve(data["params"])
        ins = [shapes[s] for s in report.inputs[nid]]
        out = shapes[nid]
        cost = spec.cost(p, ins, out)
        layers.append(
            NodeCost(nid, spec.name, tuple(ins), out, cost.params, cost.macs, spec.lut_key(p, ins, out))
        )
    return Complexity(
        params=sum(c.params for c in layers),
        macs=sum(c.macs for c in layers),
        input_shape=shapes[graph.input_node],
        output_shape=shapes[graph.output_node],
        layers=tuple(layers),
    )


def lut_keys(graph: ArchGraph) -> list[tuple[str, str]]:
    """(node, key) for every node that has a latency-table entry, in execution order."""
    return [(c.node, c.lut_key) for c in count_complexity(graph).layers if c.lut_key]


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a float32 torch model of the graph needs: weights (+ their gradients when training)
    and activations for `batch_size` samples: all kept for the backward pass when training, else the
    peak of those alive at once in `GraphModule`'s order (it frees each as soon as nothing reads it)."""

    weights: int
    activations: int
    batch_size: int
    training: bool

    @property
    def total(self) -> int:
        return self.weights * (2 if self.training else 1) + self.activations


def _numel(shape: Shape) -> int:
    return math.prod(shape)


def estimate_memory(
    graph: ArchGraph, batch_size: int = 1, *, training: bool = False, report: Report | None = None
) -> MemoryEstimate:
    """An estimate from shapes alone (no torch): a graph too big for this machine is refused with a
    message before torch tries to allocate it."""
    report = report or check(graph)
    shapes = report.shapes
    params, kept, peak = 0, 0, 0
    last_use = {s: k for k, n in enumerate(report.order) for s in report.inputs[n]}
    alive = 0
    for k, nid in enumerate(report.order):
        data = graph.g.nodes[nid]
        spec = OPS[data["op"]]
        p = spec.resolve(data["params"])
        ins = [shapes[s] for s in report.inputs[nid]]
        out = shapes[nid]
        params += spec.cost(p, ins, out).params
        n_out = _numel(out)
        work = spec.workspace(p, ins, out) if spec.workspace else 0
        kept += n_out + work
        alive += n_out
        peak = max(peak, alive + work)
        for s in set(report.inputs[nid]):
            if last_use.get(s) == k:
                alive -= _numel(shapes[s])
    per_sample = kept if training else peak
    return MemoryEstimate(
        weights=params * BYTES_PER_VALUE,
        activations=batch_size * per_sample * BYTES_PER_VALUE,
        batch_size=batch_size,
        training=training,
    )


def _parse_bytes(text: str) -> int | None:
    t = text.strip().upper().removesuffix("B")
    scale = 1
    for unit, size in (("K", 2**10), ("M", 2**20), ("G", 2**30), ("T", 2**40)):
        if t.endswith(unit):
            t, scale = t[:-1], size
            break
    try:
        v = float(t) * scale
    except ValueError:
        return None
    return int(v) if math.isfinite(v) and v > 0 else None


def memory_limit() -> tuple[int | None, str]:
    """(bytes a model may take, where the figure comes from); None when nothing is known."""
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env:
        v = _parse_bytes(env)
        if v is None:
            raise MemoryLimitError(f"{MEMORY_LIMIT_ENV}={env[:40]!r} is not a size (e.g. 8G, 512M)")
        return v, f"${MEMORY_LIMIT_ENV}"
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None, "unknown"
    return int(ram * MEMORY_FRACTION), f"{MEMORY_FRACTION:.0%} of this machine's memory"


def _gb(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def check_memory(
    graph: ArchGraph,
    batch_size: int = 1,
    *,
    training: bool = False,
    what: str = "the model",
    report: Report | None = None,
) -> MemoryEstimate:
    """Raise MemoryLimitError (naming the size and the limit) when the estimate exceeds the limit."""
    est = estimate_memory(graph, batch_size, training=training, report=report)
    limit, source = memory_limit()
    if limit is not None and est.total > limit:
        w = est.weights * (2 if training else 1)
        parts = f"weights{' and gradients' if training else ''} {_gb(w)}"
        if batch_size:
            parts += f" + activations for batch {batch_size} {_gb(est.activations)}"
        raise MemoryLimitError(
            f"{what} would need about {_gb(est.total)} ({parts}); the limit is {_gb(limit)} "
            f"({source}; set {MEMORY_LIMIT_ENV} to change it)"
        )
    return est
