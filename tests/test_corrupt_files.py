"""Every loader of checkpoints, weights, LUTs and device files, fed damaged files through the CLI
command users run: exit code 2, one line on stderr naming the file, no traceback, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from explorer.cli import main
from explorer.errors import FormatError
from explorer.supernet import checkpoint as ckpt
from explorer.tensorfile import load_tensors, save_tensors

from .corrupt_helpers import damage_tensor_bytes, garbage, random_bytes_in_the_middle, truncate

REPO = Path(__file__).resolve().parents[1]
NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
OFA_CONFIG = json.dumps({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 32})


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def fails_cleanly(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI; it must exit 2 with one `nas-explorer: error:` line that holds `needles`."""
    rc = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("nas-explorer: error: "), err
    assert "Traceback" not in err and "Weights only load failed" not in err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# -- supernet checkpoints ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def supernet_file(tmp_path_factory) -> Path:
    """A real (untrained) OFA-MBv3 w1.0 supernet checkpoint, as `supernet new` writes it."""
    p = tmp_path_factory.mktemp("supernet") / "sn.pt"
    argv = ["supernet", "new", "--space", "ofa-mbv3-w1.0", "--n-classes", "10", "--resolutions", "32"]
    assert main([*argv, "-o", str(p)]) == 0
    return p


def _without_n_classes(good: Path, p: Path) -> None:
    ck = torch.load(good, weights_only=True)
    del ck["spec"]["n_classes"]
    save_tensors(p, ck)  # a verified file can still have a wrong structure


CHECKPOINT_DAMAGE = {
    "random-4k-in-the-middle": (lambda good, p: random_bytes_in_the_middle(p), "SHA-256"),
    "truncated": (lambda good, p: truncate(p), "truncated"),
    "garbage": (lambda good, p: garbage(p), "not a NAS Explorer supernet checkpoint"),
    "foreign-torch-file": (
        lambda good, p: torch.save({"weights": torch.zeros(3)}, p),
        "not a NAS Explorer supernet checkpoint",
    ),
    "spec-a-string": (
        lambda good, p: torch.save({"format": ckpt.FORMAT, "spec": "ofa-mbv3-w1.0", "model": {}}, p),
        "'spec' is not a dictionary",
    ),
    "spec-without-n_classes": (_without_n_classes, "'n_classes'"),
    "model-not-a-dict": (
        lambda good, p: torch.save(
            {"format": ckpt.FORMAT, "spec": {"space": "ofa-mbv3-w1.0", "n_classes": 10}, "model": [1]}, p
        ),
        "no 'model' weights",
    ),
}


@pytest.fixture(params=sorted(CHECKPOINT_DAMAGE))
def damaged_supernet(request, supernet_file, tmp_path):
    make, needle = CHECKPOINT_DAMAGE[request.param]
    p = tmp_path / "damaged.pt"
    shutil.copy(supernet_file, p)
    make(supernet_file, p)
    return p, needle


def test_supernet_commands_refuse_damaged_checkpoints(damaged_supernet, tmp_path, capsys):
    p, needle = damaged_supernet
    before = p.read_bytes()
    out = tmp_path / "out"
    for argv in (
        ["supernet", "info", str(p)],
        ["supernet", "extract", str(p), "--config", OFA_CONFIG, "-o", str(out)],
        ["supernet", "train", "--resume", "-o", str(p), "--space", "ofa-mbv3-w1.0", "--quiet"],
        ["search", "evolution", "--space", "ofa-mbv3-w1.0", "--constraint", "100", "--latency", "macs"]
        + ["--accuracy", "supernet", "--supernet", str(p), "--population", "4", "--generations", "1"],
    ):
        fails_cleanly(capsys, argv, str(p), needle)
    assert not out.exists() and p.read_bytes() == before  # nothing written, the file left as it was


def test_random_bytes_in_a_checkpoint_used_to_load(supernet_file, tmp_path):
    """The reported case: torch alone loads it (a tensor of garbage); our loader does not."""
    p = tmp_path / "mid.pt"
    shutil.copy(supernet_file, p)
    random_bytes_in_the_middle(p)
    assert torch.load(p, weights_only=True)["format"] == ckpt.FORMAT
    with pytest.raises(ckpt.CheckpointError, match="SHA-256"):
        ckpt.load(p)


def test_a_good_checkpoint_still_works_and_extracts_verified_weights(supernet_file, tmp_path, capsys):
    assert main(["supernet", "info", str(supernet_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_classes"] == 10
    out = tmp_path / "sub"
    assert main(["supernet", "extract", str(supernet_file), "--config", OFA_CONFIG, "-o", str(out)]) == 0
    capsys.readouterr()
    assert load_tensors(out / "weights.pt", "weights file")  # digest recorded and checked
    damage_tensor_bytes(out / "weights.pt", finite=True)
    argv = ["export", str(out / "arch.json"), "--format", "onnx", "--weights", str(out / "weights.pt")]
    fails_cleanly(capsys, [*argv, "-o", str(tmp_path / "x.onnx")], "SHA-256")
    assert not (tmp_path / "x.onnx").exists()


# -- NB201 estimator checkpoints and weights files -------------------------------------------------
@pytest.fixture(scope="module")
def nb201_files(tmp_path_factory):
    from explorer.estimators.oneshot_nb201 import OneShotConfig, new_supernet, save_supernet
    from explorer.estimators.smash import SmashConfig, new_smash, save_smash

    d = tmp_path_factory.mktemp("nb201")
    oc, sc = OneShotConfig(C=4, N=1), SmashConfig(C=4, N=1, hidden=16)
    return {
        "oneshot": save_supernet(new_supernet(oc), oc, d / "oneshot.pt"),
        "smash": save_smash(new_smash(sc), sc, d / "smash.pt"),
    }


ESTIMATOR_DAMAGE = {
    "tensor-bytes": (lambda p: damage_tensor_bytes(p), "SHA-256"),
    "random-4k-in-the-middle": (lambda p: random_bytes_in_the_middle(p, 1024), "damaged"),
    "truncated": (truncate, "truncated"),
    "garbage": (garbage, "not a NAS Explorer"),
    "other-kind": (lambda p: save_tensors(p, {"kind": "something-else", "state_dict": {}}), "not a"),
    "config-a-string": (
        lambda p: save_tensors(p, {"kind": load_tensors(p)["kind"], "config": "C=4", "state_dict": {}}),
        "no 'config'",
    ),
}


@pytest.mark.parametrize("damage", sorted(ESTIMATOR_DAMAGE))
@pytest.mark.parametrize("kind", ["oneshot", "smash"])
def test_estimate_score_and_extract_refuse_damaged_checkpoints(nb201_files, tmp_path, capsys, kind, damage):
    make, needle = ESTIMATOR_DAMAGE[damage]
    p = tmp_path / f"{kind}.pt"
    shutil.copy(nb201_files[kind], p)
    make(p)
    fails_cleanly(
        capsys, ["estimate", kind, "score", str(p), "--arch", NB201_CELL, "--val", "8"], str(p), needle
    )
    if kind == "oneshot":
        out = tmp_path / "child"
        fails_cleanly(
            capsys, ["estimate", "oneshot", "extract", str(p), "--arch", NB201_CELL, "-o", str(out)], needle
        )
        assert not out.exists()


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    """An architecture with a good weights file (>8 KB of tensors) and damaged copies of it."""
    from explorer.arch import ArchGraph, build_model, save_arch
    from explorer.estimators._common import write_state

    d = tmp_path_factory.mktemp("weights")
    g = ArchGraph("small")
    g.add_node("input", {"channels": 3, "resolution": 16}, id="input")
    g.add_node("conv", {"out_channels": 32, "stride": 2}, id="c1")
    g.add_node("conv", {"out_channels": 32}, id="c2")
    g.add_node("global_avgpool", id="gap")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", "c1", "c2", "gap", "fc", "output")
    arch = save_arch(g, d / "small.json")
    good = d / "good.pt"
    write_state(build_model(g, seed=0).state_dict(), good)
    files = {"good": good}
    for name, make in {
        "tensor-bytes": damage_tensor_bytes,
        "truncated": truncate,
        "garbage": garbage,
        "nan": None,
        "not-a-state-dict": None,
    }.items():
        p = d / f"{name}.pt"
        shutil.copy(good, p)
        if make is not None:
            make(p)
        files[name] = p
    sd = dict(torch.load(good, weights_only=True))  # a plain dict: no digest, as foreign files
    sd[next(iter(sd))].view(-1)[0] = float("nan")
    torch.save(sd, files["nan"])
    torch.save({"format": "x", "weights": [1, 2]}, files["not-a-state-dict"])
    return arch, files


WEIGHTS_NEEDLE = {
    "tensor-bytes": "SHA-256",
    "truncated": "truncated",
    "garbage": "not a NAS Explorer weights file",
    "nan": "NaN or inf",
    "not-a-state-dict": "expected a state_dict",
}


@pytest.mark.parametrize("damage", sorted(WEIGHTS_NEEDLE))
def test_weights_consumers_refuse_damaged_weights(weights_files, tmp_path, capsys, damage):
    arch, files = weights_files
    w = str(files[damage])
    needle = WEIGHTS_NEEDLE[damage]
    out = tmp_path / "out"
    for argv in (
        ["export", str(arch), "--format", "state-dict", "--weights", w, "-o", str(out)],
        ["estimate", "net2net", "widen", str(arch), "--node", "c1", "--width", "40", "--weights", w]
        + ["-o", str(out)],
        ["estimate", "eas", str(arch), "--weights", w, "--parent-steps", "1", "--child-steps", "1"],
    ):
        fails_cleanly(capsys, argv, w, needle)
    assert not out.exists()


def test_good_weights_pass_and_an_exported_state_dict_loads_with_plain_torch(weights_files, tmp_path, capsys):
    from explorer.arch import build_model, load_arch

    arch, files = weights_files
    out = tmp_path / "sd"
    assert (
        main(["export", str(arch), "--format", "state-dict", "--weights", str(files["good"]), "-o", str(out)])
        == 0
    )
    model = build_model(load_arch(arch))
    model.load_state_dict(torch.load(out / "weights.pt", weights_only=True))  # what users do
    ref = torch.load(files["good"], weights_only=True)
    assert all(torch.equal(model.state_dict()[k], ref[k]) for k in ref)
    assert load_tensors(out / "weights.pt")  # and we verify it


# -- accuracy predictors -----------------------------------------------------------------------
def test_search_refuses_a_damaged_accuracy_predictor(tmp_path, capsys):
    from explorer.search.predictor import AccuracyPredictor, mlp

    p = AccuracyPredictor(mlp(64)).save(tmp_path / "pred.pt")
    assert AccuracyPredictor.load(p).r_step == 16
    damage_tensor_bytes(p)
    base = ["search", "evolution", "--constraint", "100", "--latency", "macs", "--population", "4"]
    base += ["--generations", "1", "--space", "ofa-mbv3-w1.0"]
    fails_cleanly(capsys, [*base, "--accuracy", str(p)], str(p), "SHA-256")
    torch.save({"state_dict": {"0.weight": torch.zeros(3)}, "meta": "{}"}, p)
    fails_cleanly(capsys, [*base, "--accuracy", str(p)], "not an OFA accuracy predictor")
    # the shipped official predictor predates digests: it loads, unverified
    assert AccuracyPredictor.official_w12().r_base == 112


# -- OFA YAML latency tables ----------------------------------------------------------------------
YAML_DAMAGE = {
    "a-list": ("- 1\n- 2\n", "it is a YAML list"),
    "a-string": ("just text\n", "it is a YAML str"),
    "empty": ("", "it is empty"),
    "truncated": ('"Conv-input:160x160x3-output:80x80x24":\n  count: 1\n  mean: [1.0, \n', "truncated"),
    "entry-a-list": ('"Conv-input:160x160x3-output:80x80x24": [1, 2]\n', "lacks 'mean'"),
    "mean-a-string": ('"Conv-input:160x160x3-output:80x80x24":\n  mean: fast\n', "invalid 'mean'"),
    "mean-negative": ('"Conv-input:160x160x3-output:80x80x24":\n  mean: -1.0\n', "invalid 'mean'"),
    "binary": ("\udcff\udcfe", "not UTF-8"),
}


@pytest.mark.parametrize("damage", sorted(YAML_DAMAGE))
def test_search_refuses_damaged_yaml_tables(tmp_path, capsys, damage):
    text, needle = YAML_DAMAGE[damage]
    d = tmp_path / "luts"
    d.mkdir()
    p = d / "160_lookup_table.yaml"
    p.write_bytes(text.encode("utf-8", "surrogateescape"))
    argv = ["search", "evolution", "--space", "ofa-mbv3-w1.2", "--constraint", "50", "--latency", str(d)]
    fails_cleanly(capsys, [*argv, "--population", "4", "--generations", "1", "--quiet"], str(p), needle)
    from explorer.latency.ofa_yaml import read_yaml_table

    with pytest.raises(FormatError, match=needle):
        read_yaml_table(p)


# -- latency device files -------------------------------------------------------------------------
def _network(d):
    return d["model"]["parts"]


DEVICE_DAMAGE = {
    "matrix-row-missing": (
        lambda d: _network(d)[1]["layers"][0]["W"].pop(),
        "model.parts[1].layers[0].W has shape (78, 64), expected (79, ...)",
    ),
    "bias-too-short": (
        lambda d: _network(d)[1]["layers"][1]["b"].pop(),
        "model.parts[1].layers[1].b has shape",
    ),
    "weights-too-short": (
        lambda d: _network(d)[0]["w"].pop(),
        "model.parts[0].w has shape (78,), expected (79,)",
    ),
    "number-a-string": (
        lambda d: _network(d)[0]["w"].__setitem__(3, "x"),
        "model.parts[0].w is not an array",
    ),
    "nan": (lambda d: _network(d)[0]["w"].__setitem__(3, float("nan")), "model.parts[0].w holds non-finite"),
    "model-a-list": (lambda d: d.__setitem__("model", [1, 2]), "'model' must be an object"),
    "name-an-object": (lambda d: d.__setitem__("name", {"a": 1}), "field 'name' must be a string"),
    "n_features-a-string": (lambda d: d["model"].__setitem__("n_features", "79"), "n_features"),
}


@pytest.mark.parametrize("damage", sorted(DEVICE_DAMAGE) + ["truncated", "not-utf8"])
def test_latency_predict_refuses_damaged_device_files(tmp_path, capsys, damage):
    shipped = REPO / "luts" / "help-nb201-pixel3.json"
    p = tmp_path / "pixel3.json"
    if damage == "truncated":
        text = shipped.read_text()
        p.write_text(text[: len(text) // 2])
        needle = "corrupt or truncated JSON"
    elif damage == "not-utf8":
        p.write_bytes(b"\xff\xfe" + shipped.read_bytes()[:100])
        needle = "not UTF-8"
    else:
        mutate, needle = DEVICE_DAMAGE[damage]
        d = json.loads(shipped.read_text())
        assert d["model"]["n_features"] == 79  # the shapes the messages name
        mutate(d)
        p.write_text(json.dumps(d))
    arch = REPO / "resources" / "examples" / "nb201_resnet_like.json"
    fails_cleanly(capsys, ["latency", "predict", str(arch), "--device", str(p)], str(p), needle)


def test_latency_predict_refuses_damaged_lut_device_files(tmp_path, capsys):
    shipped = json.loads((REPO / "luts" / "note10-ofa-w12.json").read_text())
    arch = tmp_path / "a.json"
    cfg = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": 224}
    arch.write_text(
        json.dumps({"format": "nas-explorer/arch", "meta": {"space": "ofa-mbv3-w1.2", "config": cfg}})
    )
    for mutate, needle in (
        (lambda d: d["tables"].__setitem__("224", [1, 2]), "table '224' is not an object"),
        (lambda d: next(iter(d["tables"]["224"].values())).__setitem__("mean", "x"), "lacks a valid"),
        (lambda d: next(iter(d["tables"]["224"].values())).__setitem__("mean", -3), "lacks a valid"),
        (lambda d: d.__setitem__("calibration", {"a": "x", "b": 0}), "'calibration' needs finite"),
        (lambda d: d.__setitem__("keyer", 5), "'keyer' must be a string"),
    ):
        d = json.loads(json.dumps(shipped))
        mutate(d)
        p = tmp_path / "note10.json"
        p.write_text(json.dumps(d))
        fails_cleanly(capsys, ["latency", "predict", str(arch), "--device", str(p)], str(p), needle)


def test_latency_predict_on_a_freshly_profiled_local_device(tmp_path, capsys, monkeypatch):
    """`--device local` after `latency profile`: used to die on a missing `stale_sources`."""
    from explorer.arch import save_arch
    from explorer.latency.lut import LutDevice
    from explorer.latency.profile import sample_configs
    from explorer.spaces import get_space

    monkeypatch.setenv("NAS_EXPLORER_LUTS", str(tmp_path / "luts"))
    prof = ["latency", "profile", "--space", "nb201", "--samples", "1", "--seed", "0", "--warmup", "1"]
    prof += [
        "--runs",
        "3",
        "--attempts",
        "1",
        "--calibrate",
        "0",
        "--quiet",
        "--json",
        "--dir",
        str(tmp_path / "luts"),
    ]
    assert main(prof) == 0
    table = Path(json.loads(capsys.readouterr().out)["path"])
    sp = get_space("nb201")
    graph = sp.encode(sample_configs(sp, 1, seed=0)[0])  # the net just profiled: no key missing
    arch = save_arch(graph, tmp_path / "cell.json")
    assert main(["latency", "predict", str(arch), "--device", "local", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    expected = LutDevice.load(table).predict_graph(graph, on_missing="error").ms
    assert res["results"][0]["latency_ms"] == pytest.approx(expected, abs=1e-4)
    assert "warnings" not in res
    assert LutDevice.load(table).stale_sources() == []


# -- proxyless search checkpoints -----------------------------------------------------------------
def test_proxyless_resume_refuses_damaged_checkpoints(tmp_path, capsys):
    from explorer.proxyless.search import CHECKPOINT, FORMAT, load_checkpoint

    d = tmp_path / "run"
    d.mkdir()
    p = d / CHECKPOINT
    fields = {"format": FORMAT, "config": {}, "model": {"w": torch.randn(64, 64)}, "opt_w": {}, "opt_a": {}}
    fields.update(
        gen=torch.Generator().get_state(), step=1, arch_steps=0, history=[], lut={"k": 1.0}, device={}
    )
    for make, needle in (
        (lambda: damage_tensor_bytes(save_tensors(p, fields)), "SHA-256"),
        (lambda: save_tensors(p, {**fields, "lut": [1.0]}), "'lut' is missing or not a dict"),
        (lambda: save_tensors(p, {**fields, "lut": {"k": "fast"}}), "'lut' holds a non-number"),
        (lambda: save_tensors(p, {**fields, "format": "other"}), "not a proxyless search checkpoint"),
        (lambda: truncate(save_tensors(p, fields)), "truncated"),
    ):
        make()
        fails_cleanly(capsys, ["search", "proxyless", "--resume", str(d), "--quiet"], str(p), needle)
        with pytest.raises(FormatError, match=needle):
            load_checkpoint(p)
