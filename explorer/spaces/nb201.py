"""NAS-Bench-201 cells in the CIFAR macro skeleton of the official `TinyNetwork` (C=16, N=5,
10 classes): stem conv3x3+BN, 5 cells, reduction block, 5 cells, reduction block, 5 cells,
BN+ReLU, global pooling, linear. Config: {"arch_str": "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"}.

Every one of the six edges becomes an op node (`none` included, so every conv the official
network holds is in the graph and counted) and cell nodes 2 and 3 are `add` nodes."""

from __future__ import annotations

import itertools

from ..arch.graph import ArchGraph
from ..arch.ops.nb201 import NB201_OPS
from ..errors import ConfigError
from .base import SearchSpace
from .nb201_features import NB201_LATENCY
from .registry import register_space
from .schema import ConfigSchema, Field, FormRow

EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from) in arch-string order


def parse_arch_str(arch_str: str) -> list[str]:
    """The six edge ops in EDGES order; raises ConfigError on a malformed string."""
    if not isinstance(arch_str, str):
        raise ConfigError("nb201: arch_str must be a string")
    nodes = arch_str.split("+")
    if len(nodes) != 3:
        raise ConfigError(f"nb201: arch string needs 3 nodes separated by '+', got {arch_str!r}")
    ops = []
    for j, node in enumerate(nodes, start=1):
        parts = [p for p in node.split("|") if p]
        if len(parts) != j or not node.startswith("|") or not node.endswith("|"):
            raise ConfigError(f"nb201: node {j} must list {j} edge(s) as |op~i|, got {node!r}")
        for i, part in enumerate(parts):
            op, sep, src = part.partition("~")
            if not sep or src != str(i):
                raise ConfigError(f"nb201: edge {part!r} of node {j} must read op~{i}")
            if op not in NB201_OPS:
                raise ConfigError(f"nb201: unknown op {op!r} (known: {', '.join(NB201_OPS)})")
            ops.append(op)
    return ops


def arch_str_of(ops: list[str]) -> str:
    it = iter(zip(EDGES, ops))
    nodes = []
    for j in (1, 2, 3):
        nodes.append("|" + "|".join(f"{op}~{i}" for (_, i), op in itertools.islice(it, j)) + "|")
    return "+".join(nodes)


SCHEMA = ConfigSchema(
    fields=(Field("ops", NB201_OPS, len(EDGES), "op", "the op on this cell edge", short="op"),),
    rows=tuple(FormRow(f"edge {frm}\u2192{to}", (("ops", k),)) for k, (to, frm) in enumerate(EDGES)),
)
OPS = (
    "input",
    "conv",
    "nb201_resblock",
    *NB201_OPS,
    "add",
    "batchnorm",
    "activation",
    "global_avgpool",
    "linear",
    "output",
)


class NB201Space(SearchSpace):
    name = "nb201"
    family = "nb201"
    description = "NAS-Bench-201 cell (5 ops on 6 edges) in the CIFAR skeleton C=16, N=5, 10 classes"
    aliases, latency = ("nas-bench-201", "nasbench201", "nb-201"), NB201_LATENCY
    config_keys = ("arch_str",)
    edit_group = "stage1"  # the first cell is what users edit

    def __init__(
        self, channels: int = 16, cells_per_stage: int = 5, n_classes: int = 10, resolution: int = 32
    ):
        self.C, self.N, self.n_classes, self.resolution = channels, cells_per_stage, n_classes, resolution
        self.default_resolution = resolution

    def skeleton(self) -> list[tuple[str, str, int, int]]:
        """[(kind, name, width, stage)] in execution order: ("cell", "s1c0", 16, 1) ...
        ("reduce", "reduce1", 32, 2) ...; the macro network around the cells (and the order the
        one-shot estimators run it in)."""
        out, width = [], self.C
        for s in range(3):
            if s:
                width *= 2
                out.append(("reduce", f"reduce{s}", width, s + 1))
            for c in range(self.N):
                out.append(("cell", f"s{s + 1}c{c}", width, s + 1))
        return out

    # -- self-description ------------------------------------------------------------------
    def schema(self) -> ConfigSchema:
        return SCHEMA

    def form_values(self, config: dict) -> dict:
        return {"ops": parse_arch_str(self.check(config)["arch_str"])}

    def config_from_form(self, values: dict) -> dict:
        return {"arch_str": arch_str_of(list(values["ops"]))}

    def ops(self) -> tuple[str, ...]:
        return OPS

    def geometry(self) -> dict:
        return {
            "channels": self.C,
            "cells_per_stage": self.N,
            "n_classes": self.n_classes,
            "resolution": self.resolution,
            "edges": [[frm, to] for to, frm in EDGES],
            "skeleton": [list(part) for part in self.skeleton()],
        }

    def size(self) -> int:
        return len(NB201_OPS) ** len(EDGES)

    def check(self, config: dict) -> dict:
        if not isinstance(config, dict) or "arch_str" not in config:
            raise ConfigError('nb201: config must be {"arch_str": "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"}')
        unknown = set(config) - {"arch_str"}
        if unknown:
            raise ConfigError(f"nb201: unknown config field(s) {sorted(unknown)}")
        return {"arch_str": arch_str_of(parse_arch_str(config["arch_str"]))}

    def sample(self, seed: int | None = None) -> dict:
        rng = self.rng(seed)
        return {"arch_str": arch_str_of([rng.choice(NB201_OPS) for _ in EDGES])}

    def all_configs(self):
        for ops in itertools.product(NB201_OPS, repeat=len(EDGES)):
            yield {"arch_str": arch_str_of(list(ops))}

    def encode(self, config: dict) -> ArchGraph:
        cfg = self.check(config)
        ops = parse_arch_str(cfg["arch_str"])
        g = ArchGraph(f"nb201 {cfg['arch_str']}", {"space": self.name, "config": cfg})
        col = [0.0]

        def node(op, nid, params=None, group=None, dy=0.0):
            g.add_node(op, params, id=nid, pos=(col[0], dy), group=group)
            return nid

        def step():
            col[0] += 160.0

        prev = node("input", "input", {"channels": 3, "resolution": self.resolution})
        step()
        stem = node("conv", "stem", {"out_channels": self.C, "kernel": 3, "act": "none"}, "stem")
        g.connect(prev, stem)
        prev = stem
        step()
        for kind, nid, width, stage in self.skeleton():
            if kind == "reduce":
                res = node("nb201_resblock", nid, {"out_channels": width, "stride": 2}, nid)
                g.connect(prev, res)
                prev = res
                step()
            else:
                prev = self._cell(g, node, step, prev, ops, nid, f"stage{stage}")
        head = [
            ("batchnorm", "lastbn", None),
            ("activation", "lastact", {"act": "relu"}),
            ("global_avgpool", "pool", None),
            ("linear", "classifier", {"out_features": self.n_classes}),
            ("output", "output", None),
        ]
        for op, nid, params in head:
            node(op, nid, params, "head")
            g.connect(prev, nid)
            prev = nid
            step()
        return g

    @staticmethod
    def _cell(g, node, step, cell_in, ops, prefix, group):
        """One cell: node0 = cell input, node j = sum of edge ops from nodes i < j."""
        states = {0: cell_in}
        for j in (1, 2, 3):
            outs = []
            for k, (to, frm) in enumerate(EDGES):
                if to != j:
                    continue
                nid = node(ops[k], f"{prefix}_e{frm}{to}", None, group, dy=80.0 * (frm - 1))
                g.connect(states[frm], nid)
                outs.append(nid)
            step()
            if len(outs) == 1:
                states[j] = outs[0]
            else:
                states[j] = node("add", f"{prefix}_n{j}", None, group)
                for port, src in enumerate(outs):
                    g.connect(src, states[j], port)
                step()
        return states[3]

    def read_config(self, graph: ArchGraph) -> dict:
        """The edge ops of the first cell (the editor may have changed them); `decode` checks that
        every other cell, the skeleton and the resolution still match."""
        ops = []
        for to, frm in EDGES:
            nid = f"s1c0_e{frm}{to}"
            if nid not in graph:
                raise ConfigError(f"nb201: graph has no edge node {nid}")
            ops.append(graph.op(nid))
        return self.check({"arch_str": arch_str_of(ops)})

    def mutate(self, config: dict, seed: int | None = None, prob: float = 1 / 6) -> dict:
        """Each edge resampled (to a different op) with `prob`; at least one edge changes."""
        rng = self.rng(seed)
        ops = parse_arch_str(self.check(config)["arch_str"])
        changed = False
        for k in range(len(ops)):
            if rng.random() < prob:
                ops[k] = rng.choice([o for o in NB201_OPS if o != ops[k]])
                changed = True
        if not changed:
            k = rng.randrange(len(ops))
            ops[k] = rng.choice([o for o in NB201_OPS if o != ops[k]])
        return {"arch_str": arch_str_of(ops)}

    def crossover(self, a: dict, b: dict, seed: int | None = None) -> dict:
        rng = self.rng(seed)
        oa, ob = parse_arch_str(self.check(a)["arch_str"]), parse_arch_str(self.check(b)["arch_str"])
        return {"arch_str": arch_str_of([rng.choice(p) for p in zip(oa, ob)])}


NB201 = register_space(NB201Space())
