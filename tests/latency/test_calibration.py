"""The statistic and rounds of the measurement protocol: old device files keep their medians, new
local devices sum per-run minima, best of several rounds; predictions and calibration follow."""

import json

import pytest

from explorer.errors import FormatError
from explorer.latency import profile as L
from explorer.latency.device import build
from explorer.latency.keys import layer_specs
from explorer.latency.local import local_device
from explorer.latency.lut import LutDevice
from explorer.latency.measure import MeasureConfig, MeasureError, Measurement, entry_ms
from explorer.spaces import get_space


def meas(median: float, low: float) -> Measurement:
    return Measurement(median, median, low, median, 0.0, low, 30)


def predict(dev, graph, **kw):
    kw.setdefault("on_missing", "auto")
    return dev.predict_graph(graph, **kw)


def nb201_graph(seed: int = 3):
    nb = get_space("nb201")
    return nb.encode(nb.sample(seed))


def test_entry_figure_follows_its_stat_and_old_entries_mean_the_median():
    assert entry_ms({"median": 2.0, "min": 1.5}) == 2.0
    assert entry_ms({"median": 2.0, "min": 1.5, "stat": "min"}) == 1.5
    assert entry_ms({"mean": 3.0}) == 3.0  # OFA YAML tables


def test_old_device_file_keeps_median_and_one_round(tmp_path):
    g = nb201_graph()
    table = {s.key: {"median": 0.2, "min": 0.1} for _, s in layer_specs(g)}
    prov = {"protocol": {"warmup": 10, "runs": 30}}  # written before statistic/rounds existed
    dev = LutDevice("old", table, prov, {"nb201": {"a": 2.0, "b": 1.0}})
    cfg = dev.measure_config()
    assert cfg.statistic == "median" and cfg.rounds == 1
    p = predict(dev, g)
    assert p.raw_ms == pytest.approx(0.2 * len(layer_specs(g)))
    assert p.ms == pytest.approx(2.0 * p.raw_ms + 1.0)


def test_new_local_device_records_min_statistic_and_rounds(tmp_path):
    dev = local_device(directory=tmp_path)
    cfg = dev.measure_config()
    assert cfg.statistic == MeasureConfig().statistic == "min" and cfg.rounds == MeasureConfig().rounds > 1
    assert dev.provenance["protocol"]["statistic"] == "min"


def test_profile_keeps_the_fastest_round_and_predict_sums_minima(tmp_path):
    g = nb201_graph()
    calls: list[str] = []

    def fake(spec, config):  # the second round of every key is the fast one
        calls.append(spec.key)
        slow = calls.count(spec.key) != 2
        return meas(5.0 if slow else 1.0, 4.0 if slow else 0.5)

    dev = local_device(directory=tmp_path, protocol={"rounds": 3})
    p = predict(dev, g, measure=fake)
    keys = list(dict.fromkeys(s.key for _, s in layer_specs(g)))
    assert calls == keys * 3  # rounds are passes over all keys, not back-to-back repeats
    e = dev.table[keys[0]]
    assert e["stat"] == "min" and e["rounds"] == 3 and e["min"] == 0.5 and e["median"] == 1.0
    assert p.raw_ms == pytest.approx(0.5 * sum(1 for _ in layer_specs(g)))
    saved = LutDevice.load(dev.path)
    assert predict(saved, g).raw_ms == pytest.approx(p.raw_ms)


def test_calibration_is_fitted_on_the_statistic(tmp_path):
    g = [nb201_graph(i) for i in range(4)]

    def layer(spec, config):
        return meas(1.0, 0.1)

    def net(graph, config):  # medians would fit 3*raw_median; minima fit 2*raw_min + 1
        n = len(layer_specs(graph))
        return meas(3.0 * n, 2.0 * 0.1 * n + 1.0)

    dev = local_device(directory=tmp_path, protocol={"rounds": 2})
    rec = L.calibrate(dev, g, measure=layer, measure_net=net)
    assert rec["a"] == pytest.approx(2.0) and rec["b"] == pytest.approx(1.0, abs=1e-6)
    assert all(r["stat"] == "min" and r["rounds"] == 2 for r in dev.networks["nb201"])


def test_measure_graphs_keeps_best_round_per_net():
    g = [nb201_graph(i) for i in range(3)]
    seen: list[str] = []

    def net(graph, config):
        seen.append(graph.name)
        return meas(2.0, 1.0 + len(seen) % 2)  # rounds alternate fast/slow

    cfg = MeasureConfig(rounds=2)
    out = L.measure_graphs(g, cfg, measure_net=net)
    assert seen == [x.name for x in g] * 2
    assert [entry_ms(e) for e in out] == [1.0, 1.0, 1.0] and all(e["rounds"] == 2 for e in out)
    stopped = L.measure_graphs(g, cfg, measure_net=net, should_stop=lambda i: i >= 2)
    assert len(stopped) == 2


def test_bad_statistic_and_stat_entries_are_rejected(tmp_path):
    with pytest.raises(MeasureError, match="statistic"):
        MeasureConfig(statistic="mean")
    with pytest.raises(MeasureError, match="rounds"):
        MeasureConfig(rounds=0)
    dev = LutDevice("d", {"A": {"median": 1.0, "stat": "min"}}, {}, local=True, path=tmp_path / "d.json")
    d = dev.to_json()
    with pytest.raises(FormatError, match="'min'"):
        build(LutDevice, json.loads(json.dumps(d)))
    assert meas(2.0, 1.0).value("min") == 1.0 and meas(2.0, 1.0).value() == 2.0
