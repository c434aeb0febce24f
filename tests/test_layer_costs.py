"""Where the cost goes: per-node params, MACs and latency with shares, for any graph and device;
`arch info --per-layer --device D --json` and `latency profile --graph FILE` as the CLI twins."""

from __future__ import annotations

import json

import pytest

from explorer.arch import ArchGraph, count_complexity, lut_keys, save_arch
from explorer.cli import main
from explorer.latency.lut import LutDevice
from explorer.layer_costs import layer_report


def tiny() -> ArchGraph:
    g = ArchGraph("tiny")
    i = g.add_node("input", {"channels": 3, "resolution": 8})
    c = g.add_node("conv", {"out_channels": 8, "kernel": 3}, id="stem", group="stem")
    d = g.add_node("dwconv", {"kernel": 3}, id="dw", group="block")
    a = g.add_node("add", id="res", group="block")
    p = g.add_node("global_avgpool", id="gap")
    f = g.add_node("linear", {"out_features": 4}, id="fc")
    o = g.add_node("output")
    g.chain(i, c, d, a, p, f, o)
    g.connect(c, a)
    return g


def strict(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_shares_of_params_and_macs_sum_to_one():
    g = tiny()
    rep = layer_report(g)
    c = count_complexity(g)
    assert [n.node for n in rep.nodes] == [lc.node for lc in c.layers]
    for metric in ("params", "macs"):
        assert sum(n.share(rep, metric) for n in rep.nodes) == pytest.approx(1.0)
    assert {n.node: n.group for n in rep.nodes}["dw"] == "block"
    assert rep.device is None and "device" not in rep.as_dict()


def test_latency_per_node_is_the_table_entry_and_missing_layers_are_said(tmp_path):
    g = tiny()
    keys = dict(lut_keys(g))
    table = {k: {"median": 0.1 * (n + 1)} for n, k in enumerate(keys.values())}
    dev = LutDevice("fake", table, {"hardware": "x"}, path=tmp_path / "fake.json")
    rep = layer_report(g, dev)
    by_node = {n.node: n for n in rep.nodes}
    for node, key in keys.items():
        assert by_node[node].latency_ms == pytest.approx(table[key]["median"])
    assert by_node["gap"].latency_ms is not None
    assert sum(n.share(rep, "latency_ms") for n in rep.nodes) == pytest.approx(1.0)
    assert rep.latency["latency_ms"] == pytest.approx(sum(e["median"] for e in table.values()), abs=1e-4)

    del table[keys["stem"]]
    rep = layer_report(g, LutDevice("fake", table, {"hardware": "x"}))
    assert rep.missing == [keys["stem"]] and rep.latency["latency_ms"] is None


def test_cli_per_layer_on_this_machine_measures_what_the_table_lacks(tmp_path, capsys):
    f = tmp_path / "tiny.json"
    save_arch(tiny(), f)
    assert main(["latency", "profile", "--graph", str(f), "--device", "local-cpu", "--quiet", "--json"]) == 0
    prof = strict(capsys.readouterr().out)
    assert prof["keys_needed"] == len(lut_keys(tiny())) and prof["keys_in_table"] >= prof["keys_needed"]
    assert main(["arch", "info", str(f), "--per-layer", "--device", "local-cpu", "--json"]) == 0
    out = strict(capsys.readouterr().out)
    rows = {r["node"]: r for r in out["per_layer"]}
    assert out["latency"]["latency_ms"] is not None and not out["latency"]["missing_keys"]
    assert all(rows[n]["latency_ms"] > 0 for n, _ in lut_keys(tiny()))
    assert sum(r["latency_ms"] for r in out["per_layer"]) == pytest.approx(out["latency"]["raw_ms"], abs=1e-3)
    assert out["params"] == count_complexity(tiny()).params  # the plain info fields stay
    assert main(["arch", "info", str(f), "--per-layer", "--sort", "latency"]) == 0
    assert "ms %" in capsys.readouterr().out
    assert main(["arch", "info", str(f), "--device", "local-cpu"]) == 2  # --device needs --per-layer
    assert main(["latency", "profile", "--quiet"]) == 2  # neither --space nor --graph
