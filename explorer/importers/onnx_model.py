"""ONNX files -> traced layers.

The graph is walked in its (topological) order. Initializers and Constant nodes are weights; a
node whose inputs are all weights or static shapes (the Shape -> Gather -> Div arithmetic that
exporters emit around a chunk) is a constant too, its value taken from one onnxruntime run of the
model in which every intermediate value is an output. Shapes come from onnx.shape_inference (the
same run fills any it leaves symbolic). Nodes then map onto canonical layers, with the patterns
exporters spell out recognised: MatMul + Add is a linear layer, Div/Erf/Add/Mul/Mul is GELU.
Anything else stays the ONNX node itself (an opaque node run through onnxruntime).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .base import Traced
from .onnx_walk import SHAPE_OPS, OnnxWalk, fail, first_line

DEFAULT_INPUT = (1, 3, 224, 224)


def _input_shape(path, value, requested) -> tuple[int, ...]:
    dims = value.type.tensor_type.shape.dim
    static = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    if len(static) != 4:
        fail(path, f"the model input must be an image batch NxCxHxW, got {len(static)} dimensions")
    if requested is not None:
        requested = tuple(requested)
        for s, r in zip(static, requested):
            if s is not None and s != r:
                known = "x".join(str(v) if v else "?" for v in static)
                fail(
                    path,
                    f"the model's input is {known}; input shape {'x'.join(map(str, requested))} does not fit",
                )
        return requested
    default = list(DEFAULT_INPUT)
    return tuple(s if s is not None else default[k] for k, s in enumerate(static))


def load_onnx(path, input_shape: tuple | None = None) -> Traced:
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        fail(path, "no such file")
    except OSError as e:
        fail(path, f"cannot read ({first_line(e)})")
    if not data:
        fail(path, "empty file")
    try:
        model = onnx.load_from_string(data)
    except Exception:
        fail(path, "not an ONNX model (the protobuf does not parse; truncated or another format)")
    if not model.graph.node:
        fail(path, "not an ONNX model (no graph nodes)")
    if any(i.data_location == onnx.TensorProto.EXTERNAL for i in model.graph.initializer):
        fail(path, "weights in external data files are not supported; save the model as one file")
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        fail(path, f"invalid ONNX model ({first_line(e)})")
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        fail(
            path,
            f"the model has {len(inputs)} inputs, {len(model.graph.output)} outputs (one each is supported)",
        )
    if inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        fail(path, "the model input must be float32")
    shape = _input_shape(path, inputs[0], input_shape)
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    dims = fixed.graph.input[
        [i.name for i in fixed.graph.input].index(inputs[0].name)
    ].type.tensor_type.shape.dim
    for d, v in zip(dims, shape):
        d.Clear()
        d.dim_value = v
    try:
        inferred = onnx.shape_inference.infer_shapes(fixed, data_prop=True)
    except Exception:
        inferred = fixed
    types, shapes = {}, {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        tt = vi.type.tensor_type
        types[vi.name] = tt.elem_type
        ds = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if tt.HasField("shape") and all(v is not None for v in ds):
            shapes[vi.name] = tuple(ds)

    probe = onnx.ModelProto()
    probe.CopyFrom(fixed)
    known = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for o in node.output:
            if o and o not in known and types.get(o):
                probe.graph.output.append(helper.make_tensor_value_info(o, types[o], None))
                known.add(o)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).numpy()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        values = dict(zip(names, sess.run(None, {inputs[0].name: x})))
    except Exception as e:
        fail(path, f"onnxruntime cannot run the model ({first_line(e)})")
    values.update({i.name: numpy_helper.to_array(i) for i in model.graph.initializer})
    for node in model.graph.node:  # Constant outputs shape inference left untyped
        if node.op_type == "Constant" and node.output[0] not in values:
            attr = next((a for a in node.attribute if a.name == "value"), None)
            if attr is not None:
                values[node.output[0]] = numpy_helper.to_array(attr.t)
    for name, v in values.items():
        if name not in shapes and hasattr(v, "shape"):
            shapes[name] = tuple(v.shape)
    shapes[inputs[0].name] = tuple(shape)

    from_init = set(inits)
    for node in model.graph.node:  # constants computed from initializers are weights too
        if (
            node.input
            and all((not i) or i in from_init for i in node.input)
            and node.op_type not in SHAPE_OPS
        ):
            from_init.update(node.output)

    walk = OnnxWalk(model, values, shapes, from_init)
    walk.run(inputs[0].name)

    in_name, out_name = inputs[0].name, model.graph.output[0].name

    def reference(t: torch.Tensor) -> torch.Tensor:
        """The original model in onnxruntime (the probe session: no graph optimisations)."""
        return torch.from_numpy(sess.run([out_name], {in_name: t.detach().numpy()})[0])

    return Traced(
        source="onnx",
        name=path.stem,
        input_id=inputs[0].name,
        input_shape=tuple(shape),
        nodes=walk.nodes,
        output=walk.output,
        reference=reference,
    )
