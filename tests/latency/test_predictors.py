"""Network-wise predictors: JSON round trip without pickle, stored metrics reproduced, few-shot adapt."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from explorer.errors import ExplorerError
from explorer.latency import evaluate as E
from explorer.latency import registry as D
from explorer.latency.adapt import adapt
from explorer.latency.device import DeviceError, provenance
from explorer.latency.metrics import protocol_metrics, spearman
from explorer.latency.network import NetworkDevice
from explorer.latency.predictor import Predictor, train
from explorer.spaces.latency_support import latency_features
from explorer.spaces.nb201_features import nb201_live_edges, parse_nb201
from explorer.spaces.ofa_features import ofa_block_macs
from tests.conftest import shared_file


def featurize(space, configs):
    return latency_features(space).features(configs)


@pytest.fixture(scope="module")
def help_nb201():
    shared_file("latency", "nb201_help_ms.csv")
    return E.load_dataset("help-nb201")


def test_features():
    ops = parse_nb201("|none~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert nb201_live_edges(ops) == [False, True, False, False, False, True]
    x = featurize("nb201", ["|none~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|"])[0]
    assert x.shape == (79,) and x[30:35].tolist() == [3, 2, 1, 0, 0] and x[65:70].tolist() == [0, 1, 1, 0, 0]
    # live graph 0 -1x1-> 2 -skip-> 3: no adds, node 2 live, a chain of one conv, one compute input
    assert x[70:79].tolist() == [0, 0, 0, 0, 1, 1, 0, 1, 0]
    # OFA's MAC count of the max w1.0 net at r=200 (official count_net_flops: 479.5M)
    assert abs(ofa_block_macs({"ks": "7" * 20, "e": "6" * 20, "d": "44444", "r": 200})[1] - 479.5) < 0.1
    with pytest.raises(ExplorerError, match="arch_str"):
        featurize("nb201", ["|conv~0|"])
    with pytest.raises(ExplorerError, match="'ks' has values"):
        featurize("ofa-mbv3", [{"ks": "9" * 20, "e": "3" * 20, "d": "22222", "r": 160}])


def test_tiny_training_and_json_round_trip(help_nb201):
    y = help_nb201.latency["eyeriss"]  # exactly additive per edge: the linear part must nail it
    X = help_nb201.X
    p = train("additive-mlp", X[:300], y[:300], val=(X[300:350], y[300:350]), members=2, hidden=16, steps=200)
    m = protocol_metrics(p.predict(X[1000:3000]), y[1000:3000])
    assert m["within_5pct"] > 0.99 and m["spearman"] > 0.99
    text = json.dumps(p.to_json())
    q = Predictor(json.loads(text))
    np.testing.assert_allclose(q.predict(X[:50]), p.predict(X[:50]), rtol=1e-9)


@pytest.mark.parametrize(
    "name", ["help-nb201-gold_6226", "latbench-nb201-desktop-cpu-core-i7-7820x-fp32", "help-ofa-2080ti_1"]
)
def test_shipped_predictor_reproduces_stored_validation(name):
    try:
        dev = D.load_device(name)
    except DeviceError:
        pytest.skip(f"{name} not trained yet")
    ds_name, col = next((d, name[len(p) :]) for d, (_, _, p, _) in E.DATASETS.items() if name.startswith(p))
    shared_file("latency", E.DATASETS[ds_name][0])
    ds = E.load_dataset(ds_name)
    ok = np.where(np.isfinite(ds.latency[col]))[0]
    _, va, _ = E.split_a(len(ok), 0)
    got = protocol_metrics(dev.predict(ds.space, [ds.configs[i] for i in ok[va]]), ds.latency[col][ok[va]])
    stored = dev.provenance["accuracy"]["shipped_model_seed0"]["validation"]
    for k in ("spearman", "rmse_ms", "within_10pct"):
        assert abs(got[k] - stored[k]) < 2e-3, (k, got, stored)
    assert dev.provenance["accuracy"]["protocol_A"]["additive-mlp"]["runs"] == 3


def test_device_saved_before_the_live_graph_features_still_predicts(help_nb201, tmp_path):
    """NB201 features grew from 70 to 79 columns by appending: an older file reads the first 70."""
    X, y = help_nb201.X, help_nb201.latency["gold_6226"]
    old = train("ridge", X[:500, :70], y[:500])
    dev = NetworkDevice("old-user-device", ["nb201"], provenance(source="test"), old.to_json())
    path = D.save_device(dev, tmp_path / "old-user-device.json")
    got = D.load_device(path).predict("nb201", help_nb201.configs[:50])
    np.testing.assert_allclose(got, old.predict(X[:50, :70]), rtol=1e-9)
    with pytest.raises(Exception, match="expects 70 features"):
        old.predict(X[:5])  # the bare model does not guess


def test_median_fit_ignores_outlying_measurements():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(600, 8)).astype(float)
    y = 5.0 + X @ np.arange(1.0, 9.0)
    noisy = y.copy()
    noisy[rng.random(600) < 0.15] *= 3.0  # 15 % of runs hit a slow state
    l2 = train("ridge", X, noisy)
    l1 = train("ridge", X, noisy, loss="l1")
    assert np.max(np.abs(l1.predict(X) - y) / y) < 0.01 < np.max(np.abs(l2.predict(X) - y) / y)
    assert l1.model["loss"] == "l1" and "loss" not in l2.model
    # auto keeps the fit with the lower validation relative error: here the median one
    auto = train("additive-mlp", X[:500], noisy[:500], val=(X[500:], noisy[500:]), loss="auto", steps=100)
    assert auto.model.get("loss") == "l1"
    assert (
        Predictor(json.loads(json.dumps(auto.to_json()))).predict(X[:3]).tolist()
        == auto.predict(X[:3]).tolist()
    )


def test_adapt_writes_device_that_predict_accepts(help_nb201, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_EXPLORER_LUTS", str(tmp_path / "user"))
    y = help_nb201.latency["pixel3"]
    rows = np.random.default_rng(0).choice(900, 20, replace=False)
    meas = tmp_path / "m.csv"
    with open(meas, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_str", "latency_ms"])
        for i in rows:
            w.writerow([help_nb201.configs[i], y[i]])
    sources = [
        n
        for n in ("help-nb201-pixel2", "help-nb201-samsung_a50", "help-nb201-gold_6240")
        if n in {d["name"] for d in D.list_devices()}
    ]
    path = adapt(meas, "my-phone", sources=sources)
    assert path == tmp_path / "user" / "my-phone.json"
    dev = D.load_device("my-phone")
    test = np.arange(1000, 2000)
    pred = dev.predict("nb201", [help_nb201.configs[i] for i in test])
    assert spearman(pred, y[test]) > 0.8
    # a second adapt under the same name keeps a backup of the first
    adapt(meas, "my-phone", sources=sources[:1])
    assert (tmp_path / "user" / "my-phone.json.bak").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("arch_str\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    with pytest.raises(ExplorerError, match="latency_ms"):
        adapt(bad, "x")


def test_spearman_handles_ties():
    assert spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)
    assert spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    m = protocol_metrics([1.0, 2.15, 3.0], [1.0, 2.0, 3.0])
    assert m["within_10pct"] == 1.0 and m["within_5pct"] == pytest.approx(2 / 3, abs=1e-3)


def test_a_view_fit_takes_all_columns_and_predicts_as_fitted():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 12))
    y = 10 + X[:, 3] - 0.5 * X[:, 7] + 0.1 * X[:, 3] ** 2
    cols = [3, 5, 7]
    narrow = train("additive-mlp", X[:300, cols], y[:300], (X[300:, cols], y[300:]), steps=100, loss="l1")
    from explorer.latency.predictor import train_view

    wide = train_view("additive-mlp", X[:300], y[:300], cols, (X[300:], y[300:]), steps=100, loss="l1")
    assert wide.n_features == 12
    np.testing.assert_allclose(wide.predict(X), narrow.predict(X[:, cols]), rtol=1e-12)
    # the columns outside the view do not matter at all
    X2 = X.copy()
    X2[:, [0, 1, 11]] = 1e6
    np.testing.assert_array_equal(wide.predict(X2), wide.predict(X))


def test_adapted_device_notices_when_its_sources_change(help_nb201, tmp_path, monkeypatch, capsys):
    """A few-shot head was fitted on its sources' predictions: replacing a source predictor (a
    retrained shipped device, an edited user device) makes the head stale, and predict says so."""
    from explorer.cli import main as cli

    monkeypatch.setenv("NAS_EXPLORER_LUTS", str(tmp_path / "user"))
    X = help_nb201.X
    for col in ("gold_6226", "silver_4210r"):
        p = train("ridge", X[:900], help_nb201.latency[col][:900])
        D.save_device(NetworkDevice(f"src-{col}", ["nb201"], provenance(source="test"), p.to_json()))
    y = help_nb201.latency["gold_6240"]
    meas = tmp_path / "m.csv"
    with open(meas, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_str", "latency_ms"])
        for i in range(20):
            w.writerow([help_nb201.configs[i], y[i]])
    adapt(meas, "my-cpu", sources=["src-gold_6226", "src-silver_4210r"])
    dev = D.load_device("my-cpu")
    used = dev.model["sources"]
    assert used and dev.stale_sources() == []
    arch = tmp_path / "cell.csv"
    arch.write_text(f"arch_str\n{help_nb201.configs[5]}\n")
    assert cli(["latency", "predict", "--batch", str(arch), "--device", "my-cpu", "--json"]) == 0
    assert "warnings" not in json.loads(capsys.readouterr().out)
    # retrain one source the head uses on other data: the head is stale now
    other = train("ridge", X[:900], help_nb201.latency["pixel3"][:900])
    D.save_device(NetworkDevice(used[0], ["nb201"], provenance(source="test"), other.to_json()))
    assert D.load_device("my-cpu").stale_sources() == [used[0]]
    # the app's latency row says so too
    from explorer import live_metrics as LM
    from explorer.spaces import get_space

    entry = LM.predict_latency(get_space("nb201").encode({"arch_str": help_nb201.configs[5]}), "my-cpu")
    assert entry["value"] > 0 and "stale" in entry["confidence"] and used[0] in entry["confidence"]
    assert cli(["latency", "predict", "--batch", str(arch), "--device", "my-cpu", "--json"]) == 0
    out = capsys.readouterr()
    assert used[0] in json.loads(out.out)["warnings"][0] and "latency adapt" in out.err
