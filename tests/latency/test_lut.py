"""Layer-wise LUT over ArchGraph: OFA keys, sums, missing keys, calibration, resumable profiling,
device files (corrupt/partial rejected, backups), local devices and the `latency profile` CLI."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from explorer.errors import ExplorerError, FormatError
from explorer.latency import profile as L
from explorer.latency.device import MissingKeysError
from explorer.latency.keys import layer_specs, unique_specs
from explorer.latency.local import local_device, local_device_name, parse_local_name
from explorer.latency.lut import LutDevice
from explorer.latency.measure import MeasureConfig, Measurement, environment
from explorer.latency.metrics import accuracy
from explorer.latency.profile import fit_linear
from explorer.spaces import get_space

NOTE10 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ofa" / "note10_lut"
FAST = {"warmup": 1, "runs": 3, "min_time_s": 0.0, "max_attempts": 1}


class FakeMeasurer:
    """Deterministic stand-in for measuring a layer: ms from the key, calls recorded."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, spec, config):
        self.calls.append(spec.key)
        ms = 0.01 + (sum(map(ord, spec.key)) % 97) / 100
        return Measurement(ms, ms, ms, ms, 0.0, ms, 30)


def ofa_official_keys(cfg: dict, stem=24, first=24, widths=(32, 48, 96, 136, 192), final=1152, mix=1536):
    """OFA's MBv3LatencyTable.predict_network_latency_given_spec, re-typed: the keys it queries."""
    r = cfg["r"]
    f = (r + 1) // 2
    keys = [f"Conv-input:{r}x{r}x3-output:{f}x{f}x{stem}"]
    keys.append(
        f"expanded_conv-input:{f}x{f}x{stem}-output:{f}x{f}x{first}-expand:{first}-kernel:3-stride:1-idskip:1-se:0-hs:0"
    )
    strides, se, hs = [2, 2, 2, 1, 2], [0, 1, 0, 1, 1], [0, 0, 1, 1, 1]
    cin = first
    for i in range(20):
        s = i // 4
        if i % 4 + 1 > cfg["d"][s]:
            continue
        stride, idskip = (strides[s], 0) if i % 4 == 0 else (1, 1)
        out_f = int((f - 1) / stride + 1)
        mid = round(cin * cfg["e"][i])
        keys.append(
            f"expanded_conv-input:{f}x{f}x{cin}-output:{out_f}x{out_f}x{widths[s]}-expand:{mid}"
            f"-kernel:{cfg['ks'][i]}-stride:{stride}-idskip:{idskip}-se:{se[s]}-hs:{hs[s]}"
        )
        cin, f = widths[s], out_f
    keys += [
        f"Conv_1-input:{f}x{f}x{cin}-output:{f}x{f}x{final}",
        f"AvgPool2D-input:{f}x{f}x{final}-output:1x1x{final}",
        f"Conv_2-input:1x1x{final}-output:1x1x{mix}",
        f"Logits-input:1x1x{mix}-output:1000",
    ]
    return keys


def predict(dev, graph, **kw):
    """A graph's prediction, measuring missing keys where the device can (else raising)."""
    kw.setdefault("on_missing", "auto")
    return dev.predict_graph(graph, **kw)


def keys_of(graph):
    return [s.key for _, s in layer_specs(graph)]


# -- keys ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_ofa_keys_equal_official_format(seed):
    w12 = get_space("ofa-mbv3-w1.2")
    cfg = w12.sample(seed)
    assert keys_of(w12.encode(cfg)) == ofa_official_keys(cfg)
    w10 = get_space("ofa-mbv3-w1.0")
    cfg = w10.sample(seed)
    expected = ofa_official_keys(cfg, 16, 16, (24, 40, 80, 112, 160), 960, 1280)
    assert keys_of(w10.encode(cfg)) == expected


def _note10_device():
    yaml = pytest.importorskip("yaml")
    if not NOTE10.is_dir():
        pytest.skip("shared Note10 tables absent")
    table = {}
    for r in (160, 176, 192, 208, 224):
        with open(NOTE10 / f"{r}_lookup_table.yaml") as f:
            table.update(yaml.safe_load(f))
    return LutDevice("note10-test", table, {"hardware": "Samsung Note10"}, local=False)


def test_note10_tables_hold_our_keys_and_reproduce_official_figure():
    dev = _note10_device()
    sp = get_space("ofa-mbv3-w1.2")
    for seed in range(5):
        cfg = sp.sample(seed)
        cfg["r"] = (160, 176, 192, 208, 224)[seed]
        assert not dev.missing(keys_of(sp.encode(cfg)))
    assert predict(dev, sp.encode(sp.max_config(224))).ms == pytest.approx(92.4, abs=0.1)
    assert predict(dev, sp.encode(sp.max_config(160))).ms == pytest.approx(47.8, abs=0.1)


def test_device_files_share_the_registry_envelope(tmp_path):
    from explorer.latency import registry as devices

    dev = local_device(directory=tmp_path)
    nb = get_space("nb201")
    predict(dev, nb.encode(nb.sample(0)), measure=FakeMeasurer())
    other = devices.read_device_file(dev.path)  # the registry reads our local files
    assert other.kind == "lut" and other.spaces == ["nb201"]
    # and our object answers the registry's interface (batch predict on native configs)
    predict(dev, nb.encode(nb.sample(1)), measure=FakeMeasurer())
    ms = dev.predict("nb201", [nb.sample(0), nb.sample(1)], on_missing="error")
    assert ms.shape == (2,) and (ms > 0).all()
    assert dev.covers("ofa-mbv3") and dev.summary()["local"] is True
    shipped = Path(__file__).resolve().parents[2] / "luts" / "note10-ofa-w12.json"
    if shipped.exists():  # and we read its per-resolution OFA tables
        note10 = LutDevice.load(shipped)
        sp = get_space("ofa-mbv3-w1.2")
        assert predict(note10, sp.encode(sp.max_config(224))).raw_ms == pytest.approx(92.4, abs=0.1)
        with pytest.raises(ExplorerError, match="no table for resolution 164"):
            predict(note10, sp.encode(sp.max_config(164)))


def test_coverage_configs_hold_every_key():
    sp = get_space("ofa-mbv3-w1.0")
    cover = set(unique_specs(sp.encode(c) for c in L.coverage_configs(sp, [128])))
    for seed in range(10):
        cfg = sp.sample(seed)
        cfg["r"] = 128
        assert set(keys_of(sp.encode(cfg))) <= cover
    nb = get_space("nb201")
    cover = set(unique_specs(nb.encode(c) for c in L.coverage_configs(nb)))
    for seed in range(10):
        assert set(keys_of(nb.encode(nb.sample(seed)))) <= cover


# -- prediction ----------------------------------------------------------------------------------
def test_lut_sum_is_the_sum_of_table_entries_and_free_nodes_cost_nothing():
    nb = get_space("nb201")
    g = nb.encode(nb.sample(3))
    specs = layer_specs(g)
    table = {s.key: {"median": 0.001 * (i + 1), "mean": 5.0} for i, (_, s) in enumerate(specs)}
    dev = LutDevice("synthetic", table, {}, local=False)
    p = predict(dev, g)
    assert p.method == "lut" and not p.missing_keys
    assert p.raw_ms == pytest.approx(sum(table[s.key]["median"] for _, s in specs))
    assert len(p.layers) == len(specs)
    ops = {g.op(n) for n, _, _ in p.layers}
    assert not ops & {"input", "output", "skip_connect"}
    if "none" in [g.op(n) for n in g.nodes]:
        assert "none" in ops  # x * 0 runs a kernel: it has a (graph_lut) key
    # a table with only OFA-style means is summed by mean
    dev2 = LutDevice("means", {k: {"mean": 2.0} for k in table}, {}, local=False)
    assert predict(dev2, g).raw_ms == pytest.approx(2.0 * len(specs))


def test_calibration_is_applied_per_space():
    nb = get_space("nb201")
    g = nb.encode(nb.sample(1))
    table = {s.key: {"median": 0.1} for _, s in layer_specs(g)}
    dev = LutDevice("cal", table, {}, {"nb201": {"a": 2.0, "b": 1.0}, "*": {"a": 1.0, "b": 100.0}})
    p = predict(dev, g)
    assert p.method == "lut+calibration" and p.calibration == "nb201"
    assert p.ms == pytest.approx(2.0 * p.raw_ms + 1.0)
    assert predict(dev, g, calibrated=False).ms == pytest.approx(p.raw_ms)


def test_remote_device_reports_missing_keys_never_zero():
    nb = get_space("nb201")
    g = nb.encode(nb.sample(2))
    keys = keys_of(g)
    dev = LutDevice("phone", {k: {"mean": 1.0} for k in keys[1:]}, {"hardware": "phone"}, local=False)
    with pytest.raises(MissingKeysError, match="lacks 1 LUT key") as e:
        predict(dev, g)
    assert keys[0] in str(e.value) and e.value.keys == [keys[0]]
    p = predict(dev, g, on_missing="report")
    assert p.ms is None and p.missing_keys == [keys[0]] and "remote device" in p.reason
    assert p.as_dict()["latency_ms"] is None


def test_local_device_measures_missing_keys_on_demand(tmp_path):
    fake = FakeMeasurer()
    dev = local_device(directory=tmp_path)
    nb = get_space("nb201")
    g = nb.encode(nb.sample(5))
    p = predict(dev, g, measure=fake)
    unique = list(dict.fromkeys(keys_of(g)))
    rounds = dev.measure_config().rounds  # each key in `rounds` passes over the keys to do
    assert sorted(fake.calls) == sorted(unique * rounds) and not p.missing_keys
    assert fake.calls[: len(unique)] == unique
    assert dev.path.exists()
    saved = json.loads(dev.path.read_text())
    assert set(saved["tables"]["any"]) == set(unique) and saved["local"] is True
    fake.calls.clear()
    predict(LutDevice.load(dev.path), g, measure=fake)
    assert fake.calls == []  # cached


def test_local_device_real_measurement_on_demand(tmp_path):
    dev = local_device(directory=tmp_path, protocol=FAST)
    nb = get_space("nb201")
    p = predict(dev, nb.encode(nb.sample(7)))
    assert p.ms > 0 and not p.missing_keys
    e = next(iter(dev.table.values()))
    assert e["count"] >= 3 and e["p10"] <= e["median"] <= e["p90"]
    prov = json.loads(dev.path.read_text())["provenance"]
    assert prov["threads"] == 1 and prov["runtime"] == "torch" and prov["batch"] == 1
    assert prov["versions"]["torch"] and prov["cpu_model"] and prov["protocol"]["runs"] == 3


def test_local_table_of_another_machine_is_not_measured_here(tmp_path):
    dev = local_device(directory=tmp_path)
    dev.provenance["hardware"] = "Some Other CPU"
    nb = get_space("nb201")
    with pytest.raises(MissingKeysError, match="measured elsewhere"):
        predict(dev, nb.encode(nb.sample(0)), measure=FakeMeasurer())


# -- calibration ---------------------------------------------------------------------------------
def test_fit_recovers_known_line():
    x = [1.0, 2.5, 4.0, 7.0, 9.0, 12.0]
    a, b = fit_linear(x, [1.7 * v + 0.6 for v in x])
    assert a == pytest.approx(1.7) and b == pytest.approx(0.6)
    a, b = fit_linear(x, [1.7 * v + 0.6 for v in x], relative=False)
    assert a == pytest.approx(1.7) and b == pytest.approx(0.6)
    assert fit_linear([2.0], [3.0]) == (pytest.approx(1.5), 0.0)
    a, b = fit_linear([10.0, 11.0], [20.0, 19.0])  # a falling line is noise: pure scale instead
    assert a > 0 and b == 0.0
    with pytest.raises(ExplorerError):
        fit_linear([], [])


def test_calibrate_from_pairs_stores_raw_and_calibrated_accuracy(tmp_path):
    dev = local_device(directory=tmp_path)
    pairs = [(v, 2.0 * v + 1.0) for v in (1.0, 2.0, 3.0, 5.0, 8.0)]
    rec = L.calibrate(dev, [], space="nb201", pairs=pairs)
    assert rec["a"] == pytest.approx(2.0) and rec["b"] == pytest.approx(1.0)
    assert rec["calibrated"]["within_10"] == 1.0 and rec["raw"]["within_10"] == 0.0
    assert json.loads(dev.path.read_text())["calibration_by_space"]["nb201"]["n"] == 5
    one = L.calibrate(dev, [], space="ofa-mbv3-w1.0", pairs=[(2.0, 3.0)])  # a single net: a pure scale
    assert one["a"] == pytest.approx(1.5) and one["raw"]["spearman"] is None
    assert LutDevice.load(dev.path).calibration["ofa-mbv3-w1.0"]["n"] == 1


def test_calibrate_measures_networks_and_resumes(tmp_path):
    fake = FakeMeasurer()
    nets = []

    def net(g, cfg):
        nets.append(g.name)
        raw = sum(fake(s, cfg).median_ms for _, s in layer_specs(g))
        ms = 3.0 * raw + 2.0
        return Measurement(ms, ms, ms, ms, 0.0, ms, 30)

    dev = local_device(directory=tmp_path)
    nb = get_space("nb201")
    graphs = [nb.encode(nb.sample(i)) for i in range(4)]
    rec = L.calibrate(dev, graphs, measure=fake, measure_net=net)
    assert rec["a"] == pytest.approx(3.0) and rec["b"] == pytest.approx(2.0, abs=1e-6)
    rounds = dev.measure_config().rounds
    assert len(dev.networks["nb201"]) == 4 and len(nets) == 4 * rounds
    assert nets[:4] == [g.name for g in graphs]  # rounds are passes over all the nets
    assert all(r["rounds"] == rounds for r in dev.networks["nb201"])
    L.calibrate(LutDevice.load(dev.path), graphs, measure=fake, measure_net=net)
    assert len(nets) == 4 * rounds  # already measured networks are reused


def test_accuracy_metrics():
    m = accuracy([1.0, 2.0, 3.3, 4.0], [1.0, 2.1, 3.0, 4.0])
    assert m["spearman"] == 1.0 and m["within_10"] == 1.0 and m["within_5"] == 0.75
    assert m["rmse_ms"] == pytest.approx(math.sqrt((0.01 + 0.09) / 4), abs=1e-4)


# -- profiling and files -------------------------------------------------------------------------
def test_profile_resumes_where_it_stopped(tmp_path):
    sp = get_space("ofa-mbv3-w1.0")
    specs = unique_specs(sp.encode(c) for c in L.sample_configs(sp, 3, 0, [128, 160]))
    fake = FakeMeasurer()
    dev = local_device(directory=tmp_path)
    r1 = L.profile(dev, specs, should_stop=lambda n: n >= 7, save_every=3, measure=fake)
    assert r1.stopped and len(r1.measured) == 7
    first = list(fake.calls)
    fake.calls.clear()
    dev2 = local_device(directory=tmp_path)  # a fresh process would find the file
    assert set(dev2.table) == set(first)
    r2 = L.profile(dev2, specs, measure=fake)
    assert not r2.stopped and sorted(r2.skipped) == sorted(first)
    rest = sorted(set(specs) - set(first))
    assert sorted(set(fake.calls)) == rest and len(fake.calls) == len(rest) * dev2.measure_config().rounds
    assert set(LutDevice.load(dev2.path).table) == set(specs)


def test_interrupted_profile_keeps_what_was_measured(tmp_path):
    nb = get_space("nb201")
    specs = unique_specs([nb.encode(nb.sample(0))])
    calls = []

    def flaky(spec, cfg):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(spec.key)
        return FakeMeasurer()(spec, cfg)

    dev = local_device(directory=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        L.profile(dev, specs, save_every=100, measure=flaky)
    assert set(LutDevice.load(dev.path).table) == set(calls)


def test_save_is_atomic_with_backup(tmp_path):
    dev = LutDevice("d", {"A": {"median": 1.0}}, {}, local=True, path=tmp_path / "d.json")
    dev.save()
    assert not (tmp_path / "d.json.bak").exists()
    dev.table["B"] = {"median": 2.0}
    dev.save()
    assert set(json.loads((tmp_path / "d.json.bak").read_text())["tables"]["any"]) == {"A"}
    assert set(json.loads((tmp_path / "d.json").read_text())["tables"]["any"]) == {"A", "B"}
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda t: t[: len(t) // 2], "corrupt device file"),
        (lambda t: json.dumps({**json.loads(t), "tables": None}), "'tables' is missing"),
        (lambda t: json.dumps({**json.loads(t), "format": "x"}), "not a device file"),
        (lambda t: json.dumps({**json.loads(t), "tables": {"any": {"K": {"median": -1}}}}), "'K'"),
        (
            lambda t: json.dumps({**json.loads(t), "tables": {"any": {"K": {"count": 3}}}}),
            "lacks a valid 'median'",
        ),
        (lambda t: json.dumps({**json.loads(t), "calibration_by_space": {"*": {"a": 1}}}), "calibration"),
    ],
)
def test_corrupt_or_partial_file_is_rejected(tmp_path, mutate, match):
    dev = LutDevice("d", {"A": {"median": 1.0}}, {}, local=True, path=tmp_path / "d.json")
    dev.save()
    p = tmp_path / "d.json"
    p.write_text(mutate(p.read_text()))
    with pytest.raises(FormatError, match=match):
        LutDevice.load(p)


def test_local_device_rejects_other_runtime_version_and_restart_keeps_backup(tmp_path):
    dev = local_device(directory=tmp_path)
    dev.table["A"] = {"median": 1.0}
    dev.provenance["runtime_version"] = "0.0.1"
    dev.save()
    with pytest.raises(ExplorerError, match="runtime_version '0.0.1'"):
        local_device(directory=tmp_path)
    fresh = local_device(directory=tmp_path, restart=True)
    assert fresh.table == {}
    fresh.table["B"] = {"median": 1.0}
    fresh.save()
    assert "A" in json.loads(fresh.path.with_name(fresh.path.name + ".bak").read_text())["tables"]["any"]


def test_local_names():
    assert parse_local_name("local") == ("torch", 1, 1)
    assert parse_local_name("local-cpu-ort-1t-b8") == ("onnxruntime", 1, 8)
    assert parse_local_name("local-cpu-torch-allt")[0] == "torch"
    assert parse_local_name(local_device_name("onnxruntime", 2, 4)) == ("onnxruntime", 2, 4)
    assert parse_local_name("note10-w12") is None
    assert local_device_name().endswith("-torch-1t")


def test_environment_is_recorded_in_new_local_device(tmp_path):
    dev = local_device("onnxruntime", 1, 2, directory=tmp_path)
    env = environment(MeasureConfig(runtime="onnxruntime", batch=2))
    assert dev.provenance["runtime_version"] == env["runtime_version"]
    assert dev.provenance["batch"] == 2 and dev.name.endswith("-ort-1t-b2")
    assert dev.measure_config().runtime == "onnxruntime"


# -- CLI -----------------------------------------------------------------------------------------
def _cli(argv):
    from explorer.commands.latency_profile import add_profile_parser

    parser = argparse.ArgumentParser()
    add_profile_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["profile", *argv])
    return args.handler(args)


def test_profile_cli_stops_resumes_and_calibrates(tmp_path, capsys):
    common = ["--space", "nb201", "--samples", "1", "--dir", str(tmp_path), "--warmup", "1", "--runs", "3"]
    common += ["--attempts", "1", "--quiet", "--json"]
    assert _cli([*common, "--max-keys", "4", "--calibrate", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["measured"] == 4 and out["stopped"] and out["keys_needed"] > 4
    assert _cli([*common, "--calibrate", "2"]) == 0
    out2 = json.loads(capsys.readouterr().out)
    assert out2["skipped"] == 4 and out2["measured"] == out["keys_needed"] - 4
    assert out2["calibration"]["nb201"]["n"] == 2
    saved = json.loads(Path(out2["path"]).read_text())
    assert saved["provenance"]["covers"]["spaces"] == ["nb201"]
    assert "by_kind" not in saved["calibration_by_space"]["nb201"]
    # per kind: 2 nets are too few for a scale per kind, so the record says it is the pooled fit
    assert _cli([*common, "--calibrate", "2", "--by-kind"]) == 0
    cal = json.loads(capsys.readouterr().out)["calibration"]["nb201"]
    assert cal["by_kind"] == {} and cal["ridge"] is None and cal["n"] == 2


def test_profile_cli_bad_input():
    with pytest.raises(ExplorerError):
        _cli(["--space", "nope"])
    with pytest.raises(ExplorerError, match="resolutions"):
        _cli(["--space", "ofa-mbv3-w1.0", "--resolutions", "100"])


def test_profile_cli_statistic_and_rounds(tmp_path, capsys):
    common = ["--space", "nb201", "--samples", "1", "--dir", str(tmp_path), "--warmup", "1", "--runs", "3"]
    common += ["--attempts", "1", "--quiet", "--json", "--calibrate", "0", "--max-keys", "2"]
    assert _cli([*common, "--statistic", "median", "--rounds", "1"]) == 0
    path = Path(json.loads(capsys.readouterr().out)["path"])
    saved = json.loads(path.read_text())
    assert saved["provenance"]["protocol"]["statistic"] == "median"
    assert saved["provenance"]["protocol"]["rounds"] == 1
    # resuming with another statistic would mix figures in one table: refused, nothing changed
    before = path.read_bytes()
    with pytest.raises(ExplorerError, match=r"statistic 'median' \(asked 'min'\).*--restart"):
        _cli([*common, "--statistic", "min"])
    assert path.read_bytes() == before
    # the same protocol resumes; --restart starts afresh with the new one
    assert _cli([*common, "--statistic", "median"]) == 0
    capsys.readouterr()
    assert _cli([*common, "--statistic", "min", "--rounds", "2", "--restart"]) == 0
    saved = json.loads(path.read_text())
    assert saved["provenance"]["protocol"]["statistic"] == "min"
    assert saved["provenance"]["protocol"]["rounds"] == 2
    with pytest.raises(SystemExit):
        _cli(["--space", "nb201", "--statistic", "mean"])
