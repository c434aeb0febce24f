"""Importing ONNX files, torch.export programs and Python factories into the architecture IR:
exact params, MACs as FlopCounterMode counts them, builder and ONNX-export parity, opaque nodes
for what no op describes, and one-line errors for files that are not models."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from explorer.arch import count_complexity, from_json, load_arch, to_json, validate
from explorer.cli import main
from explorer.errors import FormatError
from explorer.export import _onnx_bytes, load_weights, model_with_weights, onnx_parity
from explorer.importers import import_model, parse_input_shape
from tests import zoo

SHAPE = (1, 3, 64, 64)
TOL = 1e-4
# what each family must come back as: recognised blocks, and ops that prove its layers mapped
EXPECTED = {
    "resnet": ({"res": 4}, {"conv", "maxpool", "add", "global_avgpool", "flatten", "linear"}),
    "mobilenetv3": ({"mbconv": 4}, {"dwconv", "mul", "activation", "linear"}),
    "convnext": ({"res": 3}, {"dwconv", "permute", "layernorm", "linear", "scale", "add"}),
    "densenet": ({"cat": 3}, {"batchnorm", "activation", "concat", "avgpool"}),
    "shufflenet": ({"cat": 2}, {"slice", "concat", "channel_shuffle", "dwconv"}),
    "vgg": ({}, {"conv", "maxpool", "linear", "activation"}),
}


def export_file(model: torch.nn.Module, fmt: str, path, fold_bn: bool = False, **onnx_kwargs):
    x = torch.randn(SHAPE)
    if fmt == "pt2":
        torch.export.save(torch.export.export(model, (x,)), path)
        return path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            path,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            # PRESERVE keeps BatchNormalization nodes (EVAL folds them into the convs)
            training=torch.onnx.TrainingMode.EVAL if fold_bn else torch.onnx.TrainingMode.PRESERVE,
            **onnx_kwargs,
        )
    return path


def flops_macs(model, x) -> float:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return counter.get_total_flops() / 2


def max_diff(a, b) -> float:
    return float((a - b).abs().max())


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_zoo_model_imports_with_exact_counts_and_parity(name, fmt, tmp_path):
    model = zoo.make(name)
    path = export_file(model, fmt, tmp_path / f"{name}.{fmt}")
    result = import_model(path)
    graph = result.graph

    assert validate(graph).ok
    assert graph.meta["source"] == fmt and "space" not in graph.meta
    assert result.opaque == []
    c = count_complexity(graph)
    assert c.params == sum(p.numel() for p in model.parameters())
    ref_macs = flops_macs(model, torch.randn(SHAPE))
    assert abs(c.macs - ref_macs) <= 0.01 * ref_macs

    groups, ops = EXPECTED[name]
    kinds = Counter()
    for g in {d["group"] for _, d in graph.g.nodes(data=True) if d.get("group")}:
        kinds[g.rstrip("0123456789")] += 1
    assert dict(kinds) == groups
    assert ops <= {graph.op(n) for n in graph.nodes}
    if fmt == "pt2" and name in ("mobilenetv3", "vgg"):  # ONNX drops dropout, writes AveragePool
        assert graph.nodes_of("dropout") and (name != "vgg" or graph.nodes_of("adaptive_pool"))
    assert all("pos" in d for _, d in graph.g.nodes(data=True))

    built = result.model()
    x = torch.randn(2, *SHAPE[1:])
    with torch.no_grad():
        assert max_diff(built(x), model(x)) <= TOL
    assert onnx_parity(_onnx_bytes(built, x[:1]), built, x) <= TOL

    back = from_json(to_json(graph))
    assert back == graph
    rebuilt = model_with_weights(back, result.state_dict)
    with torch.no_grad():
        assert max_diff(rebuilt(x), model(x)) <= TOL


def test_convnext_maps_its_channels_last_layers(tmp_path):
    result = import_model(export_file(zoo.make("convnext"), "pt2", tmp_path / "c.pt2"))
    g = result.graph
    mlp = [n for n in g.nodes_of("linear") if not g.params(n)["flatten"]]
    assert len(mlp) == 6  # two per block, on (H,W,C)
    assert all(g.params(n)["channels_last"] for n in g.nodes_of("scale"))
    assert {g.params(n)["eps"] for n in g.nodes_of("layernorm")} == {1e-6}
    stem = g.params("stem_0")
    assert (stem["kernel"], stem["stride"], stem["padding"]) == (4, 4, 0)


def test_folded_batchnorm_onnx_imports_as_biased_convs(tmp_path):
    model = zoo.make("mobilenetv3")
    path = export_file(model, "onnx", tmp_path / "folded.onnx", fold_bn=True)
    result = import_model(path)
    g = result.graph
    convs = g.nodes_of("conv") + g.nodes_of("dwconv")
    assert convs and all(g.params(n)["bias"] and not g.params(n)["bn"] for n in convs)
    import onnx

    stored = sum(int(np.prod(i.dims)) for i in onnx.load(str(path)).graph.initializer)
    assert count_complexity(g).params == stored  # the file's own weights: BN is gone
    assert result.parity() <= TOL


def test_python_factory_is_traced_at_the_input_shape():
    result = import_model("tests.zoo:tiny_resnet", (1, 3, 32, 32))
    model = zoo.tiny_resnet()
    assert result.source == "python" and result.graph.resolution == 32
    assert count_complexity(result.graph).params == sum(p.numel() for p in model.parameters())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert max_diff(result.model()(x), model(x)) <= TOL


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_unmapped_ops_become_opaque_nodes_that_still_build(fmt, tmp_path, capsys):
    model = zoo.make("unmapped")
    path = export_file(model, fmt, tmp_path / f"m.{fmt}")
    result = import_model(path)
    targets = {o["target"] for o in result.opaque}
    if fmt == "pt2":
        assert targets == {"aten.prelu.default", "aten.pixel_shuffle.default"}
    else:
        assert targets == {"PRelu", "DepthToSpace"}
    c = count_complexity(result.graph)
    assert c.params == sum(p.numel() for p in model.parameters())  # PReLU slopes counted
    assert abs(c.macs - flops_macs(model, torch.randn(SHAPE))) <= 0.01 * c.macs
    prelu = next(o["node"] for o in result.opaque if "rel" in o["target"].lower())
    assert count_complexity(result.graph).layers[[lc.node for lc in c.layers].index(prelu)].params == 16

    built = result.model()
    x = torch.randn(2, *SHAPE[1:])
    with torch.no_grad():
        assert max_diff(built(x), model(x)) <= TOL
    assert onnx_parity(_onnx_bytes(built, x[:1]), built, x) <= TOL

    out = tmp_path / "m.json"
    assert main(["arch", "import", str(path), "-o", str(out)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("opaque:")]
    assert len(lines) == 2 and any("pixel_shuffle" in ln or "DepthToSpace" in ln for ln in lines)


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_layers_the_ir_cannot_draw_stay_opaque_and_exact(fmt, tmp_path):
    model = zoo.make("edge")
    result = import_model(export_file(model, fmt, tmp_path / f"e.{fmt}"))
    assert len(result.opaque) >= 5  # sub, 1x3 conv, x + x, cat([y, y]), leaky relu, * 2.0
    c = count_complexity(result.graph)
    ref = flops_macs(model, torch.randn(SHAPE))
    assert abs(c.macs - ref) <= 0.01 * ref  # the 1x3 conv's MACs were measured at import
    assert result.parity() <= TOL
    if fmt == "pt2":  # the signature tells parameters from buffers; the aux head is unused
        assert result.unused_params == sum(p.numel() for p in model.aux.parameters())
        assert c.params + result.unused_params == sum(p.numel() for p in model.parameters())


def test_opaque_onnx_nodes_say_they_have_no_gradient(tmp_path):
    from explorer.arch.ops.opaque import OpaqueGradientError

    result = import_model(export_file(zoo.make("unmapped"), "onnx", tmp_path / "u.onnx"))
    model = result.model()
    x = torch.randn(SHAPE, requires_grad=True)
    with pytest.raises(OpaqueGradientError) as e:
        model(x).sum().backward()
    assert "no gradient" in str(e.value) and "\n" not in str(e.value)


def test_cli_writes_graph_and_weights_that_export_back(tmp_path, capsys):
    model = zoo.make("shufflenet")
    src = export_file(model, "onnx", tmp_path / "s.onnx")
    out, weights = tmp_path / "s.json", tmp_path / "s.pt"
    assert main(["arch", "import", str(src), "-o", str(out), "--weights", str(weights), "--json"]) == 0
    import json

    summary = json.loads(capsys.readouterr().out)
    assert summary["params"] == sum(p.numel() for p in model.parameters())
    assert summary["opaque"] == [] and summary["max_abs_diff"] <= TOL
    graph = load_arch(out)
    state = load_weights(graph, weights)  # torch.load(weights_only=True) under the hood
    built = model_with_weights(graph, state)
    x = torch.randn(2, *SHAPE[1:])
    with torch.no_grad():
        assert max_diff(built(x), model(x)) <= TOL
    assert main(["arch", "validate", str(out)]) == 0
    onnx_out = tmp_path / "s_back.onnx"
    assert main(["export", str(out), "--format", "onnx", "--weights", str(weights), "-o", str(onnx_out)]) == 0


def test_dynamic_onnx_input_takes_the_requested_shape(tmp_path):
    model = zoo.make("resnet")
    axes = {"input": {0: "n", 2: "h", 3: "w"}}
    path = export_file(model, "onnx", tmp_path / "dyn.onnx", dynamic_axes=axes)
    result = import_model(path, (1, 3, 96, 96))
    assert result.graph.resolution == 96 and result.parity() <= TOL
    with pytest.raises(FormatError, match="does not fit"):
        import_model(path, (1, 4, 96, 96))


def test_dynamic_program_is_specialised_to_the_requested_shape(tmp_path):
    from torch.export import Dim

    model = zoo.make("shufflenet")
    dims = {"x": {0: Dim("n", min=1, max=8), 2: Dim("h", min=32, max=128), 3: Dim("w", min=32, max=128)}}
    ep = torch.export.export(model, (torch.randn(2, 3, 64, 64),), dynamic_shapes=dims)
    torch.export.save(ep, tmp_path / "dyn.pt2")
    result = import_model(tmp_path / "dyn.pt2", (1, 3, 96, 96))
    assert result.graph.resolution == 96 and result.opaque == [] and result.parity() <= TOL
    static = export_file(model, "pt2", tmp_path / "static.pt2")
    with pytest.raises(FormatError, match="exported for input 1x3x64x64"):
        import_model(static, (1, 3, 96, 96))


def test_input_shape_parsing_and_static_programs():
    assert parse_input_shape("1x3x224x224") == (1, 3, 224, 224)
    for bad in ("3x224x224", "1x3xAx2", "0x3x8x8"):
        with pytest.raises(FormatError):
            parse_input_shape(bad)


def _zip_bytes(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _pickled_config(members: dict) -> dict:
    """The weights config of an archive with one weight marked as a pickle payload."""
    import json

    name = next(n for n in members if n.endswith("_weights_config.json"))
    config = json.loads(members[name])
    first = next(iter(config["config"]))
    config["config"][first]["use_pickle"] = True
    return {name: json.dumps(config)}


def test_bad_files_give_one_line_errors(tmp_path, capsys):
    good_onnx = export_file(zoo.make("vgg"), "onnx", tmp_path / "good.onnx").read_bytes()
    good_pt2_path = export_file(zoo.make("vgg"), "pt2", tmp_path / "good.pt2")
    good_pt2 = good_pt2_path.read_bytes()
    with zipfile.ZipFile(good_pt2_path) as z:
        root = z.namelist()[0].split("/")[0]
        members = {n: z.read(n) for n in z.namelist()}
    cases = {
        "garbage.onnx": (b"\x00\x01not a model at all" * 50, "not an ONNX model"),
        "truncated.onnx": (good_onnx[: len(good_onnx) // 2], "ONNX"),
        "empty.onnx": (b"", "empty file"),
        "garbage.pt2": (b"PK\x03\x04 nonsense", "not a .pt2 archive"),
        "truncated.pt2": (good_pt2[: len(good_pt2) // 2], "pt2"),
        "empty.pt2": (b"", "not a .pt2 archive"),
        "code.pt2": (
            _zip_bytes({**members, f"{root}/data/aotinductor/model/m.so": b"\x7fELF"}),
            "not loaded",
        ),
        "notzip.pt2": (_zip_bytes({"a/b.txt": b"x"}), "not loaded"),
        "pickled.pt2": (_zip_bytes({**members, **_pickled_config(members)}), "stored as a pickle"),
        "model.h5": (good_onnx, "cannot import this kind of file"),
    }
    for fname, (data, needle) in cases.items():
        p = tmp_path / fname
        p.write_bytes(data)
        with pytest.raises(FormatError) as e:
            import_model(p)
        assert needle in str(e.value) and "\n" not in str(e.value), (fname, str(e.value))
    with pytest.raises(FormatError, match="no such file"):
        import_model(tmp_path / "missing.onnx")
    with pytest.raises(FormatError, match="cannot import"):
        import_model("no_such_package_xyz.mod:factory")
    with pytest.raises(FormatError, match="no callable"):
        import_model("tests.zoo:ZOO")
    with pytest.raises(FormatError, match="square"):
        import_model("tests.zoo:tiny_resnet", (1, 3, 32, 48))
    assert main(["arch", "import", str(tmp_path / "garbage.onnx"), "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an ONNX model" in err


def test_opaque_op_refuses_unsafe_or_unknown_operators():
    from explorer.arch import ArchGraph

    for target, needle in [
        ("aten.from_file.default", "not allowed"),
        ("aten.relu_.default", "not allowed"),
        ("aten.add.out", "writes to its arguments"),
        ("aten.no_such_op.default", "unknown ATen operator"),
        ("os.system", "not an ATen operator"),
    ]:
        g = ArchGraph()
        g.add_node("input", {"channels": 3, "resolution": 8}, id="input")
        g.add_node("opaque", {"target": target}, id="op")
        g.add_node("output", id="output")
        g.chain("input", "op", "output")
        msgs = [str(i) for i in validate(g).issues]
        assert any(needle in m for m in msgs), (target, msgs)


@pytest.mark.parametrize(
    "kind,kw",
    [
        ("conv", dict(kernel=4, stride=4, padding=0)),
        ("conv", dict(kernel=3, stride=2, padding=2, dilation=2)),
        ("conv", dict(kernel=2, stride=1, padding=1)),
        ("maxpool", dict(kernel=3, stride=2, padding=0, ceil_mode=True)),
        ("maxpool", dict(kernel=2, stride=2, padding=1, ceil_mode=True)),
        ("avgpool", dict(kernel=3, stride=2, padding=1, count_include_pad=True, ceil_mode=True)),
        ("avgpool", dict(kernel=2, stride=2, padding=0)),
    ],
)
def test_window_parameters_match_torch(kind, kw):
    """Padding, dilation and ceil mode give torch's output sizes and values."""
    from explorer.arch import build_model
    from tests.arch_helpers import op_graph

    params = dict(kw)
    if kind == "conv":
        params.update(out_channels=4, bn=False, act="none")
    g = op_graph(kind, channels=4, resolution=15)
    g.set_params("node", **params)
    assert validate(g).ok, [str(i) for i in validate(g).issues]
    model = build_model(g, seed=0).eval()
    x = torch.randn(1, 4, 15, 15)
    if kind == "conv":
        conv = model.layers["node"].conv
        ref = torch.nn.functional.conv2d(
            x, conv.weight, None, kw["stride"], kw["padding"], kw.get("dilation", 1)
        )
    elif kind == "maxpool":
        ref = torch.nn.functional.max_pool2d(
            x, kw["kernel"], kw["stride"], kw["padding"], ceil_mode=kw["ceil_mode"]
        )
    else:
        ref = torch.nn.functional.avg_pool2d(
            x,
            kw["kernel"],
            kw["stride"],
            kw["padding"],
            kw.get("ceil_mode", False),
            kw.get("count_include_pad", False),
        )
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape[1:]) == count_complexity(g).output_shape == tuple(ref.shape[1:])
    assert torch.allclose(y, ref, atol=1e-6)
