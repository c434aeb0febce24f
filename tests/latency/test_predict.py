"""The one prediction entry point (`predict_graph`) on every kind of device, the one metrics
computation and its two contracts, and how a space's spelling resolves."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from explorer.arch import ArchGraph, save_arch
from explorer.errors import ConfigError, ExplorerError
from explorer.latency import registry
from explorer.latency.device import MissingKeysError, provenance
from explorer.latency.fewshot import FewShotDevice
from explorer.latency.keys import layer_keys
from explorer.latency.local import local_device
from explorer.latency.lut import LutDevice
from explorer.latency.metrics import accuracy, kendall, protocol_metrics
from explorer.latency.network import NetworkDevice, model_digest
from explorer.latency.predict import measure_missing, predict_graph
from explorer.latency.predictor import train
from explorer.spaces import get_space
from explorer.spaces.latency_support import family_for_columns, latency_features, matches, member, resolve


def hand_drawn() -> ArchGraph:
    g = ArchGraph("hand-drawn")
    g.add_node("input", {"resolution": 16}, id="input")
    g.add_node("conv", {"out_channels": 8}, id="c")
    g.add_node("global_avgpool", id="pool")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", "c", "pool", "fc", "output")
    return g


@pytest.fixture()
def user_luts(tmp_path, monkeypatch):
    d = tmp_path / "luts"
    monkeypatch.setenv("NAS_EXPLORER_LUTS", str(d))
    return d


def nb201_device(name: str, seed: int) -> NetworkDevice:
    """A small ridge predictor on NB201 features of random cells (not a real device)."""
    sp = get_space("nb201")
    cfgs = [sp.sample(seed * 1000 + i) for i in range(60)]
    X = latency_features("nb201").features(cfgs)
    y = 1.0 + X[:, :30] @ np.random.default_rng(seed).uniform(0.1, 1.0, 30)
    return NetworkDevice(name, ["nb201"], provenance(source="test"), train("ridge", X, y).to_json())


def test_a_layer_table_predicts_any_graph_and_reports_what_it_lacks():
    g = hand_drawn()
    keys = [k for _, k in layer_keys(g)]
    dev = LutDevice("phone", {k: {"mean": 0.5 + i} for i, k in enumerate(keys)}, {"hardware": "phone"})
    p = predict_graph(dev, g)
    assert p.ms == pytest.approx(sum(0.5 + i for i in range(len(keys)))) and p.method == "lut"
    assert [k for _, k, _ in p.layers] == keys and p.as_dict()["latency_ms"] == round(p.ms, 4)
    short = LutDevice("phone", {k: {"mean": 1.0} for k in keys[1:]}, {"hardware": "phone"})
    p = predict_graph(short, g)
    assert p.ms is None and p.missing_keys == keys[:1] and "remote device" in p.reason
    with pytest.raises(MissingKeysError, match="lacks 1 LUT key"):
        predict_graph(short, g, on_missing="error")


def test_a_network_device_says_what_it_does_not_cover():
    dev = nb201_device("cells", 0)
    p = predict_graph(dev, hand_drawn())
    assert p.ms is None and p.reason.startswith("not covered: custom graph")
    ofa = get_space("ofa-mbv3-w1.0")
    p = predict_graph(dev, ofa.encode(ofa.sample(0)))
    assert p.ms is None and p.reason == "not covered: covers nb201, not ofa-mbv3-w1.0"
    sp = get_space("nb201")
    cfg = sp.sample(3)
    p = predict_graph(dev, sp.encode(cfg))
    assert p.method == "network" and p.ms == pytest.approx(float(dev.predict("nb201", [cfg])[0]))
    edited = sp.encode(cfg)
    edited.g.nodes["s2c1_e01"]["op"] = "nor_conv_3x3" if cfg["arch_str"][1:5] != "nor_" else "none"
    p = predict_graph(dev, edited)
    assert p.ms is None and "no longer an architecture of this space" in p.reason


def test_a_few_shot_device_warns_when_its_sources_changed(user_luts):
    src = nb201_device("src-a", 1)
    registry.save_device(src)
    head = {"stat_idx": [], "source_idx": [0], "w_stats": [], "w_sources": [2.0], "b": 0.5}
    model = {"kind": "fewshot", "sources": ["src-a"], "head": head, "source_digests": {"src-a": "x" * 16}}
    fs = FewShotDevice("mine", ["nb201"], provenance(source="few-shot"), model, resolve=registry.load_device)
    registry.save_device(fs)
    sp = get_space("nb201")
    g = sp.encode(sp.sample(5))
    p = predict_graph("mine", g)  # by name, through the registry
    assert p.method == "few-shot" and p.ms == pytest.approx(
        2.0 * float(src.predict("nb201", [sp.sample(5)])[0]) + 0.5
    )
    assert p.warnings and "src-a" in p.warnings[0] and "latency adapt" in p.warnings[0]
    model["source_digests"] = {"src-a": model_digest(src.model)}
    registry.save_device(FewShotDevice("mine", ["nb201"], fs.provenance, model))
    assert predict_graph("mine", g).warnings == []


def test_missing_layers_are_measured_apart_and_a_stop_keeps_the_table(tmp_path):
    dev = local_device(directory=tmp_path, protocol={"warmup": 1, "runs": 3, "min_time_s": 0.0, "rounds": 1})
    g = hand_drawn()
    assert predict_graph(dev, g).reason.startswith(f"{len(layer_keys(g))} layer(s) not profiled yet")
    res = measure_missing(dev, g, should_stop=lambda: True)
    assert res.stopped and res.measured == [] and not dev.table
    res = measure_missing(dev, g)
    assert sorted(res.measured) == sorted(k for _, k in layer_keys(g))
    p = predict_graph(dev, g)
    assert p.ms > 0 and not p.missing_keys and measure_missing(dev, g).measured == []


def test_cli_predicts_a_hand_drawn_graph_on_a_layer_table(tmp_path, capsys):
    from explorer.cli import main

    g = hand_drawn()
    dev = LutDevice("t", {k: {"mean": 1.0} for _, k in layer_keys(g)}, {}, path=tmp_path / "t.json")
    dev.save()
    arch = save_arch(g, tmp_path / "g.json")
    assert main(["latency", "predict", str(arch), "--device", str(dev.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["latency_ms"] == len(layer_keys(g))
    assert main(["latency", "predict", str(arch), "--device", "help-nb201-pixel3"]) == 2
    assert "not covered: custom graph" in capsys.readouterr().err


def test_one_metrics_computation_two_contracts():
    pred, true = [1.0, 2.0, 3.3, 4.0, 4.0], [1.0, 2.1, 3.0, 4.0, 3.0]
    a = accuracy(pred, true, with_kendall=True)
    assert set(a) == {"n", "spearman", "kendall", "rmse_ms", "mape", "within_10", "within_5"}
    p = protocol_metrics(pred, true)
    assert list(p) == ["spearman", "rmse_ms", "within_10pct", "within_5pct", "n"]
    assert (p["spearman"], p["within_10pct"], p["within_5pct"]) == (
        a["spearman"],
        a["within_10"],
        a["within_5"],
    )
    # tau-b by brute force over all pairs, ties in either variable counted as neither
    s = [
        np.sign(pred[i] - pred[j]) * np.sign(true[i] - true[j])
        for i, j in itertools.combinations(range(5), 2)
    ]
    tx = sum(pred[i] != pred[j] for i, j in itertools.combinations(range(5), 2))
    ty = sum(true[i] != true[j] for i, j in itertools.combinations(range(5), 2))
    assert kendall(pred, true) == pytest.approx(sum(s) / np.sqrt(tx * ty))
    flat = accuracy([2.0, 2.0], [1.0, 3.0])
    assert flat["spearman"] is None and protocol_metrics([2.0, 2.0], [1.0, 3.0])["spearman"] == 0.0


def test_space_spellings_resolve_through_the_spaces():
    assert resolve("NAS-Bench-201") == "nb201" and resolve("ofa") == "ofa-mbv3"
    assert resolve("OFA_MBV3_W12") == "ofa-mbv3-w1.2"
    assert matches("ofa-mbv3", "ofa-mbv3-w1.0") and not matches("ofa-mbv3-w1.2", "ofa-mbv3-w1.0")
    assert member("ofa-mbv3", prefer=["ofa-mbv3-w1.2"]) == "ofa-mbv3-w1.2"
    assert family_for_columns(["index", "ks", "e", "d", "r"]) == "ofa-mbv3"
    assert family_for_columns(["arch_str", "latency_ms"]) == "nb201"
    with pytest.raises(ExplorerError, match="cannot tell the space"):
        family_for_columns(["x"])
    with pytest.raises(ConfigError, match="unknown space"):
        resolve("resnet")
    with pytest.raises(ConfigError, match="resolution r must be an integer in 1..4096"):
        latency_features("ofa-mbv3").normalise({"ks": "3" * 20, "e": "3" * 20, "d": "22222", "r": 0})
