"""The opaque op: a layer of an imported model that no registered op describes.

It keeps the original call so the graph still builds and runs: for a torch.export program the ATen
operator with its non-tensor arguments, for an ONNX file the node with its attributes (run through
onnxruntime, and written back as the same node when the graph is exported to ONNX). Its weights
are its own parameters (loaded from the importer's state_dict), its output shape is the traced
one, and its MACs are what the importer measured. Everything lives in JSON strings so the graph
file stays self-contained and editable.

Only functional ATen operators are allowed (no in-place or out= variants, nothing that touches
files), because a graph file is user input.
"""

from __future__ import annotations

import json
import math
import re

import torch
from torch import nn

from ...errors import ExplorerError
from ..registry import Cost, OpSpec, Param, ShapeError, register_op, shape_str
from .layout import parse_ints

SOURCES = ("aten", "onnx")
_ATEN = re.compile(r"^aten\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)$")
_ONNX = re.compile(r"^(?:([A-Za-z0-9_.]+)::)?([A-Za-z][A-Za-z0-9_]*)$")
_DENIED = {"from_file", "save", "load", "_assert_async", "_print"}  # I/O or side effects
DTYPES = {
    name: getattr(torch, name)
    for name in (
        "float32",
        "float64",
        "float16",
        "bfloat16",
        "int64",
        "int32",
        "int16",
        "int8",
        "uint8",
        "bool",
    )
}
_ENUMS = {  # non-tensor argument kinds an ATen call may carry, by JSON key
    "dtype": DTYPES,
    "memory_format": {
        "contiguous_format": torch.contiguous_format,
        "channels_last": torch.channels_last,
        "preserve_format": torch.preserve_format,
    },
    "layout": {"strided": torch.strided},
    "device": {"cpu": torch.device("cpu")},
}


class OpaqueError(ValueError):
    pass


class OpaqueGradientError(ExplorerError):
    """Backward through an ONNX node kept opaque (onnxruntime computes no gradients)."""


def aten_op(target: str):
    """The ATen operator `target` names, refused when it is not a plain functional operator."""
    m = _ATEN.match(target)
    if not m:
        raise OpaqueError(f"target {target!r} is not an ATen operator name (aten.<name>.<overload>)")
    name, overload = m.groups()
    if name in _DENIED or name.endswith("_") and not name.startswith("_"):
        raise OpaqueError(f"ATen operator {name!r} is not allowed in a graph (in-place or side effects)")
    try:
        op = getattr(getattr(torch.ops.aten, name), overload)
    except (AttributeError, RuntimeError):
        raise OpaqueError(f"unknown ATen operator {target!r} in this torch") from None
    schema = op._schema
    if any(a.alias_info is not None and a.alias_info.is_write for a in schema.arguments):
        raise OpaqueError(f"ATen operator {target!r} writes to its arguments")
    if not schema.returns or not all("Tensor" in str(r.type) for r in schema.returns):
        raise OpaqueError(f"ATen operator {target!r} does not return tensors")
    return op


def _json(text: str, what: str):
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise OpaqueError(f"{what} is not valid JSON ({e})") from None


def weight_specs(p: dict) -> dict:
    specs = _json(p["weights"], "weights")
    if not isinstance(specs, dict):
        raise OpaqueError("weights must be a JSON object {name: {shape, dtype, param}}")
    for name, w in specs.items():
        if not re.match(r"^w\d{1,4}$", name):
            raise OpaqueError(f"weight name {name!r} must be w<number>")
        if not isinstance(w, dict) or w.get("dtype") not in DTYPES:
            raise OpaqueError(f"weight {name} needs a dtype among {', '.join(DTYPES)}")
        shape = w.get("shape")
        if not isinstance(shape, list) or not all(isinstance(v, int) and v >= 0 for v in shape):
            raise OpaqueError(f"weight {name} needs a shape (a list of sizes)")
        if math.prod(shape) > 1 << 30:
            raise OpaqueError(f"weight {name} is too large")
    return specs


def _check(p: dict) -> list[str]:
    try:
        if p["source"] == "aten":
            aten_op(p["target"])
        elif not _ONNX.match(p["target"]):
            raise OpaqueError(f"target {p['target']!r} is not an ONNX op type ([domain::]OpType)")
        call = _json(p["call"], "call")
        if not isinstance(call, dict):
            raise OpaqueError("call must be a JSON object")
        weight_specs(p)
        if p["out_shape"] and not re.match(r"^\d+(,\d+)*$", p["out_shape"]):
            raise OpaqueError(f"out_shape must be comma-separated sizes, got {p['out_shape']!r}")
    except OpaqueError as e:
        return [str(e)]
    return []


def _shape(p, i):
    if not p["out_shape"]:
        return i[0]
    out = parse_ints(p["out_shape"])
    if any(v < 1 for v in out):
        raise ShapeError(f"out_shape {p['out_shape']} has an empty dimension")
    return out


def _cost(p, i, o):
    specs = weight_specs(p)
    return Cost(params=sum(math.prod(w["shape"]) for w in specs.values() if w.get("param")), macs=p["macs"])


class _Weights(nn.Module):
    def __init__(self, specs: dict):
        super().__init__()
        for name, w in specs.items():
            t = torch.zeros(w["shape"], dtype=DTYPES[w["dtype"]])
            if w.get("param") and t.is_floating_point():
                self.register_parameter(name, nn.Parameter(t))
            else:
                self.register_buffer(name, t)

    def tensor(self, name: str) -> torch.Tensor:
        try:
            return getattr(self, name)
        except AttributeError:
            raise OpaqueError(f"call names weight {name!r}, which is not declared") from None


def _decode(v, xs, mod: _Weights):
    if isinstance(v, list):
        return [_decode(a, xs, mod) for a in v]
    if isinstance(v, dict):
        if len(v) != 1:
            raise OpaqueError(f"cannot decode argument {v!r}")
        ((key, val),) = v.items()
        if key == "in":
            return xs[val]
        if key == "w":
            return mod.tensor(val)
        if key in _ENUMS and val in _ENUMS[key]:
            return _ENUMS[key][val]
        raise OpaqueError(f"cannot decode argument {v!r}")
    return v


class OpaqueAten(_Weights):
    """Calls one ATen operator with the traced arguments (inputs and own weights filled in)."""

    def __init__(self, target: str, call: dict, specs: dict):
        super().__init__(specs)
        self.target = target
        self._op = aten_op(target)
        self.call = call

    def forward(self, *xs):
        args = _decode(self.call.get("args", [{"in": 0}]), xs, self)
        kwargs = {k: _decode(v, xs, self) for k, v in self.call.get("kwargs", {}).items()}
        out = self._op(*args, **kwargs)
        if isinstance(out, (tuple, list)):
            out = out[self.call.get("output", 0)]
        return out

    def extra_repr(self) -> str:
        return self.target


def _onnx_attr_kwargs(attrs: dict) -> dict:
    """Attributes in torch's `g.op` spelling (name_i, name_f, name_s, name_t)."""
    out = {}
    for name, a in attrs.items():
        kind, value = a["type"], a["value"]
        if kind in ("INT", "INTS"):
            out[f"{name}_i"] = value
        elif kind in ("FLOAT", "FLOATS"):
            out[f"{name}_f"] = value
        elif kind in ("STRING", "STRINGS"):
            out[f"{name}_s"] = value
        elif kind == "TENSOR":
            out[f"{name}_t"] = torch.tensor(value["data"], dtype=DTYPES[value["dtype"]]).reshape(
                value["dims"]
            )
        else:
            raise OpaqueError(f"ONNX attribute {name} of type {kind} is not supported")
    return out


class _OrtCall(torch.autograd.Function):
    """Runs the node in onnxruntime; exported to ONNX as the node itself."""

    @staticmethod
    def forward(ctx, mod, *tensors):
        ctx.target = mod.target
        return mod.run_ort(tensors)

    @staticmethod
    def backward(ctx, *grads):
        raise OpaqueGradientError(
            f"the opaque ONNX node {ctx.target} runs in onnxruntime and has no gradient "
            "(import the model as a .pt2 program or a Python factory for gradient-based scores)"
        )

    @staticmethod
    def symbolic(g, mod, *values):
        domain, op_type = mod.domain_op
        name = f"{domain}::{op_type}" if domain else op_type
        ins = [v for v in values if v is not None]
        n_out = mod.call.get("n_outputs", 1)
        out = g.op(name, *ins, outputs=n_out, **_onnx_attr_kwargs(mod.call.get("attrs", {})))
        return out[mod.call.get("output", 0)] if n_out > 1 else out


def _elem(dtype: str) -> int:
    """ONNX element type of a dtype name ('float32', 'int64', ...)."""
    import numpy as np
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype("bool" if dtype == "bool" else dtype))


class OpaqueOnnx(_Weights):
    """One ONNX node (with its attributes and initializers) run through onnxruntime."""

    def __init__(self, target: str, call: dict, specs: dict):
        super().__init__(specs)
        m = _ONNX.match(target)
        self.domain_op = (m.group(1) or "", m.group(2))
        self.target = target
        self.call = call
        self._session = None

    def _model_bytes(self, tensors) -> bytes:
        from onnx import helper

        names, inputs = [], []
        for k, t in enumerate(tensors):
            if t is None:
                names.append("")
                continue
            names.append(f"i{k}")
            elem = _elem(str(t.dtype).removeprefix("torch."))
            dims = [int(d) for d in t.shape]
            if self._is_activation(k):
                dims[0] = "N"
            inputs.append(helper.make_tensor_value_info(f"i{k}", elem, dims))
        n_out = self.call.get("n_outputs", 1)
        outs = [f"o{j}" for j in range(n_out)]
        attrs = {}
        for name, a in self.call.get("attrs", {}).items():
            value = a["value"]
            if a["type"] == "TENSOR":
                value = helper.make_tensor(name, _elem(value["dtype"]), value["dims"], value["data"])
            attrs[name] = value
        node = helper.make_node(self.domain_op[1], names, outs, domain=self.domain_op[0] or None, **attrs)
        out_elem = _elem(self.call.get("out_dtype", "float32"))
        graph = helper.make_graph(
            [node],
            "opaque",
            inputs,
            [helper.make_tensor_value_info(outs[self.call.get("output", 0)], out_elem, None)],
        )
        opsets = [helper.make_opsetid(d, v) for d, v in self.call.get("opset", {"": 17}).items()]
        model = helper.make_model(graph, opset_imports=opsets, ir_version=self.call.get("ir_version", 8))
        return model.SerializeToString()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_session"] = None  # an onnxruntime session does not copy or pickle; rebuilt on use
        return state

    def _is_activation(self, k: int) -> bool:
        spec = self.call.get("inputs", [])
        return k < len(spec) and isinstance(spec[k], dict) and "in" in spec[k]

    def _tensors(self, xs):
        spec = self.call.get("inputs", [{"in": 0}])
        return [None if s is None else _decode(s, xs, self) for s in spec]

    def run_ort(self, tensors):
        import onnxruntime as ort

        if self._session is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(
                self._model_bytes(tensors), opts, providers=["CPUExecutionProvider"]
            )
        feeds = {f"i{k}": t.detach().contiguous().numpy() for k, t in enumerate(tensors) if t is not None}
        out = self._session.run(None, feeds)[0]
        return torch.from_numpy(out.copy())

    def forward(self, *xs):
        return _OrtCall.apply(self, *self._tensors(xs))

    def extra_repr(self) -> str:
        return self.target


def _build(p, i, o):
    call = _json(p["call"], "call")
    specs = weight_specs(p)
    if p["source"] == "aten":
        return OpaqueAten(p["target"], call, specs)
    return OpaqueOnnx(p["target"], call, specs)


register_op(
    OpSpec(
        name="opaque",
        category="imported",
        doc="A layer of an imported model no other op describes; it runs the original operator.",
        params=(
            Param("source", str, "aten", choices=SOURCES, help="aten: a torch operator; onnx: an ONNX node"),
            Param(
                "target", str, "aten.relu.default", help="operator (aten.<name>.<overload>) or ONNX op type"
            ),
            Param(
                "call",
                str,
                '{"args": [{"in": 0}]}',
                help="JSON: the call's arguments / the node's attributes",
            ),
            Param("weights", str, "{}", help="JSON: the op's own tensors {w0: {shape, dtype, param}}"),
            Param("out_shape", str, "", help="traced output shape without the batch (empty: as the input)"),
            Param("macs", int, 0, min=0, max=1 << 50, help="multiply-accumulates, measured at import"),
            Param("origin", str, "", help="where it came from (layer name in the source model)"),
        ),
        shape=_shape,
        check=_check,
        build=_build,
        cost=_cost,
        lut_key=lambda p, i, o: (
            f"Opaque-{p['target']}-"
            + "-".join(f"input:{shape_str(s)}" for s in i)
            + f"-output:{shape_str(o)}"
        ),
        max_inputs=None,
    )
)
