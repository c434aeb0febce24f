"""What every importer shares: a traced graph of canonical layers, the passes that fuse and clean
it, and its lowering onto registered ops (an ArchGraph plus a state_dict in the builder's names).

A frontend (ONNX, torch.export) turns its source into `TNode`s: one per layer, in execution order,
with a canonical `kind` ("conv", "bn", "act", "add", ...), the activation inputs, the traced output
shape, the weights by role and, for every node, a `Fallback`: how to run the original operator as
an opaque node. Lowering maps each kind onto an op and checks it against the traced shape; a node
that no op describes (or whose parameters fall outside an op's schema) becomes opaque, so an import
never fails on an unknown layer. Then conv -> BN -> activation chains fuse into one conv node.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..arch import OPS, ArchGraph, ShapeError, build_model, validate
from ..arch.graph import NODE_ID
from ..errors import FormatError


@dataclass
class Fallback:
    """The original operator, for an opaque node: its name, call (JSON-able, with {"in": k} for
    activation inputs and {"w": "wN"} for its own tensors), those tensors (and whether each one
    is a learnable parameter), and its MACs (a callable: only measured when it is needed)."""

    source: str  # "aten" | "onnx"
    target: str
    call: dict
    inputs: list[str]
    weights: list[tuple[torch.Tensor, bool]] = field(default_factory=list)
    macs: Callable[[], int] | int = 0
    origin: str = ""


@dataclass
class TNode:
    id: str
    kind: str
    inputs: list[str]
    shape: tuple[int, ...]  # traced output shape, batch excluded
    attrs: dict = field(default_factory=dict)
    weights: dict[str, torch.Tensor | None] = field(default_factory=dict)
    scope: str = ""  # module path in the source model ("layer1.0.conv1"), for names and groups
    fallback: Fallback | None = None


@dataclass
class Traced:
    source: str  # "onnx" | "pt2" | "python"
    name: str
    input_id: str
    input_shape: tuple[int, ...]  # with the batch
    nodes: dict[str, TNode]  # execution order
    output: str
    reference: Callable[[torch.Tensor], torch.Tensor] | None = None  # the original model
    source_params: int | None = None  # sum(p.numel()) of the source model's parameters
    unused_params: int = 0  # parameters no layer uses (not in the graph)


def chain_nodes(nodes: dict[str, TNode], n: TNode, parts) -> None:
    """Put a source node that maps onto several layers into `nodes` as a chain of TNodes: each
    part is (kind, inputs, attrs, shape); the last keeps `n`'s id (so its users find it) and its
    fallback, the others take `<id>__<k>` ids and feed the next."""
    prev = None
    for j, (kind, inputs, attrs, shape) in enumerate(parts):
        last = j == len(parts) - 1
        nid = n.id if last else f"{n.id}__{j}"
        t = TNode(nid, kind, inputs if prev is None else [prev], shape, attrs, {}, n.scope)
        t.fallback = n.fallback if last else None
        nodes[nid] = t
        prev = nid


class TraceError(FormatError):
    pass


# -- passes on the traced graph -----------------------------------------------------------------
def consumers(t: Traced) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {n: [] for n in t.nodes}
    for n in t.nodes.values():
        for s in n.inputs:
            out[s].append(n.id)
    return out


def _replace_uses(t: Traced, old: str, new: str) -> None:
    for n in t.nodes.values():
        n.inputs = [new if s == old else s for s in n.inputs]
        if n.fallback is not None:
            n.fallback.inputs = [new if s == old else s for s in n.fallback.inputs]
    if t.output == old:
        t.output = new


def prune_dead(t: Traced) -> None:
    """Drop layers the output does not depend on (an unused branch left in an export)."""
    live = {t.output}
    for n in reversed(list(t.nodes.values())):
        if n.id in live:
            live.update(n.inputs)
            if n.fallback is not None:
                live.update(n.fallback.inputs)
    for nid in [nid for nid in t.nodes if nid not in live and nid != t.input_id]:
        del t.nodes[nid]


def drop_identities(t: Traced) -> None:
    for nid in [n.id for n in t.nodes.values() if n.kind == "identity"]:
        _replace_uses(t, nid, t.nodes[nid].inputs[0])
        del t.nodes[nid]


def _single_use(t: Traced, uses: dict, nid: str) -> bool:
    return len(uses[nid]) == 1 and t.output != nid


def fuse_channel_shuffle(t: Traced) -> None:
    """reshape (C,H,W) -> (g, C/g, H, W), swap the first two, reshape back: ShuffleNet's shuffle."""
    uses = consumers(t)
    for r2 in list(t.nodes.values()):
        if r2.kind != "reshape" or r2.id not in t.nodes:
            continue
        tr = t.nodes.get(r2.inputs[0])
        if not tr or tr.kind != "permute" or tuple(tr.attrs["perm"]) != (1, 0, 2, 3):
            continue
        r1 = t.nodes.get(tr.inputs[0])
        if (
            not r1
            or r1.kind != "reshape"
            or not (_single_use(t, uses, tr.id) and _single_use(t, uses, r1.id))
        ):
            continue
        src = t.nodes[r1.inputs[0]]
        if len(src.shape) != 3 or r2.shape != src.shape or len(r1.shape) != 4:
            continue
        g, cg, h, w = r1.shape
        if g * cg != src.shape[0] or (h, w) != src.shape[1:]:
            continue
        r2.kind, r2.inputs, r2.attrs = "channel_shuffle", [src.id], {"groups": g}
        r2.fallback = None  # the shuffle always lowers
        del t.nodes[tr.id], t.nodes[r1.id]


def fuse_gated_activations(t: Traced) -> None:
    """x * sigmoid(x) is SiLU and x * hardsigmoid(x) is hard swish (as exporters spell them)."""
    uses = consumers(t)
    for m in list(t.nodes.values()):
        if m.kind != "mul" or len(m.inputs) != 2:
            continue
        for a, b in (m.inputs, m.inputs[::-1]):
            gate = t.nodes.get(b)
            if (
                gate
                and gate.kind == "act"
                and gate.attrs["act"] in ("sigmoid", "h_sigmoid")
                and gate.inputs == [a]
                and _single_use(t, uses, b)
                and t.nodes[a].shape == m.shape
            ):
                m.kind, m.inputs = "act", [a]
                m.attrs = {"act": "silu" if gate.attrs["act"] == "sigmoid" else "h_swish"}
                m.fallback = None
                del t.nodes[b]
                break


def fuse_conv_bn_act(t: Traced) -> None:
    """conv -> BN -> activation chains (each link the only reader of the one before) become one
    conv node, as the registry's conv op is conv -> BN -> act."""
    uses = consumers(t)
    for conv in list(t.nodes.values()):
        if conv.kind != "conv" or conv.id not in t.nodes:
            continue
        cur = conv
        nxt = _only_reader(t, uses, cur)
        if nxt is not None and nxt.kind == "bn" and not conv.attrs.get("bn"):
            conv.attrs["bn"] = True
            conv.attrs["bn_eps"] = nxt.attrs["eps"]
            for role, w in nxt.weights.items():
                conv.weights[f"bn.{role}"] = w
            _absorb(t, conv, nxt)
            uses = consumers(t)
            nxt = _only_reader(t, uses, conv)
        if nxt is not None and nxt.kind == "act":
            conv.attrs["act"] = nxt.attrs["act"]
            _absorb(t, conv, nxt)
            uses = consumers(t)


def _only_reader(t: Traced, uses: dict, n: TNode) -> TNode | None:
    if not _single_use(t, uses, n.id):
        return None
    return t.nodes[uses[n.id][0]]


def _absorb(t: Traced, into: TNode, n: TNode) -> None:
    """`into` takes over `n`'s output (and name, when `into` had none of its own)."""
    into.fallback = None  # a fused node always lowers (each part was checked on its own)
    _replace_uses(t, n.id, into.id)
    del t.nodes[n.id]


# -- lowering -------------------------------------------------------------------------------------
def _same_pad(kernel: int, pad: int, dilation: int = 1) -> int:
    """-1 (the op's 'same' default) when the padding is what 'same' gives, else the padding."""
    return -1 if kernel % 2 == 1 and pad == dilation * (kernel // 2) else pad


def _bn_state(weights: dict, prefix: str = "") -> dict:
    out = {f"{prefix}{r}": weights[r] for r in ("weight", "bias", "running_mean", "running_var")}
    nbt = weights.get("num_batches_tracked")
    out[f"{prefix}num_batches_tracked"] = nbt if nbt is not None else torch.tensor(0, dtype=torch.long)
    return out


def lower(n: TNode, ins: list[tuple[int, ...]]) -> tuple[str, dict, dict]:
    """(op, params, state) for one traced node; raises ShapeError/KeyError when it does not map."""
    a, w = n.attrs, n.weights
    k = n.kind
    if k == "conv":
        kern, pad, dil = a["kernel"], a["padding"], a["dilation"]
        params = {
            "kernel": kern,
            "stride": a["stride"],
            "padding": _same_pad(kern, pad, dil),
            "dilation": dil,
            "bias": w.get("bias") is not None,
            "bn": bool(a.get("bn")),
            "act": a.get("act", "none"),
        }
        if a.get("bn"):
            params["bn_eps"] = float(a["bn_eps"])
        state = {"conv.weight": w["weight"]}
        if w.get("bias") is not None:
            state["conv.bias"] = w["bias"]
        if a.get("bn"):
            bn = {r[3:]: v for r, v in w.items() if r.startswith("bn.")}
            state.update(_bn_state(bn, "bn."))
        cin, cout, g = ins[0][0], a["out_channels"], a["groups"]
        if g == cin == cout and g > 1:
            return "dwconv", params, state
        return "conv", {**params, "out_channels": cout, "groups": g}, state
    if k == "bn":
        if w.get("weight") is None or w.get("bias") is None:
            raise KeyError("BatchNorm without affine weights")
        return "batchnorm", {"eps": float(a["eps"])}, _bn_state(w)
    if k == "act":
        return "activation", {"act": a["act"]}, {}
    if k in ("add", "mul", "concat", "global_avgpool", "channel_shuffle"):
        params = {"groups": a["groups"]} if k == "channel_shuffle" else {}
        if k == "concat" and a.get("dim", 0) != 0:
            raise KeyError("concat along a dim other than the channels")
        return k, params, {}
    if k == "scale":
        return "scale", {"channels_last": bool(a["channels_last"])}, {"weight": w["weight"].reshape(-1)}
    if k in ("maxpool", "avgpool"):
        kern, pad = a["kernel"], a["padding"]
        params = {"kernel": kern, "stride": a["stride"], "padding": _same_pad(kern, pad)}
        params["ceil_mode"] = bool(a.get("ceil_mode"))
        if k == "avgpool":
            params["count_include_pad"] = bool(a.get("count_include_pad")) and pad > 0
            if a.get("divisor_override"):
                raise KeyError("avg pool with a divisor override")
        return k, params, {}
    if k == "adaptive_pool":
        return k, {"mode": a["mode"], "out_h": a["out_h"], "out_w": a["out_w"]}, {}
    if k == "flatten":
        return k, {"start": a["start"], "end": a["end"]}, {}
    if k == "linear":
        weight, bias = w["weight"], w.get("bias")
        params = {"out_features": int(weight.shape[0]), "bias": bias is not None, "flatten": len(ins[0]) == 1}
        state = {"linear.weight": weight}
        if bias is not None:
            state["linear.bias"] = bias
        return "linear", params, state
    if k == "layernorm":
        affine = w.get("weight") is not None
        if affine != (w.get("bias") is not None):
            raise KeyError("LayerNorm with a weight but no bias")
        state = {"weight": w["weight"], "bias": w["bias"]} if affine else {}
        return "layernorm", {"eps": float(a["eps"]), "affine": affine}, state
    if k == "permute":
        return k, {"perm": ",".join(str(d) for d in a["perm"])}, {}
    if k == "reshape":
        return k, {"shape": ",".join(str(d) for d in n.shape)}, {}
    if k == "slice":
        return k, {"dim": a["dim"], "start": a["start"], "end": a["end"], "step": a["step"]}, {}
    if k == "dropout":
        return k, {"p": float(a["p"])}, {}
    if k == "opaque":
        return lower_opaque(n)
    raise KeyError(f"no op for {k!r}")


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def lower_opaque(n: TNode) -> tuple[str, dict, dict]:
    fb = n.fallback
    macs = fb.macs() if callable(fb.macs) else fb.macs
    weights, state = {}, {}
    for j, (tensor, is_param) in enumerate(fb.weights):
        name = f"w{j}"
        weights[name] = {"shape": list(tensor.shape), "dtype": _dtype_name(tensor), "param": bool(is_param)}
        state[name] = tensor
    params = {
        "source": fb.source,
        "target": fb.target,
        "call": json.dumps(fb.call, separators=(",", ":")),
        "weights": json.dumps(weights, separators=(",", ":")),
        "out_shape": ",".join(str(d) for d in n.shape),
        "macs": int(macs),
        "origin": fb.origin[:200],
    }
    return "opaque", params, state


def _checked(n: TNode, shapes: dict) -> tuple[str, dict, dict] | None:
    """The lowering of `n` when its op accepts the parameters and reproduces the traced shape."""
    ins = [shapes[s] for s in n.inputs]
    if len(set(n.inputs)) != len(n.inputs):  # x + x: a graph edge cannot be doubled; keep the call
        return None
    try:
        op, params, state = lower(n, ins)
    except (KeyError, ShapeError, TypeError, ValueError):
        return None
    spec = OPS[op]
    full = spec.resolve(params)
    if spec.param_errors(params):
        return None
    lo, hi = spec.min_inputs, spec.max_inputs
    n_in = len(n.fallback.inputs) if op == "opaque" else len(ins)
    if n_in < lo or (hi is not None and n_in > hi):
        return None
    try:
        if op != "opaque" and tuple(spec.shape(full, ins)) != tuple(n.shape):
            return None
    except (ShapeError, ValueError, IndexError, ZeroDivisionError):
        return None
    return op, params, state


def demote_unmapped(t: Traced) -> None:
    """Every node no op describes becomes opaque (its fallback); with no fallback, a clear error."""
    shapes = {nid: n.shape for nid, n in t.nodes.items()}
    for n in list(t.nodes.values()):
        if n.id == t.input_id or n.kind == "opaque":
            continue
        if _checked(n, shapes) is None:
            if n.fallback is None:
                raise TraceError(f"cannot import layer {n.scope or n.id} ({n.kind}): no op fits it")
            n.kind, n.inputs = "opaque", list(n.fallback.inputs)


# -- emission -------------------------------------------------------------------------------------
def _ident(text: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in text).strip("_")
    while "__" in s:
        s = s.replace("__", "_")
    if not s or not (s[0].isalpha() or s[0] == "_"):
        s = "n_" + s
    return s[:56].rstrip("_") or "n"


class _Names:
    def __init__(self):
        self.used = {"input", "output"}

    def take(self, scope: str, op: str) -> str:
        base = _ident(scope) if scope else op
        cand = base
        if cand in self.used:
            cand = f"{base}_{op}" if not base.endswith(op) else base
        k = 2
        while cand in self.used:
            cand = f"{base}_{op}_{k}" if not base.endswith(op) else f"{base}_{k}"
            k += 1
        assert NODE_ID.match(cand), cand
        self.used.add(cand)
        return cand


@dataclass
class ImportResult:
    """An imported model: the graph, its weights in the builder's names, and what the import saw."""

    graph: ArchGraph
    state_dict: dict[str, torch.Tensor]
    opaque: list[dict]  # {"node", "target", "origin"} per opaque node
    source: str
    input_shape: tuple[int, ...]
    reference: Callable[[torch.Tensor], torch.Tensor] | None = None
    source_params: int | None = None
    unused_params: int = 0

    def model(self) -> torch.nn.Module:
        """The built graph with the imported weights (eval mode)."""
        model = build_model(self.graph, seed=0)
        model.load_state_dict(self.state_dict, strict=True)
        return model.eval()

    def parity(self, x: torch.Tensor | None = None, seed: int = 0) -> float | None:
        """Max abs difference between the built model and the original on `x` (a seeded random
        batch of the traced shape by default); None when there is no original to run."""
        if self.reference is None:
            return None
        if x is None:
            gen = torch.Generator().manual_seed(seed)
            x = torch.randn(self.input_shape, generator=gen)
        with torch.inference_mode():
            ref = self.reference(x)
            got = self.model()(x)
        if tuple(ref.shape) != tuple(got.shape):
            raise TraceError(f"built model gives shape {tuple(got.shape)}, the original {tuple(ref.shape)}")
        return float((got.float() - ref.float()).abs().max())


def emit(t: Traced) -> ImportResult:
    """Lower the traced graph onto registered ops: an ArchGraph (validated, laid out, grouped)
    and its state_dict."""
    n_, c, h, w = _input_dims(t.input_shape)
    graph = ArchGraph(t.name, {"source": t.source, "input_shape": list(t.input_shape)})
    graph.add_node("input", {"channels": c, "resolution": h}, id="input")
    ids = {t.input_id: "input"}
    shapes = {nid: n.shape for nid, n in t.nodes.items()}
    names = _Names()
    state: dict[str, torch.Tensor] = {}
    opaque: list[dict] = []
    for n in t.nodes.values():
        if n.id == t.input_id:
            continue
        lowered = _checked(n, shapes)
        if lowered is None:  # demote_unmapped ran: only an opaque node can get here
            raise TraceError(f"cannot import layer {n.scope or n.id} ({n.kind})")
        op, params, own = lowered
        nid = names.take(n.scope, _ident(_short(params["target"])).lower() if op == "opaque" else op)
        graph.add_node(op, params, id=nid)
        ids[n.id] = nid
        srcs = n.fallback.inputs if op == "opaque" else n.inputs
        for port, s in enumerate(srcs):
            graph.connect(ids[s], nid, port)
        for key, tensor in own.items():
            state[f"layers.{nid}.{key}"] = tensor.detach().clone().contiguous()
        if op == "opaque":
            opaque.append({"node": nid, "target": params["target"], "origin": params["origin"]})
    graph.add_node("output", id="output")
    graph.connect(ids[t.output], "output")
    report = validate(graph)
    if not report.ok:
        raise TraceError(f"imported graph is invalid: {report.issues[0]}")
    for tid, nid in ids.items():
        if tid != t.input_id and report.shapes[nid] != tuple(shapes[tid]):
            raise TraceError(f"node {nid}: shape {report.shapes[nid]} differs from the traced {shapes[tid]}")
    from .patterns import assign_groups, layout

    assign_groups(graph)
    layout(graph)
    if opaque:
        graph.meta["opaque"] = [f"{o['node']}: {o['target']}" for o in opaque]
    return ImportResult(
        graph, state, opaque, t.source, t.input_shape, t.reference, t.source_params, t.unused_params
    )


def _short(target: str) -> str:
    """aten.pixel_shuffle.default -> pixel_shuffle; com.microsoft::Gelu -> Gelu."""
    if target.startswith("aten."):
        return target.split(".")[1]
    return target.rsplit("::", 1)[-1]


def _input_dims(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise FormatError(f"the model input must be an image batch NxCxHxW, got {'x'.join(map(str, shape))}")
    n, c, h, w = shape
    if h != w:
        raise FormatError(f"the input must be square (the architecture IR has one resolution), got {h}x{w}")
    return n, c, h, w


def run_passes(t: Traced) -> ImportResult:
    prune_dead(t)
    drop_identities(t)
    fuse_channel_shuffle(t)
    fuse_gated_activations(t)
    demote_unmapped(t)
    fuse_conv_bn_act(t)
    return emit(t)
