"""Export: state-dict round trip, TorchScript and ONNX parity on real images, bad weights."""

from __future__ import annotations

import json

import onnxruntime as ort
import pytest
import torch

from explorer.arch import build_model, load_arch, save_arch
from explorer.cli import main
from explorer.errors import FormatError
from explorer.export import ExportError, export, real_images
from explorer.spaces import get_space


@pytest.fixture
def ofa_small(tmp_path):
    sp = get_space("ofa-mbv3-w1.0")
    g = sp.encode(dict(sp.sample(2), r=128))
    g.set_params("input", resolution=64)  # keep the test small
    return g


def test_onnx_export_matches_torch_in_onnxruntime(tmp_path, ofa_small):
    model = build_model(ofa_small, seed=3).eval()
    wpath = tmp_path / "w.pt"
    torch.save(model.state_dict(), wpath)
    res = export(ofa_small, "onnx", tmp_path / "m.onnx", weights=wpath)
    assert not res.freshly_initialised
    assert res.max_abs_diff is not None and res.max_abs_diff < 1e-4
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = real_images(ofa_small, 4)
    with torch.inference_mode():
        ref = model(x).numpy()
    got = sess.run(None, {"input": x.numpy()})[0]
    assert abs(got - ref).max() < 1e-4
    card = res.card.read_text()
    assert "max abs diff" in card and "Params" in card


def test_state_dict_and_torchscript(tmp_path):
    sp = get_space("nb201")
    g = sp.encode(sp.sample(4))
    res = export(g, "state-dict", tmp_path / "sd")
    assert res.freshly_initialised and "freshly initialised" in res.card.read_text()
    assert load_arch(tmp_path / "sd" / "arch.json") == g
    state = torch.load(tmp_path / "sd" / "weights.pt", weights_only=True)
    assert set(state) == set(build_model(g).state_dict())
    ts = export(g, "torchscript", tmp_path / "m.pt", weights=tmp_path / "sd" / "weights.pt")
    assert ts.max_abs_diff is not None and ts.max_abs_diff < 1e-5


def test_weights_that_do_not_fit_are_refused(tmp_path):
    sp = get_space("nb201")
    a, b = sp.encode(sp.sample(1)), sp.encode({"arch_str": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"})
    wpath = tmp_path / "w.pt"
    torch.save(build_model(a).state_dict(), wpath)
    if a != b:
        with pytest.raises(ExportError, match="do not fit"):
            export(b, "onnx", tmp_path / "x.onnx", weights=wpath)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(FormatError, match="not a NAS Explorer weights file"):
        export(a, "onnx", tmp_path / "x.onnx", weights=bad)
    assert not (tmp_path / "x.onnx").exists()


def test_export_cli(tmp_path, capsys):
    sp = get_space("nb201")
    f = save_arch(sp.encode(sp.sample(7)), tmp_path / "a.json")
    assert main(["export", str(f), "--format", "onnx", "-o", str(tmp_path / "a.onnx"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["freshly_initialised"] and out["max_abs_diff"] < 1e-4
    assert (
        main(["export", str(f), "--format", "onnx", "--weights", str(tmp_path / "none.pt"), "-o", "x"]) == 2
    )
