"""The pure live-metrics facade: entries, stale requests, and graceful n/a when latency or proxies
are missing or broken."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from explorer import live_metrics as LM
from explorer.live_metrics import LOCAL_CPU, LiveSettings, Stopped, compute_metrics

from .graphs import small_graph

FAST = LiveSettings(zen_batch=4, gradsign_batch=4, resolution=16)


def test_entries_arrive_one_by_one_and_cover_every_key():
    seen = []
    out = compute_metrics(small_graph(), FAST, [LOCAL_CPU], on_entry=lambda k, e: seen.append(k))
    assert seen == LM.metric_keys([LOCAL_CPU]) == list(out)
    assert out["params"]["value"] > 0 and out["zen"]["value"] is not None
    lat = out[f"latency:{LOCAL_CPU}"]
    assert lat["method"] == "LUT" and lat["value"] > 0 and lat["device"].startswith("local-")


def test_invalid_graph_gives_reasons_not_numbers():
    g = small_graph(connected=False)
    out = compute_metrics(g, FAST, ["x"])
    assert all(e["value"] is None and e["reason"].startswith("invalid graph") for e in out.values())


def test_should_stop_ends_early():
    with pytest.raises(Stopped):
        compute_metrics(small_graph(), FAST, [], should_stop=lambda: True)


def test_paper_and_live_settings_round_trip():
    assert LiveSettings.live() == LiveSettings(16, 1, 32, 64)
    p = LiveSettings.paper()
    assert (p.zen_batch, p.gradsign_batch, p.resolution) == (64, 128, None)
    assert LiveSettings.from_dict(p.to_dict() | {"unknown": 1}) == p


def _fake_latency(monkeypatch, devices_mod=None, fail_import=False):
    pkg = types.ModuleType("explorer.latency")
    pkg.__path__ = []
    monkeypatch.setitem(sys.modules, "explorer.latency", pkg)
    if fail_import:
        monkeypatch.setattr(LM, "_latency_module", lambda: (_ for _ in ()).throw(ImportError("boom")))
    for name in ("registry", "local"):
        monkeypatch.setitem(sys.modules, f"explorer.latency.{name}", None)
    if devices_mod is not None:
        monkeypatch.setitem(sys.modules, "explorer.latency.registry", devices_mod)


def test_latency_registry_missing_or_broken_degrades(monkeypatch):
    _fake_latency(monkeypatch, fail_import=True)
    names, note = LM.list_devices()
    assert names == [LOCAL_CPU] and "unavailable" in note
    e = LM.predict_latency(small_graph(), "help-ofa-titan")
    assert e["value"] is None and "unavailable" in e["reason"]


def test_latency_registry_device_predicts_space_configs(monkeypatch):
    from explorer.errors import ExplorerError
    from explorer.spaces import get_space

    class Dev:
        kind, spaces, calibration = "network", ["ofa-mbv3-w1.0"], None
        model = {"kind": "mlp"}
        provenance = {"evaluation": {"protocol_a": {"spearman": 0.985, "within_10": 0.93}}}

        def covers(self, space):
            return space in self.spaces

        def predict(self, space, configs):
            assert configs[0]["ks"]
            return np.array([12.5])

    mod = types.ModuleType("explorer.latency.registry")
    mod.list_devices = lambda: [{"name": "help-ofa-gpu"}, {"name": "note10"}]

    def load(name):
        if name != "help-ofa-gpu":
            raise ExplorerError(f"unknown device {name!r}")
        return Dev()

    mod.load_device = load
    _fake_latency(monkeypatch, mod)
    names, _ = LM.list_devices()
    assert names == [LOCAL_CPU, "help-ofa-gpu", "note10"]
    assert LM.default_devices(names) == [LOCAL_CPU, "help-ofa-gpu"]
    space = get_space("ofa-mbv3-w1.0")
    e = LM.predict_latency(space.encode(space.sample(1)), "help-ofa-gpu")
    assert e["value"] == 12.5 and e["method"] == "network-wise" and "0.98" in e["confidence"]
    assert "93%" in e["confidence"]
    e = LM.predict_latency(small_graph(), "help-ofa-gpu")
    assert e["value"] is None and "custom graph" in e["reason"]
    e = LM.predict_latency(small_graph(), "nosuch")
    assert e["value"] is None and "unknown device" in e["reason"]


def test_broken_proxies_give_reasons(monkeypatch):
    import explorer.proxies as P

    def boom(*a, **k):
        raise RuntimeError("kaputt")

    monkeypatch.setattr(P, "zen_score", boom)
    monkeypatch.setattr(P, "gradsign", boom)
    out = compute_metrics(small_graph(), FAST, [])
    assert out["params"]["value"] > 0
    assert out["zen"]["value"] is None and "kaputt" in out["zen"]["reason"]
    assert out["gradsign"]["value"] is None and "kaputt" in out["gradsign"]["reason"]


def test_local_cpu_lut_measures_new_layers_once_and_predicts_their_sum():
    from explorer.latency.keys import layer_specs
    from explorer.latency.measure import entry_ms
    from explorer.latency.profile import graph_space

    g = small_graph()
    first = LM.predict_latency(g, LOCAL_CPU)
    again = LM.predict_latency(g, LOCAL_CPU)
    assert again["measured_layers"] == 0 and again["value"] == first["value"]
    dev = LM.local_lut_device()
    table = dev.table_for(g)
    want = sum(entry_ms(table[s.key]) for _, s in layer_specs(g))
    cal = dev.calibration_for(graph_space(g))
    if cal is None:
        assert again["value"] == pytest.approx(want)
    assert dev.path is not None and dev.path.is_file()  # cached for the next start


def test_local_cpu_lut_stops_between_layers_and_keeps_what_it_measured():
    from explorer.arch import ArchGraph

    g = ArchGraph("three convs")  # a resolution no other test uses: every layer key is new
    g.add_node("input", {"resolution": 20}, id="input")
    for i, c in enumerate((8, 12, 16)):
        g.add_node("conv", {"out_channels": c}, id=f"c{i}")
    g.add_node("global_avgpool", id="pool")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", "c0", "c1", "c2", "pool", "fc", "output")
    asked = []

    def stop_after_one_layer():
        asked.append(1)
        return len(asked) > 1

    dev = LM.local_lut_device()
    before = len(dev.table)
    with pytest.raises(Stopped):
        LM.predict_latency(g, LOCAL_CPU, should_stop=stop_after_one_layer)
    assert len(dev.table) == before + 1  # the measured layer is kept for the next request
    out = LM.predict_latency(g, LOCAL_CPU)
    assert out["measured_layers"] >= 2 and out["value"] > 0


def test_local_cpu_falls_back_to_direct_timing_with_the_reason(monkeypatch):
    def broken():
        raise LM.ExplorerError("table measured elsewhere")

    monkeypatch.setattr(LM, "local_lut_device", broken)
    out = LM.predict_latency(small_graph(), LOCAL_CPU)
    assert out["method"] == "measured" and out["value"] > 0
    assert "table measured elsewhere" in out["confidence"]


def test_proxies_side_by_side_equal_one_after_the_other():
    """Zen in a second thread while GradSign runs (the default with >= 2 CPUs) changes nothing."""
    g = small_graph()
    both = compute_metrics(g, FAST, [], parallel=True)
    one = compute_metrics(g, FAST, [], parallel=False)
    assert both["zen"]["value"] == one["zen"]["value"] is not None
    assert both["gradsign"]["value"] == one["gradsign"]["value"] is not None
