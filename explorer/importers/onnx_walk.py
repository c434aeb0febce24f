"""The ONNX node walk: each node of a loaded model (with its values and shapes) onto canonical layers.

See onnx_model.py for how the values and shapes are obtained; patterns exporters spell out (MatMul + Add,
the Erf GELU) are recognised here, anything else becomes an onnxruntime fallback node.
"""

import math

import numpy as np
import torch

from ..errors import FormatError
from .base import Fallback, TNode, TraceError, chain_nodes

_ACTS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "h_swish"}
SHAPE_OPS = {"Shape", "Size"}


def fail(path, msg: str):
    raise FormatError(f"{path}: {msg}")


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0][:200]}" if text else e.__class__.__name__


def _scope(name: str) -> str:
    """Module path from a torch-exported node name: /layer1/layer1.0/conv1/Conv -> layer1.0.conv1."""
    if "/" not in name:
        return name
    parts = [p for p in name.split("/")[:-1] if p]
    path: list[str] = []
    prev = ""
    for p in parts:
        path.append(p[len(prev) + 1 :] if prev and p.startswith(prev + ".") else p)
        prev = p
    return ".".join(path)


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _encode_attrs(node) -> dict:
    from onnx import AttributeProto, helper, numpy_helper

    out = {}
    for a in node.attribute:
        kind = AttributeProto.AttributeType.Name(a.type)
        value = helper.get_attribute_value(a)
        if kind == "STRING":
            value = value.decode("utf-8", "replace")
        elif kind == "STRINGS":
            value = [v.decode("utf-8", "replace") for v in value]
        elif kind == "TENSOR":
            arr = numpy_helper.to_array(value)
            value = {"dtype": str(arr.dtype), "dims": list(arr.shape), "data": arr.reshape(-1).tolist()}
        elif kind in ("FLOAT", "FLOATS"):
            value = [_f32(v) for v in value] if kind == "FLOATS" else _f32(value)
        elif kind not in ("INT", "INTS"):
            raise TraceError(f"node {node.name or node.op_type} ({node.op_type}) has a {kind} attribute")
        out[a.name] = {"type": kind, "value": value}
    return out


def _f32(v) -> float:
    """An ONNX float attribute as the shortest decimal of its float32 (1e-05, not 9.9999997e-06)."""
    return float(str(np.float32(v)))


def _near(v, target: float, tol: float = 1e-4) -> bool:
    if v is None:
        return False
    try:
        arr = np.asarray(v)
        return arr.size == 1 and abs(float(arr.reshape(-1)[0]) - target) < tol
    except (TypeError, ValueError):
        return False


class OnnxWalk:
    def __init__(self, model, values: dict, shapes: dict, from_init: set):
        self.model = model
        self.graph = model.graph
        self.values = values  # every value the run produced (numpy)
        self.shapes = shapes  # full shapes (with batch)
        self.from_init = from_init  # constants derived from initializers (learnable weights)
        self.const: set[str] = set()
        self.act: dict[str, str] = {}  # activation value -> TNode id
        self.nodes: dict[str, TNode] = {}
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.uses: dict[str, list] = {}
        for n in self.graph.node:
            for i in n.input:
                self.uses.setdefault(i, []).append(n)
        for o in self.graph.output:
            self.uses.setdefault(o.name, []).append(None)
        self.skip: set[int] = set()
        self.index = {n.output[0]: k for k, n in enumerate(self.graph.node) if n.output}
        self.opset = {o.domain or "": o.version for o in model.opset_import}

    def tensor(self, name: str) -> torch.Tensor | None:
        if name in self.values and name in self.const:
            return torch.from_numpy(np.array(self.values[name], copy=True))
        return None

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.shapes[name][1:])

    def only_use(self, value: str):
        u = self.uses.get(value, [])
        return u[0] if len(u) == 1 else None

    # -- the walk --------------------------------------------------------------------------------
    def run(self, input_name: str) -> None:
        inits = {i.name for i in self.graph.initializer}
        self.const |= inits
        self.act[input_name] = input_name
        self.nodes[input_name] = TNode(input_name, "input", [], self.shape(input_name))
        for k, node in enumerate(self.graph.node):
            ins = [i for i in node.input if i]
            if node.op_type == "Constant" or node.op_type in SHAPE_OPS or all(i in self.const for i in ins):
                self.const.update(node.output)
                continue
            if k in self.skip:
                continue
            self.layer(k, node)
        out = self.graph.output[0].name
        if out not in self.act:
            raise TraceError("the model's output does not depend on its input")
        self.output = self.act[out]

    def layer(self, k: int, node) -> None:
        outs = [o for o in node.output if o and self.uses.get(o)]
        if not outs:
            return
        for j, o in enumerate(node.output):
            if o not in outs:
                continue
            fb = self._fallback(node, j, o)
            n = TNode(o, "opaque", list(fb.inputs), self.shape(o), scope=_scope(node.name), fallback=fb)
            mapped = self.map(k, node, j, o)
            if isinstance(mapped, list):
                self._chain(n, mapped)
                continue
            if mapped is not None:
                kind, inputs, attrs, weights, out_id = mapped
                n.kind, n.inputs, n.attrs, n.weights = kind, inputs, attrs, weights
                if out_id != o:  # a pattern that ends at a later node (MatMul + Add, GELU)
                    n.id, n.shape = out_id, self.shape(out_id)
            self.nodes[n.id] = n
            self.act[n.id] = n.id
            if n.id != o:
                self.act[o] = n.id

    def _chain(self, n: TNode, parts) -> None:
        chain_nodes(self.nodes, n, parts)
        self.act[n.id] = n.id

    def _fallback(self, node, j: int, out: str) -> Fallback:
        inputs: list[str] = []
        spec, weights = [], []
        for i in node.input:
            if not i:
                spec.append(None)
            elif i in self.act:
                src = self.act[i]
                if src not in inputs:
                    inputs.append(src)
                spec.append({"in": inputs.index(src)})
            elif i in self.const and i in self.values:
                arr = torch.from_numpy(np.array(self.values[i], copy=True))
                weights.append((arr, arr.is_floating_point() and i in self.from_init))
                spec.append({"w": f"w{len(weights) - 1}"})
            else:
                raise TraceError(f"node {node.name or node.op_type}: input {i} has no value")
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        call = {
            "inputs": spec,
            "attrs": _encode_attrs(node),
            "opset": self.opset,
            "ir_version": int(self.model.ir_version),
            "n_outputs": len(node.output),
            "output": j,
            "out_dtype": str(np.asarray(self.values[out]).dtype) if out in self.values else "float32",
        }
        target = f"{domain}::{node.op_type}" if domain else node.op_type
        return Fallback("onnx", target, call, inputs, weights, lambda: self._macs(node, out), node.name)

    def _macs(self, node, out: str) -> int:
        """Multiply-accumulates of a node kept opaque (conv-like and matmul-like nodes only)."""
        w = self.values.get(node.input[1]) if len(node.input) > 1 else None
        if w is None or out not in self.shapes:
            return 0
        o, x = self.shapes[out], self.shapes.get(node.input[0], ())
        if node.op_type == "Conv":
            return int(np.size(w) * math.prod(o[2:]))
        if node.op_type == "ConvTranspose":
            return int(np.size(w) * math.prod(x[2:]))
        if node.op_type in ("MatMul", "Gemm") and np.ndim(w) == 2:
            return int(math.prod(o[:-1]) // o[0] * np.size(w))
        return 0

    # -- mapping ---------------------------------------------------------------------------------
    def map(self, k: int, node, j: int, out: str):
        """(kind, inputs, attrs, weights, output value) of a canonical layer, a chain, or None."""
        op, a = node.op_type, _attrs(node)
        if node.domain not in ("", "ai.onnx"):
            return None
        x = node.input[0] if node.input else ""
        if op in ("Add", "Mul") and x not in self.act:
            x = node.input[1]
        if x not in self.act:
            return None
        xin = [self.act[x]]
        ins = self.shape(x)
        if op == "Split":
            return self._split(node, a, j, xin, ins)
        if j != 0:
            return None
        c = self.tensor
        if op == "Conv":
            w = c(node.input[1])
            b = c(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if (
                w is None
                or w.dim() != 4
                or len(ins) != 3
                or (len(node.input) > 2 and node.input[2] and b is None)
            ):
                return None
            kernel = list(a.get("kernel_shape", w.shape[2:]))
            strides, dil = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
            pads = self._pads(a, ins, self.shape(out), kernel, strides, dil)
            if pads is None or len(set(kernel)) != 1 or len(set(strides)) != 1 or len(set(dil)) != 1:
                return None
            attrs = dict(
                kernel=kernel[0],
                stride=strides[0],
                padding=pads,
                dilation=dil[0],
                groups=int(a.get("group", 1)),
                out_channels=int(w.shape[0]),
            )
            return "conv", xin, attrs, {"weight": w, "bias": b}, out
        if op == "BatchNormalization":
            if a.get("training_mode", 0) or len(ins) != 3:
                return None
            roles = ("weight", "bias", "running_mean", "running_var")
            weights = {r: c(node.input[1 + i]) for i, r in enumerate(roles)}
            if any(v is None for v in weights.values()):
                return None
            return "bn", xin, {"eps": _f32(a.get("epsilon", 1e-5))}, weights, out
        if op in _ACTS:
            return "act", xin, {"act": _ACTS[op]}, {}, out
        if op == "HardSigmoid":
            if _near(a.get("alpha", 0.2), 1 / 6) and _near(a.get("beta", 0.5), 0.5):
                return "act", xin, {"act": "h_sigmoid"}, {}, out
            return None
        if op == "Clip":
            lo = c(node.input[1]) if len(node.input) > 1 and node.input[1] else a.get("min")
            hi = c(node.input[2]) if len(node.input) > 2 and node.input[2] else a.get("max")
            if _near(lo, 0.0, 1e-9) and _near(hi, 6.0, 1e-9):
                return "act", xin, {"act": "relu6"}, {}, out
            return None
        if op == "Gelu":
            approx = a.get("approximate", b"none")
            approx = approx.decode() if isinstance(approx, bytes) else approx
            return "act", xin, {"act": "gelu" if approx == "none" else "gelu_tanh"}, {}, out
        if op == "Div":
            return self._gelu(k, node, x)
        if op in ("Add", "Mul"):
            other = node.input[1] if node.input[0] == x else node.input[0]
            if other in self.act:
                if op == "Add" and self.shape(other) != ins:
                    return None
                return op.lower(), [self.act[node.input[0]], self.act[node.input[1]]], {}, {}, out
            if op == "Mul":
                return self._scale(c(other), xin, ins, out)
            return None
        if op == "Concat":
            axis = a.get("axis", 1) % (len(ins) + 1)
            if axis != 1 or len(ins) != 3 or not all(i in self.act for i in node.input):
                return None
            return "concat", [self.act[i] for i in node.input], {"dim": 0}, {}, out
        if op in ("MaxPool", "AveragePool"):
            kernel = list(a["kernel_shape"])
            strides, dil = (
                list(a.get("strides", [1] * len(kernel))),
                list(a.get("dilations", [1] * len(kernel))),
            )
            pads = self._pads(a, ins, self.shape(out), kernel, strides, dil)
            if (
                pads is None
                or len(ins) != 3
                or len(set(kernel)) != 1
                or len(set(strides)) != 1
                or set(dil) != {1}
            ):
                return None
            kind = "maxpool" if op == "MaxPool" else "avgpool"
            attrs = dict(
                kernel=kernel[0],
                stride=strides[0],
                padding=pads,
                ceil_mode=bool(a.get("ceil_mode", 0)),
                count_include_pad=bool(a.get("count_include_pad", 0)),
            )
            return kind, xin, attrs, {}, out
        if op == "GlobalAveragePool":
            return "global_avgpool", xin, {}, {}, out
        if op == "GlobalMaxPool":
            return "adaptive_pool", xin, {"mode": "max", "out_h": 1, "out_w": 1}, {}, out
        if op == "ReduceMean":
            axes = a.get("axes")
            if axes is None and len(node.input) > 1 and node.input[1]:
                t = c(node.input[1])
                axes = None if t is None else t.tolist()
            if axes is None or len(ins) != 3 or sorted(v % 4 for v in axes) != [2, 3]:
                return None
            if a.get("keepdims", 1):
                return "global_avgpool", xin, {}, {}, out
            ch = ins[0]
            return [
                ("global_avgpool", xin, {}, (ch, 1, 1)),
                ("flatten", None, {"start": 0, "end": -1}, (ch,)),
            ]
        if op == "Flatten":
            if a.get("axis", 1) != 1:
                return None
            return "flatten", xin, {"start": 0, "end": -1}, {}, out
        if op in ("Reshape", "Squeeze", "Unsqueeze"):
            full = self.shapes[out]
            if full[0] != self.shapes[x][0]:
                return None
            return ("identity" if tuple(full[1:]) == ins else "reshape"), xin, {}, {}, out
        if op == "Transpose":
            perm = list(a.get("perm", range(len(ins), -1, -1)))
            if perm[0] != 0:
                return None
            return "permute", xin, {"perm": [d - 1 for d in perm[1:]]}, {}, out
        if op == "Gemm":
            w = c(node.input[1])
            b = c(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if (
                w is None
                or w.dim() != 2
                or a.get("transA", 0)
                or a.get("alpha", 1.0) != 1.0
                or (b is not None and (a.get("beta", 1.0) != 1.0 or b.dim() != 1))
            ):
                return None
            weight = w if a.get("transB", 0) else w.t()
            return "linear", xin, {}, {"weight": weight, "bias": b}, out
        if op == "MatMul":
            w = c(node.input[1])
            if w is None or w.dim() != 2 or node.input[0] != x:
                return None
            add = self.only_use(out)
            bias, end = None, out
            if add is not None and add.op_type == "Add":
                other = add.input[1] if add.input[0] == out else add.input[0]
                t = c(other)
                if t is not None and t.dim() == 1 and t.shape[0] == w.shape[1]:
                    bias, end = t, add.output[0]
                    self.skip.add(self.index[add.output[0]])
            return "linear", xin, {}, {"weight": w.t(), "bias": bias}, end
        if op == "LayerNormalization":
            if a.get("axis", -1) % (len(ins) + 1) != len(ins):
                return None
            w = c(node.input[1])
            b = c(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            return "layernorm", xin, {"eps": _f32(a.get("epsilon", 1e-5))}, {"weight": w, "bias": b}, out
        if op == "Dropout":
            ratio = a.get("ratio")
            if ratio is None and len(node.input) > 1 and node.input[1]:
                t = c(node.input[1])
                ratio = None if t is None else float(t)
            return "dropout", xin, {"p": 0.5 if ratio is None else float(ratio)}, {}, out
        if op == "Identity":
            return "identity", xin, {}, {}, out
        if op == "Slice":
            return self._slice(node, a, xin, ins, out)
        return None

    def _pads(self, a, ins, outs, kernel, strides, dil) -> int | None:
        """Symmetric equal padding of a conv/pool, resolving auto_pad; None when it is not."""
        mode = a.get("auto_pad", b"NOTSET")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode == "VALID":
            return 0
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for d in range(2):
                total = max((outs[1 + d] - 1) * strides[d] + dil[d] * (kernel[d] - 1) + 1 - ins[1 + d], 0)
                if total % 2:
                    return None
                pads.append(total // 2)
            return pads[0] if len(set(pads)) == 1 else None
        pads = list(a.get("pads", [0] * 4))
        return pads[0] if len(set(pads)) == 1 else None

    def _scale(self, w, xin, ins, out):
        if w is None or not w.is_floating_point():
            return None
        if w.dim() == 1 and w.shape[0] == ins[-1] and w.shape[0] > 1:
            return "scale", xin, {"channels_last": True}, {"weight": w}, out
        if len(ins) == 3 and tuple(w.shape) in ((ins[0], 1, 1), (1, ins[0], 1, 1)) and ins[0] > 1:
            return "scale", xin, {"channels_last": False}, {"weight": w}, out
        return None

    def _gelu(self, k, div, x):
        """Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5 (the erf GELU exporters write)."""
        if div.input[0] != x or not _near(self.values.get(div.input[1]), math.sqrt(2), 1e-3):
            return None
        erf = self.only_use(div.output[0])
        add = erf is not None and erf.op_type == "Erf" and self.only_use(erf.output[0])
        if not add or add.op_type != "Add":
            return None
        one = add.input[1] if add.input[0] == erf.output[0] else add.input[0]
        mul = self.only_use(add.output[0]) if _near(self.values.get(one), 1.0) else None
        if mul is None or mul.op_type != "Mul" or x not in mul.input:
            return None
        half = self.only_use(mul.output[0])
        if half is None or half.op_type != "Mul":
            return None
        h = half.input[1] if half.input[0] == mul.output[0] else half.input[0]
        if not _near(self.values.get(h), 0.5):
            return None
        self.skip |= {self.index[n.output[0]] for n in (erf, add, mul, half)}
        return "act", [self.act[x]], {"act": "gelu"}, {}, half.output[0]

    def _split(self, node, a, j, xin, ins):
        axis = a.get("axis", 0) % (len(ins) + 1)
        if axis == 0:
            return None
        sizes = a.get("split")
        if sizes is None and len(node.input) > 1 and node.input[1]:
            t = self.tensor(node.input[1])
            sizes = None if t is None else [int(v) for v in t.tolist()]
        if sizes is None:
            sizes = [self.shapes[o][axis] for o in node.output]
        start = sum(sizes[:j])
        attrs = {"dim": axis - 1, "start": start, "end": start + sizes[j], "step": 1}
        return "slice", xin, attrs, {}, node.output[j]

    def _slice(self, node, a, xin, ins, out):
        if len(node.input) > 1:
            vals = [self.tensor(i) if i else None for i in node.input[1:5]]
            starts, ends = vals[0], vals[1]
            axes = vals[2] if len(vals) > 2 else None
            steps = vals[3] if len(vals) > 3 else None
            if starts is None or ends is None:
                return None
            starts, ends = starts.tolist(), ends.tolist()
            axes = list(range(len(starts))) if axes is None else axes.tolist()
            steps = [1] * len(starts) if steps is None else steps.tolist()
        else:
            starts, ends, axes = a.get("starts"), a.get("ends"), a.get("axes")
            axes = list(range(len(starts))) if axes is None else list(axes)
            steps = [1] * len(starts)
        if len(axes) != 1 or steps[0] < 1:
            return None
        rank = len(ins) + 1
        axis = axes[0] % rank
        if axis == 0:
            return None
        size = ins[axis - 1]
        start = max(0, starts[0] + size if starts[0] < 0 else min(starts[0], size))
        end = max(0, ends[0] + size if ends[0] < 0 else min(ends[0], size))
        return "slice", xin, {"dim": axis - 1, "start": start, "end": end, "step": int(steps[0])}, {}, out
