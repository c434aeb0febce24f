"""The live-metrics client of the proxies and latency APIs: entries stamped with their graph, one
validation per call, rows that never depend on each other, population proxies as percentiles."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from explorer import live_metrics as LM
from explorer.arch import ArchGraph, validate
from explorer.edits import graph_digest
from explorer.live_metrics import LOCAL_CPU, LiveSettings, Stopped, compute_metrics
from explorer.proxies import registry as PR
from explorer.spaces import get_space

from .graphs import small_graph

FAST = LiveSettings(zen_batch=4, gradsign_batch=4, resolution=16)


def chain(resolution: int, widths=(8, 12, 16)) -> ArchGraph:
    """A conv chain at a resolution no other test uses, so its layer keys are new to the table."""
    g = ArchGraph("chain")
    g.add_node("input", {"resolution": resolution}, id="input")
    for i, c in enumerate(widths):
        g.add_node("conv", {"out_channels": c}, id=f"c{i}")
    g.add_node("global_avgpool", id="pool")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", *(f"c{i}" for i in range(len(widths))), "pool", "fc", "output")
    return g


def test_entries_arrive_one_by_one_each_stamped_with_its_graph():
    g = small_graph(width=6)
    seen = []
    out = compute_metrics(g, FAST, [LOCAL_CPU], on_entry=lambda k, e: seen.append((k, e)), generation=7)
    keys = LM.metric_keys([LOCAL_CPU], FAST)
    assert keys == list(out) and keys[:3] == ["params", "macs", f"latency:{LOCAL_CPU}"]
    # the rows that answer at once first; this machine's new layers are measured last
    assert [k for k, _ in seen] == [*keys, f"latency:{LOCAL_CPU}"]
    assert seen[2][1]["pending"] == LM.PENDING and seen[-1][1]["value"] > 0
    assert all(e["digest"] == graph_digest(g) and e["generation"] == 7 for e in out.values())
    assert out["params"]["value"] > 0 and out["zen"]["value"] is not None
    assert out["zen"]["method"] == "b4 r16" and out["gradsign"]["method"] == "b4 r16"
    lat = out[f"latency:{LOCAL_CPU}"]
    assert lat["method"] == "LUT" and lat["value"] > 0 and lat["device"].startswith("local-")


def test_invalid_graph_gives_reasons_not_numbers():
    g = small_graph(connected=False)
    out = compute_metrics(g, FAST, ["x"])
    assert set(out) == {"params", "macs", "latency:x", "zen", "gradsign"}
    assert all(e["value"] is None and e["reason"].startswith("invalid graph") for e in out.values())


def test_should_stop_ends_early():
    with pytest.raises(Stopped):
        compute_metrics(small_graph(), FAST, [], should_stop=lambda: True)


def test_settings_round_trip_and_the_old_keys_still_read():
    assert LiveSettings.live() == LiveSettings() and LiveSettings().proxies == ("zen", "gradsign")
    assert (LiveSettings().zen_batch, LiveSettings().gradsign_batch) == (
        16,
        32,
    )  # the registry's live batches
    p = LiveSettings.paper()
    assert (p.zen_batch, p.gradsign_batch, p.resolution) == (64, 128, None)
    assert LiveSettings.from_dict(p.to_dict() | {"unknown": 1}) == p
    s = LiveSettings(proxies=("naswot", "az-nas"), batch={"naswot": 8}, seed=3)
    assert LiveSettings.from_dict(s.to_dict()) == s
    # stored before the proxy registry: switches, two batches, Zen's repeats
    old = {"zen_batch": 8, "zen_repeats": 2, "gradsign_batch": 32, "resolution": None, "seed": 1}
    s = LiveSettings.from_dict(old | {"zen": True, "gradsign": False, "latency": False})
    assert s.proxies == ("zen",) and s.batch == {"zen": 8} and s.zen_repeats == 2 and not s.latency
    assert s.proxy_settings().options == {"zen": {"repeats": 2}} and s.resolution is None
    assert LiveSettings(zen=False, gradsign=False).proxies == ()
    # what no longer fits falls back instead of failing the app's start
    bad = LiveSettings.from_dict({"proxies": ["zen", "gone"], "resolution": "big", "preset": 3})
    assert bad.proxies == ("zen",) and bad.resolution == 64 and bad.preset == "live"
    with pytest.raises(LM.ExplorerError, match="unknown proxy"):
        LiveSettings(proxies=("gone",))


def _count_validations(monkeypatch) -> list:
    """Every call of arch.validate (through check() too) from here on."""
    mod = sys.modules["explorer.arch.validate"]
    calls = []
    real = mod.validate

    def counting(graph):
        calls.append(graph)
        return real(graph)

    monkeypatch.setattr(mod, "validate", counting)
    monkeypatch.setattr(LM, "validate", counting)
    return calls


def test_one_validation_per_call_however_many_metrics_use_the_graph(monkeypatch):
    """Counting, the proxies' builds and memory checks at another resolution, the layer keys of
    several devices: all use the one report."""
    g = chain(24)
    settings = LiveSettings(proxies=("zen", "gradsign", "naswot", "az-nas"), resolution=16)
    devices = [LOCAL_CPU, "local-cpu-torch-1t", "help-nb201-pixel3"]
    compute_metrics(g, settings, devices)  # measure the layers once (not what is counted)
    calls = _count_validations(monkeypatch)
    out = compute_metrics(g, settings, devices)
    assert len(calls) == 1 and calls[0] is g
    assert all(
        out[k]["value"] is not None for k in ("params", "zen", "gradsign", "naswot", f"latency:{LOCAL_CPU}")
    )
    # the editor's own validation of the edit is passed in: none at all here
    report = validate(g)
    calls.clear()
    compute_metrics(g, settings, devices, report=report)
    assert calls == []


def test_proxies_at_a_resolution_too_small_for_the_graph_say_so():
    g = chain(24)
    g.add_node("maxpool", {"padding": 0}, id="down")  # 3x3 window: nothing of a 1x1 input
    g.disconnect("c2", "pool")
    g.chain("c2", "down", "pool")
    out = compute_metrics(g, LiveSettings(resolution=1), [])
    assert out["params"]["value"] > 0
    assert out["zen"]["value"] is None and out["zen"]["reason"].startswith("at resolution 1:")


def test_registry_devices_predict_configs_and_name_what_they_cover():
    space = get_space("ofa-mbv3-w1.0")
    e = LM.predict_latency(space.encode(space.sample(1)), "help-ofa-2080ti_1")
    assert e["value"] > 0 and e["method"] == "network-wise" and "\u03c1" in e["confidence"]
    e = LM.predict_latency(small_graph(), "help-ofa-2080ti_1")
    assert e["value"] is None and "custom graph" in e["reason"]
    e = LM.predict_latency(get_space("nb201").encode(get_space("nb201").sample(0)), "help-ofa-2080ti_1")
    assert e["value"] is None and "not nb201" in e["reason"]
    e = LM.predict_latency(small_graph(), "nosuch")
    assert e["value"] is None and "unknown device" in e["reason"]


def test_default_devices_are_those_the_registry_says_cover_the_space():
    from explorer.latency.registry import load_device

    names, note = LM.device_names()
    assert names[0] == LOCAL_CPU and not note
    assert names.count(LOCAL_CPU) == 1 and all(LM.local_device_name("torch", 1, 1) != n for n in names)
    for space in ("nb201", "ofa-mbv3-w1.0"):
        picked = LM.default_devices(names, space)
        assert picked[0] == LOCAL_CPU and len(picked) == 4
        assert all(load_device(n).covers(space) for n in picked[1:])
    assert LM.default_devices(names, None) == [LOCAL_CPU]  # a drawn graph: this machine's table only


def test_a_broken_proxy_says_why_and_the_others_still_come(monkeypatch):
    def boom(model, inputs):
        raise RuntimeError("kaputt")

    monkeypatch.setitem(PR._PROXIES, "zen", replace(PR.get_proxy("zen"), run=boom))
    for parallel in (True, False):
        out = compute_metrics(small_graph(), FAST, [], parallel=parallel)
        assert out["params"]["value"] > 0
        assert out["zen"]["value"] is None and out["zen"]["reason"] == "RuntimeError: kaputt"
        assert out["gradsign"]["value"] is not None  # after zen in the same job when one after the other


def test_local_cpu_lut_measures_new_layers_once_and_predicts_their_sum():
    from explorer.latency.keys import layer_specs
    from explorer.latency.measure import entry_ms

    g = small_graph()
    first = LM.predict_latency(g, LOCAL_CPU)
    again = LM.predict_latency(g, LOCAL_CPU)
    assert again["measured_layers"] == 0 and again["value"] == first["value"]
    dev = LM.local_lut_device()
    assert LM.device(LM.local_device_name("torch", 1, 1)) is dev  # one table for both names
    table = dev.table_for(g)
    assert again["value"] == pytest.approx(sum(entry_ms(table[s.key]) for _, s in layer_specs(g)))
    assert dev.path is not None and dev.path.is_file()  # kept for the next start


def test_deferred_measuring_leaves_a_pending_row_and_fills_it_later():
    g = chain(22)
    out = compute_metrics(g, FAST, [LOCAL_CPU, "help-nb201-pixel3"], measure="defer")
    row = out[f"latency:{LOCAL_CPU}"]
    assert row["value"] is None and row["pending"] == LM.PENDING and row["missing_layers"] == 4
    assert out["zen"]["value"] is not None and out["latency:help-nb201-pixel3"]["reason"]
    filled = LM.predict_latency(g, LOCAL_CPU)
    assert filled["value"] > 0 and filled["measured_layers"] == 4
    assert "pending" not in compute_metrics(g, FAST, [LOCAL_CPU], measure="defer")[f"latency:{LOCAL_CPU}"]


def test_local_cpu_lut_stops_between_layers_and_keeps_what_it_measured():
    g = chain(20)
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


def test_a_local_table_measured_elsewhere_is_its_rows_reason(monkeypatch):
    def elsewhere(name):
        raise LM.ExplorerError("local device 'x' was measured with threads 4 in the table, 1 here")

    monkeypatch.setattr(LM, "load_device", elsewhere)
    monkeypatch.setattr(LM, "_LOCAL", {})
    out = compute_metrics(small_graph(), FAST, [LOCAL_CPU])
    assert (
        out[f"latency:{LOCAL_CPU}"]["value"] is None
        and "measured with" in out[f"latency:{LOCAL_CPU}"]["reason"]
    )
    assert out["zen"]["value"] is not None


def test_proxies_side_by_side_equal_one_after_the_other():
    """The proxies in jobs side by side (the default with >= 2 CPUs) change nothing."""
    g = small_graph()
    s = replace(FAST, proxies=("zen", "gradsign", "naswot"))
    both = compute_metrics(g, s, [], parallel=True)
    one = compute_metrics(g, s, [], parallel=False)
    for k in s.proxies:
        assert both[k]["value"] == one[k]["value"] is not None


def test_population_proxies_show_their_percentile_in_the_space_reference(tmp_path, monkeypatch):
    from explorer.proxies.reference import settings_for, space_percentile

    nb = get_space("nb201")
    g = nb.encode(nb.sample(3))
    s = LiveSettings(proxies=("az-nas", "ensemble"), resolution=16)  # not the reference's settings
    out = compute_metrics(g, s, [])
    for name in ("az-nas", "ensemble"):
        e = out[name]
        assert 0 <= e["value"] <= 100 and e["unit"] == "percentile", e
        assert e["reference"] == "in nb201 (100-net reference)"
    # placed as the reference was scored (its settings, not the live ones)
    direct = PR.compute_many(g, ["az-nas"], settings_for(g))["az-nas"]
    assert out["az-nas"]["value"] == space_percentile("nb201", "az-nas", direct)
    # a drawn graph, and a graph edited out of its space, have no sample to be placed in
    assert "custom graph" in compute_metrics(small_graph(), s, [])["az-nas"]["reason"]
    ofa = get_space("ofa-mbv3-w1.0")
    e = compute_metrics(ofa.encode(ofa.sample(0)), replace(s, proxies=("az-nas",)), [])["az-nas"]
    assert 0 <= e["value"] <= 100 and e["reference"] == "in ofa-mbv3-w1.0 (100-net reference)"
    from explorer.proxies import reference as R

    monkeypatch.setattr(R, "DATA_DIR", tmp_path)  # a space no sample ships for
    R.load.cache_clear()
    try:
        e = compute_metrics(ofa.encode(ofa.sample(0)), replace(s, proxies=("az-nas",)), [])["az-nas"]
    finally:
        R.load.cache_clear()
    assert e["value"] is None and "no reference sample of ofa-mbv3-w1.0" in e["reason"]
