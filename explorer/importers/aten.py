"""torch.export programs (ATen graphs) -> traced layers. Shared by `.pt2` files and Python factories.

The walk follows the program's graph in order. Parameters, buffers and constants come from the
graph signature; a call whose inputs are all such tensors (a transposed weight, a reshaped PReLU
slope) is evaluated once, so its result is a weight too. Every other call maps onto a canonical
layer kind or, failing that, stays the ATen call itself (an opaque node). Only ATen operators are
walked (checked before anything runs), because a `.pt2` file is user input.
"""

from __future__ import annotations

import math
import operator

import torch
from torch import fx
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind
from torch.utils.flop_counter import FlopCounterMode

from ..arch.ops.opaque import _ENUMS
from .base import Fallback, TNode, Traced, TraceError, chain_nodes

_ACTS = {
    "relu": "relu",
    "relu6": "relu6",
    "hardswish": "h_swish",
    "hardsigmoid": "h_sigmoid",
    "silu": "silu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
}
_IDENTITY = {"contiguous", "clone", "alias", "detach", "lift_fresh_copy"}
_MULTI_FIRST = {  # ops returning a tuple whose first element is the layer's output
    "_native_batch_norm_legit_no_training",
    "max_pool2d_with_indices",
    "adaptive_max_pool2d",
    "native_layer_norm",
    "native_dropout",
}
_SPLITS = {"chunk", "split", "split_with_sizes", "unsafe_split", "unsafe_chunk"}


def _name(target) -> tuple[str, str]:
    """(functional op name, overload) of an ATen OpOverload: relu_ -> relu."""
    op = target._opname
    if op.endswith("_") and not op.startswith("_"):
        op = op[:-1]
    return op, target._overloadname


# size arithmetic a program with dynamic shapes computes on symbolic ints
_SYM_FUNCS = {
    *(
        getattr(operator, n)
        for n in ("getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "pow")
    ),
    *(getattr(operator, n) for n in ("eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_")),
    *(getattr(math, n) for n in ("ceil", "floor", "trunc", "sqrt")),
    *(
        getattr(torch, n)
        for n in ("sym_int", "sym_float", "sym_max", "sym_min", "sym_not", "sym_ite")
        if hasattr(torch, n)
    ),
}
_FILE_OPS = {"from_file", "save", "load"}


def check_target(node: fx.Node) -> None:
    """Refuse anything but ATen operators, tuple indexing and size arithmetic before any of the
    program runs (and ATen's file operators)."""
    t = node.target
    if t in _SYM_FUNCS:
        return
    if isinstance(t, torch._ops.OpOverload) and t.namespace == "aten" and t._opname not in _FILE_OPS:
        return
    raise TraceError(f"operator {t} is not supported (an imported program may only use ATen operators)")


def _shape(v) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in v.shape[1:])
    except (TypeError, ValueError):
        raise TraceError(
            "the program has symbolic shapes that could not be fixed to one input shape"
        ) from None


def _pair(v) -> tuple[int, int] | None:
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 1:
        return (int(v[0]), int(v[0]))
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return (int(v[0]), int(v[1]))
    return None


def _square(*pairs) -> list[int] | None:
    out = []
    for p in pairs:
        if p is None or p[0] != p[1]:
            return None
        out.append(p[0])
    return out


class _Walk:
    def __init__(self, ep: ExportedProgram):
        self.ep = ep
        self.consts: dict[str, tuple[object, bool]] = {}  # fx name -> (tensor or tuple, is_param)
        self.fqn: dict[str, str] = {}
        self.vals: dict[str, str] = {}  # fx name -> TNode id (activations)
        self.tuples: set[str] = set()  # calls on activations returning tuples (their getitems map)
        self.nodes: dict[str, TNode] = {}
        self.used: set[str] = set()  # parameter FQNs some layer uses
        self.batch = 1
        self.input_id = ""
        self.input_shape: tuple[int, ...] = ()

    # -- values ----------------------------------------------------------------------------------
    def is_act(self, a) -> bool:
        return isinstance(a, fx.Node) and a.name in self.vals

    def const(self, a):
        if isinstance(a, fx.Node) and a.name in self.consts:
            self._mark(a.name)
            return self.consts[a.name][0]
        return None

    def _mark(self, name: str) -> None:
        if name in self.fqn:
            self.used.add(self.fqn[name])

    def act_shape(self, a) -> tuple[int, ...]:
        return self.nodes[self.vals[a.name]].shape

    # -- the walk --------------------------------------------------------------------------------
    def run(self) -> None:
        sig = self.ep.graph_signature
        state, constants = self.ep.state_dict, self.ep.constants
        users = []
        for spec in sig.input_specs:
            name = spec.arg.name
            if spec.kind == InputKind.PARAMETER:
                self.consts[name] = (state[spec.target], True)
                self.fqn[name] = spec.target
            elif spec.kind == InputKind.BUFFER:
                t = state[spec.target] if spec.target in state else constants[spec.target]
                self.consts[name] = (t, False)
                self.fqn[name] = spec.target
            elif spec.kind == InputKind.CONSTANT_TENSOR:
                self.consts[name] = (constants[spec.target], False)
            elif spec.kind == InputKind.USER_INPUT:
                users.append(name)
            else:
                raise TraceError(
                    f"the program takes a {spec.kind.name.lower()} input; only tensors are supported"
                )
        if len(users) != 1:
            raise TraceError(f"the program takes {len(users)} inputs; one image batch is supported")
        outs = [s for s in sig.output_specs if s.kind == OutputKind.USER_OUTPUT]
        if len(outs) != 1:
            raise TraceError(f"the program returns {len(outs)} outputs; one tensor is supported")
        for node in self.ep.graph.nodes:
            if node.op == "placeholder":
                if node.name == users[0]:
                    val = node.meta.get("val")
                    self.input_shape = tuple(int(d) for d in val.shape)
                    self.batch = self.input_shape[0]
                    self.input_id = node.name
                    self.nodes[node.name] = TNode(node.name, "input", [], _shape(val))
                    self.vals[node.name] = node.name
            elif node.op == "call_function":
                check_target(node)
                self.call(node)
            elif node.op == "output":
                res = node.args[0]
                res = res[0] if isinstance(res, (list, tuple)) else res
                if not self.is_act(res):
                    raise TraceError("the program's output does not depend on its input")
                self.output = self.vals[res.name]
            else:
                raise TraceError(f"unsupported graph node kind {node.op!r}")

    def call(self, node: fx.Node) -> None:
        acts = []
        fx.node.map_arg(
            (node.args, node.kwargs),
            lambda n: acts.append(n) if n.name in self.vals or n.name in self.tuples else None,
        )
        if not acts:
            self._fold(node)
            return
        if node.target is operator.getitem:
            src, k = node.args
            self.layer(node, src, k)
            return
        val = node.meta.get("val")
        if isinstance(val, (tuple, list)):
            self.tuples.add(node.name)  # its getitem nodes make the layers
            return
        self.layer(node, node, None)

    def _fold(self, node: fx.Node) -> None:
        """A call on weights only (a transposed or reshaped weight): evaluate it once."""
        is_param = []

        def real(n):
            if n.name not in self.consts:
                raise TraceError(f"{node.name}: reads {n.name}, which is neither a weight nor the input")
            is_param.append(self.consts[n.name][1])
            self._mark(n.name)
            return self.consts[n.name][0]

        args, kwargs = fx.node.map_arg((node.args, node.kwargs), real)
        with torch.no_grad():
            value = node.target(*args, **kwargs)
        self.consts[node.name] = (value, any(is_param))

    # -- layers ----------------------------------------------------------------------------------
    def layer(self, node: fx.Node, call: fx.Node, index: int | None) -> None:
        """Add the layer `node` computes (`call` is the op; `index` its tuple element, if any)."""
        val = node.meta.get("val")
        shape = _shape(val)
        stack = node.meta.get("nn_module_stack") or call.meta.get("nn_module_stack") or {}
        scope = list(stack.values())[-1][0] if stack else ""
        fallback = self._fallback(call, index, val)
        n = TNode(node.name, "opaque", list(fallback.inputs), shape, scope=scope, fallback=fallback)
        mapped = self.map(call, index, n)
        if isinstance(mapped, list):  # a layer that lowers to a chain (mean without keepdim)
            self._chain(n, mapped)
            return
        if mapped is not None:
            kind, inputs, attrs, weights = mapped
            n.kind, n.inputs, n.attrs, n.weights = kind, inputs, attrs, weights
        self.nodes[n.id] = n
        self.vals[node.name] = n.id

    def _chain(self, n: TNode, parts) -> None:
        chain_nodes(self.nodes, n, parts)
        self.vals[n.id] = n.id

    def _fallback(self, call: fx.Node, index: int | None, val) -> Fallback:
        inputs: list[str] = []
        weights: list[tuple[torch.Tensor, bool]] = []
        wnames: dict[str, int] = {}

        def enc(a):
            if isinstance(a, fx.Node):
                if a.name in self.vals:
                    src = self.vals[a.name]
                    if src not in inputs:
                        inputs.append(src)
                    return {"in": inputs.index(src)}
                if a.name in self.consts:
                    t, is_param = self.consts[a.name]
                    if not isinstance(t, torch.Tensor):
                        raise TraceError(f"{call.name}: a weight argument is not a tensor")
                    if a.name not in wnames:
                        wnames[a.name] = len(weights)
                        weights.append((t, is_param))
                    return {"w": f"w{wnames[a.name]}"}
                raise TraceError(f"{call.name}: unknown argument {a.name}")
            if isinstance(a, (list, tuple)):
                return [enc(x) for x in a]
            for key, table in _ENUMS.items():
                for label, v in table.items():
                    if type(a) is type(v) and a == v:
                        return {key: label}
            if a is None or isinstance(a, (bool, int, float, str)):
                return a
            raise TraceError(f"{call.name}: cannot keep argument {a!r} of {call.target}")

        op, overload = _name(call.target)
        call_spec = {"args": enc(list(call.args)), "kwargs": {k: enc(v) for k, v in call.kwargs.items()}}
        if index is not None:
            call_spec["output"] = index
        target = f"aten.{op}.{overload}"

        act_shapes = {}
        fx.node.map_arg(
            (call.args, call.kwargs),
            lambda n: act_shapes.setdefault(n.name, self.act_shape(n)) if n.name in self.vals else None,
        )
        batch = self.batch

        def macs() -> int:
            """FLOPs / 2 of the call alone, as FlopCounterMode counts them (0 for most ops)."""

            def real(n):
                if n.name in act_shapes:
                    return torch.zeros((batch, *act_shapes[n.name]))
                return self.consts[n.name][0]

            args, kwargs = fx.node.map_arg((call.args, call.kwargs), real)
            func = getattr(getattr(torch.ops.aten, op), overload)
            counter = FlopCounterMode(display=False)
            try:
                with torch.no_grad(), counter:
                    func(*args, **kwargs)
            except Exception:
                return 0
            return counter.get_total_flops() // 2

        return Fallback(
            "aten", target, call_spec, inputs, weights, macs, origin=f"{call.name} ({call.target})"
        )

    def map(self, call: fx.Node, index: int | None, n: TNode):
        """(kind, inputs, attrs, weights) of a canonical layer, a chain of them, or None."""
        op, _ = _name(call.target)
        args = list(call.args)
        kw = dict(call.kwargs)

        def arg(i, name, default=None):
            return args[i] if len(args) > i else kw.get(name, default)

        x = args[0] if args else None
        if op in _SPLITS:
            return self._split(op, args, kw, index, n)
        if op in _MULTI_FIRST and index != 0:
            return None
        if not self.is_act(x) and op not in ("add", "mul", "addmm", "cat", "concat"):
            return None
        xin = [self.vals[x.name]] if self.is_act(x) else []
        ins = self.act_shape(x) if self.is_act(x) else ()

        if op in ("conv2d", "convolution", "_convolution"):
            if op != "conv2d" and arg(6, "transposed"):
                return None
            w, b = self.const(arg(1, "weight")), self.const(arg(2, "bias"))
            if w is None or w.dim() != 4 or len(ins) != 3 or (arg(2, "bias") is not None and b is None):
                return None
            stride, padding, dilation = arg(3, "stride", [1]), arg(4, "padding", [0]), arg(5, "dilation", [1])
            groups = arg(8 if op != "conv2d" else 6, "groups", 1)
            if isinstance(padding, str):
                padding = _str_padding(padding, w, dilation, stride)
                if padding is None:
                    return None
            sq = _square(_pair(w.shape[2:]), _pair(stride), _pair(padding), _pair(dilation))
            if sq is None:
                return None
            k, s, p, d = sq
            attrs = dict(
                kernel=k, stride=s, padding=p, dilation=d, groups=int(groups), out_channels=int(w.shape[0])
            )
            return "conv", xin, attrs, {"weight": w, "bias": b}
        if op in ("batch_norm", "_native_batch_norm_legit_no_training"):
            if op == "batch_norm" and arg(5, "training"):
                return None
            eps = arg(7, "eps") if op == "batch_norm" else arg(6, "eps")
            roles = ("weight", "bias", "running_mean", "running_var")
            weights = {r: self.const(args[1 + j]) for j, r in enumerate(roles)}
            if weights["running_mean"] is None or len(ins) != 3:
                return None
            weights["num_batches_tracked"] = self._sibling(args[3], "num_batches_tracked")
            return "bn", xin, {"eps": float(eps)}, weights
        if op in _ACTS:
            return "act", xin, {"act": _ACTS[op]}, {}
        if op == "hardtanh":
            if (float(arg(1, "min_val", -1.0)), float(arg(2, "max_val", 1.0))) == (0.0, 6.0):
                return "act", xin, {"act": "relu6"}, {}
            return None
        if op == "gelu":
            approx = kw.get("approximate", arg(1, "approximate", "none"))
            return "act", xin, {"act": "gelu" if approx == "none" else "gelu_tanh"}, {}
        if op in ("add", "mul"):
            if call.target._overloadname != "Tensor" or (op == "add" and arg(2, "alpha", 1) != 1):
                return None
            a, b = args[0], args[1]
            if self.is_act(a) and self.is_act(b):
                if op == "add" and self.act_shape(a) != self.act_shape(b):
                    return None
                return op, [self.vals[a.name], self.vals[b.name]], {}, {}
            if op == "mul":
                return self._scale(a, b)
            return None
        if op in ("cat", "concat"):
            tensors = args[0]
            dim = arg(1, "dim", 0)
            if not all(self.is_act(t) for t in tensors):
                return None
            rank = len(self.act_shape(tensors[0])) + 1
            if dim % rank != 1 or rank != 4:
                return None
            return "concat", [self.vals[t.name] for t in tensors], {"dim": 0}, {}
        if op in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
            kernel = _pair(arg(1, "kernel_size"))
            stride = _pair(arg(2, "stride", []) or arg(1, "kernel_size"))
            padding = _pair(arg(3, "padding", 0))
            if op == "avg_pool2d":
                ceil, count_pad, divisor = (
                    arg(4, "ceil_mode", False),
                    arg(5, "count_include_pad", True),
                    arg(6, "divisor_override"),
                )
                dilation = (1, 1)
            else:
                dilation, ceil = _pair(arg(4, "dilation", 1)), arg(5, "ceil_mode", False)
                count_pad, divisor = False, None
            sq = _square(kernel, stride, padding, dilation)
            if sq is None or sq[3] != 1 or len(ins) != 3:
                return None
            kind = "avgpool" if op == "avg_pool2d" else "maxpool"
            attrs = dict(
                kernel=sq[0],
                stride=sq[1],
                padding=sq[2],
                ceil_mode=bool(ceil),
                count_include_pad=bool(count_pad),
                divisor_override=divisor,
            )
            return kind, xin, attrs, {}
        if op in ("adaptive_avg_pool2d", "_adaptive_avg_pool2d", "adaptive_max_pool2d"):
            size = _pair(arg(1, "output_size"))
            if size is None or len(ins) != 3:
                return None
            if size == (1, 1) and op != "adaptive_max_pool2d":
                return "global_avgpool", xin, {}, {}
            mode = "max" if op == "adaptive_max_pool2d" else "avg"
            return "adaptive_pool", xin, {"mode": mode, "out_h": size[0], "out_w": size[1]}, {}
        if op == "mean" and call.target._overloadname == "dim":
            dims = arg(1, "dim")
            keep = arg(2, "keepdim", False)
            if len(ins) != 3 or arg(3, "dtype") is not None or sorted(d % 4 for d in dims) != [2, 3]:
                return None
            c = ins[0]
            if keep:
                return "global_avgpool", xin, {}, {}
            return [("global_avgpool", xin, {}, (c, 1, 1)), ("flatten", None, {"start": 0, "end": -1}, (c,))]
        if op == "flatten":
            rank = len(ins) + 1
            start, end = arg(1, "start_dim", 0) % rank, arg(2, "end_dim", -1) % rank
            if start == 0:
                return None
            return "flatten", xin, {"start": start - 1, "end": end - 1}, {}
        if op in ("view", "reshape", "_unsafe_view"):
            out = tuple(int(d) for d in call.meta["val"].shape)
            if out[0] != self.batch:
                return None
            return ("identity" if out[1:] == ins else "reshape"), xin, {}, {}
        if op == "permute":
            dims = [d % (len(ins) + 1) for d in arg(1, "dims")]
            if dims[0] != 0:
                return None
            return "permute", xin, {"perm": [d - 1 for d in dims[1:]]}, {}
        if op == "transpose":
            rank = len(ins) + 1
            d0, d1 = arg(1, "dim0") % rank, arg(2, "dim1") % rank
            if 0 in (d0, d1):
                return None
            perm = list(range(len(ins)))
            perm[d0 - 1], perm[d1 - 1] = perm[d1 - 1], perm[d0 - 1]
            return "permute", xin, {"perm": perm}, {}
        if op in _IDENTITY:
            return "identity", xin, {}, {}
        if op in ("dropout", "native_dropout", "feature_dropout"):
            return "dropout", xin, {"p": float(arg(1, "p", 0.5))}, {}
        if op == "linear":
            w, b = self.const(arg(1, "weight")), self.const(arg(2, "bias"))
            if w is None or w.dim() != 2 or (arg(2, "bias") is not None and b is None):
                return None
            return "linear", xin, {}, {"weight": w, "bias": b}
        if op in ("addmm", "mm", "matmul"):
            if op == "addmm":
                bias, x, wt = self.const(args[0]), args[1], args[2]
                if bias is None or kw.get("beta", 1) != 1 or kw.get("alpha", 1) != 1:
                    return None
            else:
                bias, x, wt = None, args[0], args[1]
            w = self.const(wt)
            if not self.is_act(x) or w is None or w.dim() != 2:
                return None
            return "linear", [self.vals[x.name]], {}, {"weight": w.t(), "bias": bias}
        if op in ("layer_norm", "native_layer_norm"):
            shape = list(arg(1, "normalized_shape"))
            if shape != [ins[-1]]:
                return None
            eps = arg(4, "eps", 1e-5)
            return (
                "layernorm",
                xin,
                {"eps": float(eps)},
                {"weight": self.const(arg(2, "weight")), "bias": self.const(arg(3, "bias"))},
            )
        if op == "slice" and call.target._overloadname == "Tensor":
            rank = len(ins) + 1
            dim = arg(1, "dim", 0) % rank
            if dim == 0:
                return None
            size = ins[dim - 1]
            start, end, step = arg(2, "start", None), arg(3, "end", None), arg(4, "step", 1)
            start = 0 if start is None else (start + size if start < 0 else min(start, size))
            end = size if end is None else (end + size if end < 0 else min(end, size))
            if start == 0 and end == size and step == 1:
                return "identity", xin, {}, {}
            return "slice", xin, {"dim": dim - 1, "start": start, "end": end, "step": step}, {}
        if op in ("channel_shuffle", "native_channel_shuffle"):
            return "channel_shuffle", xin, {"groups": int(arg(1, "groups"))}, {}
        return None

    def _scale(self, a, b):
        if self.is_act(b):
            a, b = b, a
        w = self.const(b)
        if not self.is_act(a) or not isinstance(w, torch.Tensor) or not w.is_floating_point():
            return None
        s = self.act_shape(a)
        if w.dim() == 1 and w.shape[0] == s[-1] and w.shape[0] > 1:
            return "scale", [self.vals[a.name]], {"channels_last": True}, {"weight": w}
        if len(s) == 3 and tuple(w.shape) in ((s[0], 1, 1), (1, s[0], 1, 1)) and s[0] > 1:
            return "scale", [self.vals[a.name]], {"channels_last": False}, {"weight": w}
        return None

    def _split(self, op, args, kw, index, n):
        x = args[0]
        if index is None or not self.is_act(x):
            return None
        ins = self.act_shape(x)
        rank = len(ins) + 1
        dim = (args[2] if len(args) > 2 else kw.get("dim", 0)) % rank
        if dim == 0:
            return None
        size = ins[dim - 1]
        if op in ("chunk", "unsafe_chunk"):
            step = math.ceil(size / args[1])
            sizes = [min(step, size - k) for k in range(0, size, step)]
        elif op == "split_with_sizes":
            sizes = list(args[1])
        else:
            sizes = [min(args[1], size - k) for k in range(0, size, args[1])]
        start = sum(sizes[:index])
        attrs = {"dim": dim - 1, "start": start, "end": start + sizes[index], "step": 1}
        return "slice", [self.vals[x.name]], attrs, {}

    def _sibling(self, node, leaf: str):
        """The buffer beside `node`'s (BN's num_batches_tracked beside its running_mean)."""
        fqn = self.fqn.get(getattr(node, "name", ""), "")
        if not fqn:
            return None
        sib = fqn.rsplit(".", 1)[0] + "." + leaf if "." in fqn else leaf
        return self.ep.state_dict.get(sib)


def _str_padding(mode: str, w, dilation, stride):
    if mode == "valid":
        return [0, 0]
    k, d, s = w.shape[2], _pair(dilation)[0], _pair(stride)[0]
    total = d * (k - 1)
    if mode == "same" and s == 1 and total % 2 == 0 and w.shape[2] == w.shape[3]:
        return [total // 2, total // 2]
    return None


def trace_program(ep: ExportedProgram, source: str, name: str, reference=None) -> Traced:
    walk = _Walk(ep)
    walk.run()
    params = {
        s.target: ep.state_dict[s.target]
        for s in ep.graph_signature.input_specs
        if s.kind == InputKind.PARAMETER
    }
    unused = sum(t.numel() for k, t in params.items() if k not in walk.used)
    return Traced(
        source=source,
        name=name,
        input_id=walk.input_id,
        input_shape=walk.input_shape,
        nodes=walk.nodes,
        output=walk.output,
        reference=reference if reference is not None else ep.module(),
        source_params=sum(t.numel() for t in params.values()),
        unused_params=unused,
    )
