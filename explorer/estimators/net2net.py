"""Net2Net (Chen et al., arXiv 1511.05641): grow a network that already has weights without changing
what it computes, so a child inherits its parent's training instead of starting from scratch.

Both transforms work on an ArchGraph plus the state_dict of `build_model(graph)` (keys
`layers.<node>.<...>`) and return a new (graph, state) pair:

- `net2wider`: a conv (out_channels) or linear (out_features) node gets extra units that copy
  randomly chosen existing ones; the layers reading it divide the copied units' incoming weights by
  the replication count. Channel-wise layers in between (BN, activations, pooling, depthwise convs)
  have their per-channel tensors replicated the same way, BN running statistics included.
- `net2deeper`: an identity-initialised conv+BN(+ReLU) (or linear) is inserted after a node.

Where the function cannot be kept (the widened output feeds an `add` whose other inputs would have
to widen too, a concat, a block op, or the network output) the transform refuses with a
Net2NetError naming the node and the reason. Exactness holds in eval mode (BN uses running stats);
in train mode a new BN normalises with batch statistics, as in the paper.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import torch

from ..arch.build import build_model
from ..arch.graph import ArchGraph
from ..arch.validate import check
from ..errors import ExplorerError

# ops that act on each channel separately: their per-channel tensors are replicated, then we follow on
CHANNELWISE = {
    "batchnorm",
    "activation",
    "dropout",
    "identity",
    "avgpool",
    "maxpool",
    "global_avgpool",
    "dwconv",
    "skip_connect",
    "avg_pool_3x3",
    "none",
}
# ops whose output is non-negative whenever their input is (so a ReLU after them is the identity)
_SIGN_KEEPING = {
    "identity",
    "dropout",
    "avgpool",
    "maxpool",
    "global_avgpool",
    "skip_connect",
    "avg_pool_3x3",
}
_NONNEG_ACTS = {"relu", "relu6"}


class Net2NetError(ExplorerError):
    """A Net2Net transform cannot be applied to this node without changing the network's function."""


State = dict[str, torch.Tensor]


def _prefix(nid: str) -> str:
    return f"layers.{nid}."


def _node_tensors(state: Mapping[str, torch.Tensor], nid: str) -> list[str]:
    p = _prefix(nid)
    return [k for k in state if k.startswith(p)]


def width_of(graph: ArchGraph, nid: str) -> int:
    """The width a widen acts on: out_channels of a conv, out_features of a linear."""
    op = graph.op(nid)
    if op == "conv":
        return int(graph.params(nid)["out_channels"])
    if op == "linear":
        return int(graph.params(nid)["out_features"])
    raise Net2NetError(f"{nid}: cannot widen a {op!r} node (only conv and linear nodes)")


def _consumers(graph: ArchGraph, nid: str, shapes: dict) -> tuple[list[str], list[str]]:
    """Walk from `nid` through channel-wise nodes: (channel-wise nodes to replicate, weight layers
    whose inputs must be split). Raises Net2NetError where the walk meets something it cannot adapt."""
    passthrough: list[str] = []
    readers: list[str] = []
    seen = {nid}
    todo = list(graph.g.successors(nid))
    while todo:
        n = todo.pop(0)
        if n in seen:
            continue
        seen.add(n)
        op = graph.op(n)
        if op in CHANNELWISE:
            passthrough.append(n)
            todo.extend(graph.g.successors(n))
        elif op == "conv":
            if graph.params(n)["groups"] != 1:
                raise Net2NetError(
                    f"{nid}: its output feeds grouped conv {n} (groups={graph.params(n)['groups']}); "
                    "widening would change the grouping"
                )
            readers.append(n)
        elif op == "linear":
            readers.append(n)
        elif op == "add":
            raise Net2NetError(
                f"{nid}: its output reaches add node {n}, whose other inputs would need widening too "
                "(residual link); widen a layer inside the branch instead"
            )
        elif op == "concat":
            raise Net2NetError(f"{nid}: its output reaches concat node {n} (not supported by Net2Wider)")
        elif op == "output":
            what = "classifier" if graph.op(nid) == "linear" else "last layer"
            raise Net2NetError(
                f"{nid}: its output reaches the network output through {n} (the {what}'s width is the "
                "number of outputs)"
            )
        else:
            raise Net2NetError(f"{nid}: its output feeds a {op!r} node ({n}), which Net2Wider cannot adapt")
    if not readers:
        raise Net2NetError(f"{nid}: no conv or linear layer reads its output")
    return passthrough, readers


def widen_problem(graph: ArchGraph, nid: str) -> str | None:
    """Why `nid` cannot be widened (one line), or None when it can (for menus and tooltips)."""
    try:
        _check_widen(graph, nid)
    except Net2NetError as e:
        return str(e)
    return None


def _check_widen(graph: ArchGraph, nid: str) -> tuple[list[str], list[str], dict]:
    if nid not in graph:
        raise Net2NetError(f"no node {nid!r} in the graph")
    width_of(graph, nid)
    if graph.op(nid) == "conv" and graph.params(nid)["groups"] != 1:
        raise Net2NetError(f"{nid}: grouped conv (groups={graph.params(nid)['groups']}) cannot be widened")
    shapes = check(graph).shapes
    passthrough, readers = _consumers(graph, nid, shapes)
    return passthrough, readers, shapes


def net2wider(
    graph: ArchGraph,
    state: Mapping[str, torch.Tensor],
    node: str,
    new_width: int,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[ArchGraph, State]:
    """Widen `node` to `new_width` units keeping the function (exactly when `noise` is 0).

    `noise` adds Gaussian noise of std `noise * std(weights)` to the split incoming weights of the
    readers (the paper's symmetry breaking); the function then changes slightly.
    """
    passthrough, readers, shapes = _check_widen(graph, node)
    old = width_of(graph, node)
    if not isinstance(new_width, int) or new_width <= old:
        raise Net2NetError(f"{node}: new width {new_width} must be larger than the current {old}")
    _require(state, graph, [node, *passthrough, *readers])
    rng = random.Random(seed)
    mapping = list(range(old)) + [rng.randrange(old) for _ in range(new_width - old)]
    idx = torch.tensor(mapping, dtype=torch.long)
    counts = torch.bincount(idx, minlength=old).to(torch.float64)
    out = {k: v.clone() for k, v in state.items()}
    for n in (node, *passthrough):
        for k in _node_tensors(state, n):
            t = state[k]
            if t.ndim >= 1 and t.shape[0] == old:
                out[k] = t.index_select(0, idx).clone()
    gen = torch.Generator().manual_seed(seed)
    for r in readers:
        key = _prefix(r) + ("conv.weight" if graph.op(r) == "conv" else "linear.weight")
        w = state[key]
        scale = (1.0 / counts[idx]).to(w.dtype)
        if graph.op(r) == "conv":
            new = w.index_select(1, idx) * scale.view(1, -1, 1, 1)
        else:
            src = shapes[graph.inputs(r)[0]]
            per = 1
            for s in src[1:]:
                per *= s
            if src[0] != old:
                raise Net2NetError(f"{node}: linear {r} reads {src[0]} channels, expected {old}")
            w3 = w.view(w.shape[0], old, per)
            new = (w3.index_select(1, idx) * scale.view(1, -1, 1)).reshape(w.shape[0], new_width * per)
        if noise:
            new = new + noise * float(w.std()) * torch.randn(new.shape, generator=gen, dtype=new.dtype)
        out[key] = new.contiguous()
    g2 = graph.copy()
    g2.set_params(node, **{"out_channels" if graph.op(node) == "conv" else "out_features": new_width})
    check(g2)
    return g2, out


def _require(state: Mapping[str, torch.Tensor], graph: ArchGraph, nodes: list[str]) -> None:
    for n in nodes:
        if graph.op(n) in ("conv", "linear", "dwconv", "batchnorm") and not _node_tensors(state, n):
            raise Net2NetError(f"the weights hold no tensors for node {n} (do they belong to this graph?)")


def output_nonnegative(graph: ArchGraph, nid: str) -> bool:
    """True when the node's output can never be negative (ends in ReLU/ReLU6, or pools such an output)."""
    op, p = graph.op(nid), graph.params(nid)
    if op in ("conv", "dwconv", "activation"):
        return p.get("act") in _NONNEG_ACTS
    if op in _SIGN_KEEPING:
        ins = graph.inputs(nid)
        return bool(ins) and all(output_nonnegative(graph, s) for s in ins)
    if op == "input":
        return False
    return False


def deepen_problem(graph: ArchGraph, nid: str) -> str | None:
    """Why a layer cannot be inserted after `nid` (one line), or None when it can."""
    if nid not in graph:
        return f"no node {nid!r} in the graph"
    op = graph.op(nid)
    if op in ("input", "output"):
        return f"{nid}: cannot insert a layer after the {op} node"
    if not list(graph.g.successors(nid)):
        return f"{nid}: nothing reads its output"
    return None


def net2deeper(
    graph: ArchGraph,
    state: Mapping[str, torch.Tensor],
    node: str,
    kernel: int = 3,
    act: str = "auto",
    seed: int = 0,
    new_id: str | None = None,
) -> tuple[ArchGraph, State, str]:
    """Insert an identity layer after `node`; returns (graph, state, id of the new node).

    After a feature map: conv(k, same channels, BN, act) with a one-hot centre tap and a BN that is
    the identity in eval mode (running mean 0, running var 1 - eps, weight 1, bias 0). `act="auto"`
    adds ReLU only when the input is non-negative (so the ReLU is the identity), "relu" requires
    that, "none" never adds one. After a vector: linear(F, F) = I. Every reader of `node` then reads
    the new layer. `seed` is unused by the exact transform (kept for a uniform signature).
    """
    del seed
    why = deepen_problem(graph, node)
    if why:
        raise Net2NetError(why)
    if act not in ("auto", "relu", "none"):
        raise Net2NetError(f"act must be auto, relu or none, got {act!r}")
    if kernel < 1 or kernel % 2 == 0:
        raise Net2NetError(f"kernel must be odd and positive, got {kernel}")
    shapes = check(graph).shapes
    shape = shapes[node]
    nonneg = output_nonnegative(graph, node)
    if act == "relu" and not nonneg:
        raise Net2NetError(
            f"{node}: its output can be negative, so a ReLU after it would change the function (use act none)"
        )
    g2 = graph.copy()
    out = {k: v.clone() for k, v in state.items()}
    nid = new_id or g2.new_id("net2deeper")
    if nid in g2:
        raise Net2NetError(f"node id {nid!r} already exists")
    pos = graph.g.nodes[node].get("pos")
    group = graph.g.nodes[node].get("group")
    dtype = next((v.dtype for v in state.values() if v.is_floating_point()), torch.float32)
    if len(shape) == 3:
        c = shape[0]
        a = "relu" if (act == "relu" or (act == "auto" and nonneg)) else "none"
        params = {"out_channels": c, "kernel": kernel, "stride": 1, "groups": 1, "bias": False, "bn": True}
        g2.add_node("conv", {**params, "act": a}, id=nid, pos=_shifted(pos), group=group)
        w = torch.zeros(c, c, kernel, kernel, dtype=dtype)
        w[torch.arange(c), torch.arange(c), kernel // 2, kernel // 2] = 1.0
        eps = 1e-5  # nn.BatchNorm2d default, what build_model creates
        p = _prefix(nid)
        out[p + "conv.weight"] = w
        out[p + "bn.weight"] = torch.ones(c, dtype=dtype)
        out[p + "bn.bias"] = torch.zeros(c, dtype=dtype)
        out[p + "bn.running_mean"] = torch.zeros(c, dtype=dtype)
        out[p + "bn.running_var"] = torch.full((c,), 1.0 - eps, dtype=dtype)
        out[p + "bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    else:
        f = 1
        for s in shape:
            f *= s
        g2.add_node("linear", {"out_features": f, "bias": True}, id=nid, pos=_shifted(pos), group=group)
        out[_prefix(nid) + "linear.weight"] = torch.eye(f, dtype=dtype)
        out[_prefix(nid) + "linear.bias"] = torch.zeros(f, dtype=dtype)
    for dst in list(graph.g.successors(node)):
        port = graph.g.edges[node, dst]["port"]
        g2.g.remove_edge(node, dst)
        g2.g.add_edge(nid, dst, port=port)
    g2.connect(node, nid, 0)
    check(g2)
    return g2, out, nid


def _shifted(pos):
    return None if pos is None else (pos[0] + 80.0, pos[1] + 60.0)


def load_weights(graph: ArchGraph, state: Mapping[str, torch.Tensor]):
    """`build_model(graph)` with `state` loaded strictly; a mismatch raises Net2NetError in one line."""
    model = build_model(graph, seed=0)
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise Net2NetError(f"weights do not fit the architecture: {detail[:200]}") from None
    return model


def candidate_actions(graph: ArchGraph) -> list[dict]:
    """Every Net2Net action the graph allows: [{"action": "widen"|"deepen", "node": id, "width"?: int}].

    The suggested width is about 1.5x, rounded up to a multiple of 4 (any larger width is valid)."""
    acts = []
    for n in graph.topological():
        op = graph.op(n)
        if op in ("conv", "linear") and widen_problem(graph, n) is None:
            w = width_of(graph, n)
            acts.append({"action": "widen", "node": n, "width": max(w + 1, -(-int(w * 1.5) // 4) * 4)})
        if op in ("conv", "dwconv", "activation") and deepen_problem(graph, n) is None:
            acts.append({"action": "deepen", "node": n})
    return acts


def grow_candidate(
    project,
    candidate_id: int,
    action: str,
    node: str,
    width: int | None = None,
    *,
    weights_dir,
    noise: float = 0.0,
    seed: int = 0,
) -> int:
    """Apply widen/deepen to a stored candidate and store the child with its weights and lineage.

    The parent's weights come from its `weights_path` (else a seeded init, saved alongside so both
    stay reproducible). The child's weights go to `weights_dir/cand<parent>_<action>_<node>.pt`;
    returns the new candidate id (its `parent_id` is `candidate_id`).
    """
    from pathlib import Path

    from ._common import read_state, write_state

    parent = project.candidate(candidate_id)
    graph = parent.graph
    if parent.weights_path:
        state = read_state(parent.weights_path)
    else:
        state = {k: v.clone() for k, v in build_model(graph, seed=seed).state_dict().items()}
    if action == "widen":
        if width is None:
            raise Net2NetError("widen needs a width")
        g2, s2 = net2wider(graph, state, node, int(width), noise=noise, seed=seed)
        label = f"widen {node} to {width}"
    elif action == "deepen":
        g2, s2, new = net2deeper(graph, state, node, seed=seed)
        label = f"deepen after {node} ({new})"
    else:
        raise Net2NetError(f"unknown Net2Net action {action!r} (widen or deepen)")
    out = Path(weights_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cand{candidate_id}_{action}_{node}_{len(g2)}_{seed}.pt"
    write_state(s2, path)
    if not parent.weights_path:
        ppath = out / f"cand{candidate_id}_init_seed{seed}.pt"
        write_state(state, ppath)
        project.update_candidate(candidate_id, weights_path=str(ppath))
    g2.name = f"{parent.name} / {label}"
    return project.add_candidate(
        g2,
        name=g2.name,
        tags=["net2net"],
        notes=f"Net2Net {label} (function-preserving) from candidate {candidate_id}",
        parent_id=candidate_id,
        weights_path=str(path),
    )
