"""Per-op-kind calibration (explorer.latency.calibration): op kinds of layers, the ridge fit that
falls back to the pooled one, device files that carry it, predictions that apply it, and the
`latency calibrate` CLI on real measurements."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.arch import ArchGraph, to_dict
from explorer.cli import main
from explorer.errors import FormatError
from explorer.latency import profile as L
from explorer.latency.calibration import apply, fit_by_kind, fit_linear, kind_sums
from explorer.latency.keys import layer_specs
from explorer.latency.local import local_device
from explorer.latency.lut import LutDevice
from explorer.latency.measure import Measurement

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {"warmup": 1, "runs": 3, "min_time_s": 0.0, "max_attempts": 1, "rounds": 1}
TRUE = {"conv-grouped": 1.8, "conv": 1.1, "pooling": 0.7}  # the machine the synthetic nets run on


def net(width: int, dw_blocks: int, res: int = 16) -> ArchGraph:
    """A small CNN with dense convs, `dw_blocks` depthwise + grouped convs, pooling and a head."""
    g = ArchGraph(f"net-w{width}-dw{dw_blocks}-r{res}")
    ids = [g.add_node("input", {"channels": 3, "resolution": res})]
    ids.append(g.add_node("conv", {"out_channels": width, "kernel": 3}))
    for i in range(dw_blocks):
        ids.append(g.add_node("dwconv", {"kernel": 3}))
        ids.append(g.add_node("conv", {"out_channels": width, "kernel": 1, "groups": 2 if i % 2 else 1}))
    ids.append(g.add_node("maxpool", {"kernel": 3, "stride": 2}))
    ids.append(g.add_node("global_avgpool"))
    ids.append(g.add_node("linear", {"out_features": 10}))
    ids.append(g.add_node("output"))
    g.chain(*ids)
    return g


def synthetic(n: int, seed: int = 0, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sums = {
            "conv-grouped": float(rng.uniform(0.2, 6.0)),
            "conv": float(rng.uniform(0.5, 9.0)),
            "pooling": float(rng.uniform(0.1, 2.0)),
            "basic": float(rng.uniform(0.01, 0.05)),  # below MIN_SHARE everywhere: the pooled scale
        }
        y = 0.4 + sum(TRUE.get(k, 1.0) * v for k, v in sums.items())
        out.append((sums, y * (1 + noise * float(rng.standard_normal()))))
    return out


def test_layer_kinds_split_dense_from_grouped_convs():
    g = net(8, 2)
    kinds = [s.kind for _, s in layer_specs(g)]
    ops = [s.op for _, s in layer_specs(g)]
    assert dict(zip(ops, kinds))["dwconv"] == "conv-grouped"
    convs = [(s.params.get("groups", 1), s.kind) for _, s in layer_specs(g) if s.op == "conv"]
    assert (1, "conv") in convs and (2, "conv-grouped") in convs
    assert {"pooling", "basic"} <= set(kinds)  # other ops: their palette category
    assert kind_sums([("a", 1.0), ("b", None), ("a", 0.5)]) == {"a": 1.5}


def test_fit_recovers_per_kind_scales_and_predicts_held_out_nets():
    fit = fit_by_kind(synthetic(24))
    assert set(fit["by_kind"]) == {"conv-grouped", "conv", "pooling"}  # 'basic' is too small a share
    for k, s in TRUE.items():
        assert fit["by_kind"][k] == pytest.approx(s, rel=0.02)
    assert fit["ridge"] is not None and fit["loo_rms_rel_error"] < 0.01
    held_out = synthetic(10, seed=1)
    pooled = fit_linear([sum(s.values()) for s, _ in synthetic(24)], [y for _, y in synthetic(24)])
    err_kind = max(abs(apply(fit, s) - y) / y for s, y in held_out)
    err_pooled = max(abs(pooled[0] * sum(s.values()) + pooled[1] - y) / y for s, y in held_out)
    assert err_kind < 0.01 < err_pooled


def test_fit_falls_back_to_the_pooled_line_where_kinds_explain_nothing():
    # one scale for every kind: per-kind scales buy nothing, and leave-one-out keeps the pooled fit
    # (or scales all equal to it)
    samples = [(s, 0.3 + 1.4 * sum(s.values())) for s, _ in synthetic(12, seed=2)]
    fit = fit_by_kind(samples)
    a, b = fit_linear([sum(s.values()) for s, _ in samples], [y for _, y in samples])
    for s, _ in samples:
        assert apply(fit, s) == pytest.approx(a * sum(s.values()) + b, rel=1e-6)
    # too few nets for as many scales: the pooled fit, said so
    few = fit_by_kind(synthetic(4))
    assert few["by_kind"] == {} and few["ridge"] is None and few["loo_rms_rel_error"] is None
    assert apply({"a": 2.0, "b": 1.0}, {"x": 1.0, "y": 2.0}) == pytest.approx(7.0)  # no by_kind: a*LUT+b


def test_fit_never_keeps_a_negative_scale():
    samples = [
        (s, 0.5 + 1.2 * s["conv"] + 1.0 * s["conv-grouped"] - 0.9 * s["pooling"]) for s, _ in synthetic(16)
    ]
    fit = fit_by_kind(samples)
    assert all(v >= 0 for v in fit["by_kind"].values())


def test_device_file_keeps_by_kind_and_predictions_apply_it(tmp_path):
    g = net(8, 3)
    table = {s.key: {"median": 0.1 * (1 + i)} for i, (_, s) in enumerate(layer_specs(g))}
    cal = {"*": {"a": 1.2, "b": 0.5, "by_kind": {"conv-grouped": 2.0, "pooling": 0.5}}}
    dev = LutDevice("kinds", table, {}, cal, path=tmp_path / "kinds.json")
    dev.save()
    back = LutDevice.load(tmp_path / "kinds.json")
    p = back.predict_graph(g)
    by = p.raw_by_kind
    assert sum(by.values()) == pytest.approx(p.raw_ms)
    expect = (
        0.5
        + 2.0 * by["conv-grouped"]
        + 0.5 * by["pooling"]
        + 1.2 * (p.raw_ms - by["conv-grouped"] - by["pooling"])
    )
    assert p.ms == pytest.approx(expect) and p.method == "lut+calibration"
    for bad in ({"conv": -1.0}, {"conv": "fast"}, ["conv"], {"conv": True}):
        d = json.loads((tmp_path / "kinds.json").read_text())
        d["calibration_by_space"]["*"]["by_kind"] = bad
        (tmp_path / "bad.json").write_text(json.dumps(d))
        with pytest.raises(FormatError, match="by_kind"):
            LutDevice.load(tmp_path / "bad.json")


def test_calibrate_by_kind_fits_what_whole_networks_show(tmp_path):
    """The layers come from a deterministic table; the whole nets run by TRUE's scales."""
    graphs = [net(w, d, r) for w in (8, 16) for d in (0, 1, 3, 5) for r in (12, 16)]

    def layer(spec, config):
        ms = 0.02 + (sum(map(ord, spec.key)) % 53) / 400
        return Measurement(ms, ms, ms, ms, 0.0, ms, 30)

    def whole(graph, config):
        sums = kind_sums((s.kind, layer(s, config).median_ms) for _, s in layer_specs(graph))
        ms = 0.3 + sum(TRUE.get(k, 1.0) * v for k, v in sums.items())
        return Measurement(ms, ms, ms, ms, 0.0, ms, 30)

    dev = local_device(directory=tmp_path, protocol={**FAST, "statistic": "median"})
    rec = L.calibrate(dev, graphs, by_kind=True, measure=layer, measure_net=whole)
    assert rec["calibrated"]["within_5"] == 1.0 and rec["raw"]["within_10"] < 0.5
    assert rec["by_kind"]["conv-grouped"] == pytest.approx(1.8, rel=0.05)
    again = LutDevice.load(dev.path)
    assert again.calibration["*"]["by_kind"] == rec["by_kind"]
    p = again.predict_graph(net(16, 4, 14), on_missing="measure", measure=layer)
    truth = whole(net(16, 4, 14), None).median_ms
    assert p.ms == pytest.approx(truth, rel=0.05)
    with pytest.raises(Exception, match="needs the graphs"):
        L.calibrate(dev, [], pairs=[(1.0, 2.0)], by_kind=True)


def test_latency_calibrate_cli_measures_files_and_stores_the_fit(tmp_path, capsys):
    files = []
    for i, g in enumerate(net(w, d) for w in (4, 8) for d in (0, 2, 4)):
        f = tmp_path / f"net{i}.json"
        f.write_text(json.dumps(to_dict(g)))
        files.append(str(f))
    dev = local_device(directory=tmp_path / "luts", protocol=FAST)
    dev.save()
    rc = main(["latency", "calibrate", "--device", str(dev.path), "--by-kind", "--quiet", "--json", *files])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["space"] == "*" and out["n"] == 6 and "by_kind" in out
    stored = LutDevice.load(dev.path)
    assert stored.calibration["*"]["n"] == 6 and len(stored.networks["*"]) == 6
    p = stored.predict_graph(net(8, 2))
    assert p.ms == pytest.approx(apply(stored.calibration["*"], p.raw_by_kind))
    assert main(["latency", "calibrate", "--device", str(dev.path), files[0]]) == 2  # one file is too few
    assert "at least 2" in capsys.readouterr().err
