"""The proxies' trust figures (explorer.proxies.trust): bootstrap intervals with known answers on
synthetic samples, population proxies re-aggregated within each resample exactly as the registry
aggregates a population, the paired ensemble-minus-best difference, the shipped NB201 sample, its
build from the benchmark's lines, the cost measurement and `nas-explorer estimate trust`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from explorer.errors import ExplorerError, FormatError
from explorer.proxies import trust, trust_build
from explorer.proxies.population import population_scores
from explorer.proxies.registry import ProxySettings, ProxyValue, ensemble_value, get_proxy
from tests.arch_fuzzing import run_cli

stats = pytest.importorskip("scipy.stats")


def synthetic(n: int = 150, seed: int = 0, perfect: str | None = "params", random: str | None = "zen"):
    """A sample with a known answer: `perfect` ranks as the accuracy does, `random` is unrelated
    noise, the others are the accuracy plus independent noise (AZ-NAS' components: twice as much)."""
    rng = np.random.default_rng(seed)
    acc = rng.normal(size=n)
    cells = []
    for i in range(n):
        values = {k: float(acc[i] + rng.normal()) for k in trust.member_keys() if k != "az-nas"}
        if perfect:
            values[perfect] = float(3 * acc[i] + 1)
        if random:
            values[random] = float(rng.normal())
        values.update({f"az-nas:{p}": float(acc[i] + 2 * rng.normal()) for p in trust.COMPONENTS})
        values["az-nas:progressivity"] = None if i % 17 == 0 else values["az-nas:progressivity"]  # failed
        cells.append(
            {
                "arch_index": i,
                "arch_str": f"cell{i}",
                "accuracy": {"test": float(acc[i]), "valid": float(acc[i])},
                "values": values,
                "seconds": {k: 0.1 * (j + 1) for j, k in enumerate(trust.member_keys())},
            }
        )
    return trust.TrustData({"format": trust.FORMAT, "n": n, "cells": cells})


def test_perfect_proxy_gives_one_with_a_tight_interval_and_random_one_covers_zero():
    data = synthetic()
    table = trust.trust_table(data, ["gradsign", "meco"], resamples=300)
    rows = {r["key"]: r for r in table["rows"]}
    assert [r["key"] for r in table["rows"]] == [*trust.member_keys(), trust.ENSEMBLE]
    perfect = rows["params"]
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["kendall"] == pytest.approx(1.0)
    assert perfect["spearman_ci"] == pytest.approx([1.0, 1.0]) and perfect["kendall_ci"] == pytest.approx(
        [1.0, 1.0]
    )
    rnd = rows["zen"]
    assert abs(rnd["spearman"]) < 0.2 and abs(rnd["kendall"]) < 0.2
    assert rnd["spearman_ci"][0] < 0 < rnd["spearman_ci"][1]
    assert rnd["kendall_ci"][0] < 0 < rnd["kendall_ci"][1]
    for r in table["rows"]:  # each interval brackets its point
        for s in ("spearman", "kendall"):
            assert r[f"{s}_ci"][0] <= r[s] + 1e-12 and r[s] <= r[f"{s}_ci"][1] + 1e-12
    # the ensemble costs the sum of its members per network
    assert rows[trust.ENSEMBLE]["seconds"] == pytest.approx(
        rows["gradsign"]["seconds"] + rows["meco"]["seconds"]
    )


def test_population_proxies_are_reaggregated_within_each_resample():
    """Resample by resample, AZ-NAS and the (default) ensemble equal the registry's own population
    scores of the expanded resample (the population), scored by scipy."""
    data = synthetic(n=40, seed=3)
    members = get_proxy("ensemble").members
    y = data.accuracy()
    w = trust.resample_counts(data.n, 5, seed=7)
    for key in ("az-nas", "ensemble"):
        rho, tau = trust.statistics(data, key, members=members, resamples=5, seed=7)
        for b in range(5):
            idx = np.repeat(np.arange(data.n), w[b].astype(int))
            values = [_value(data.cells[i], key, members) for i in idx]
            direct = np.array(population_scores(key, values), dtype=float)
            assert rho[b + 1] == pytest.approx(stats.spearmanr(direct, y[idx]).statistic, abs=1e-10)
            assert tau[b + 1] == pytest.approx(stats.kendalltau(direct, y[idx]).statistic, abs=1e-10)
        # the whole sample first: the population is the sample itself
        full = np.array(population_scores(key, [_value(c, key, members) for c in data.cells]), dtype=float)
        assert rho[0] == pytest.approx(stats.spearmanr(full, y).statistic, abs=1e-10)
    # re-aggregating matters: the resampled AZ-NAS is not the full sample's aggregate resampled
    fixed = np.array(population_scores("az-nas", [_value(c, "az-nas", members) for c in data.cells]))
    idx = np.repeat(np.arange(data.n), w[0].astype(int))
    again = np.array(population_scores("az-nas", [_value(data.cells[i], "az-nas", members) for i in idx]))
    assert not np.allclose(fixed[idx], again)


def _value(cell: dict, key: str, members) -> ProxyValue:
    def nan(v):
        return math.nan if v is None else v

    az = ProxyValue("az-nas", None, {p: nan(cell["values"][f"az-nas:{p}"]) for p in trust.COMPONENTS})
    if key == "az-nas":
        return az
    vals = {m: ProxyValue(m, nan(cell["values"][m])) for m in members if m != "az-nas"}
    vals["az-nas"] = az
    return ensemble_value(get_proxy("ensemble"), vals)


def test_paired_difference_says_better_or_worse_only_when_the_interval_excludes_zero():
    data = synthetic(n=200, seed=1)
    # the perfect proxy and noise: worse than the perfect proxy alone in every resample
    worse = trust.trust_table(data, ["params", "zen"], resamples=200)["ensemble_vs_best"]["spearman"]
    assert worse["best"] == "params" and worse["ci"][1] < 0 and worse["verdict"] == "worse"
    # three noisy copies of the accuracy average their noise out: better than any one of them
    noisy = synthetic(n=200, seed=1, perfect=None, random=None)
    v = trust.trust_table(noisy, ["gradsign", "meco", "zico"], resamples=200)["ensemble_vs_best"]["spearman"]
    assert v["ci"][0] > 0 and v["verdict"] == "better"


def test_members_and_resamples_are_checked():
    assert trust.parse_members("meco, az-nas") == ("meco", "az-nas")
    with pytest.raises(ExplorerError, match="unknown ensemble member 'nope'"):
        trust.parse_members("meco,nope")
    with pytest.raises(ExplorerError, match="at least one member"):
        trust.parse_members("")
    with pytest.raises(ExplorerError, match="resamples"):
        trust.resample_counts(10, 0)


def test_shipped_sample_loads_and_every_proxy_has_figures():
    data = trust.load()
    assert data is not None, "explorer/_data/proxy_trust_nb201.json ships"
    prov = data.provenance
    assert prov["n"] == data.n >= 500 and prov["sample"]["seed"] == 0
    assert "nb201_cifar10_200ep.csv" in prov["accuracy_source"] and prov["date"] and prov["machine"]
    assert set(prov["settings"]["proxies"]) == set(trust.member_keys())
    assert len({c["arch_index"] for c in data.cells}) == data.n
    table = trust.trust_table(data, resamples=30)
    assert [r["key"] for r in table["rows"]] == [*trust.member_keys(), trust.ENSEMBLE]
    for r in table["rows"]:
        assert all(
            math.isfinite(v) for v in (r["spearman"], r["kendall"], *r["spearman_ci"], *r["kendall_ci"])
        )
        assert r["seconds"] > 0
    assert table["ensemble_vs_best"]["spearman"]["verdict"] in ("better", "worse", "not distinguishable")


def test_shipped_accuracies_are_the_shared_nb201_table(shared_data):
    import csv

    with open(shared_data / "nb201" / "nb201_cifar10_200ep.csv", newline="") as f:
        table = {int(r["arch_index"]): r for r in csv.DictReader(f)}
    for c in trust.require().cells[:50]:
        row = table[c["arch_index"]]
        assert c["arch_str"] == row["arch_str"]
        assert c["accuracy"]["test"] == float(row["cifar10_test_trainval"])


def test_build_from_benchmark_lines(tmp_path):
    rows = [f"{i},|cell{i}|,{90 - i / 4},{80 - i / 8}" for i in range(20)]
    csv_path = tmp_path / "nb201.csv"
    csv_path.write_text(
        "arch_index,arch_str,cifar10_test_trainval,cifar10valid_valid\n" + "\n".join(rows) + "\n"
    )
    pick = [int(i) for i in np.random.default_rng(5).choice(20, 6, replace=False)]

    def line(i):
        r = {"arch_index": i, "test": 90 - i / 4, "zen_s": 2.0}
        for c in trust.COLUMNS:
            r[c.seconds] = r.get(c.seconds, 0.5)
            r.update({f"az_{p}": float(i) for p in c.parts} if c.parts else {c.source: float(i)})
        r["az_expressivity"] = -math.inf if i == pick[1] else 1.0
        return json.dumps(r)

    a, b = tmp_path / "s0.jsonl", tmp_path / "s1.jsonl"
    a.write_text(line(pick[0]) + "\n" + line(pick[2]) + "\n")  # out of order, across shards
    b.write_text(line(pick[1]) + "\n" + json.dumps({"arch_index": pick[3], "params": 1}) + "\n")  # incomplete
    doc = trust_build.build([a, b], csv_path, seed=5, n_planned=6, machine="test box", date="2000-01-01")
    assert [c["arch_index"] for c in doc["cells"]] == pick[:3]  # the sample's order
    assert doc["n"] == 3 and doc["sample"]["incomplete_skipped"] == 1
    c1 = doc["cells"][1]
    assert c1["values"]["az-nas:expressivity"] is None  # -inf: failed, stored as null (strict JSON)
    assert c1["arch_str"] == f"|cell{pick[1]}|" and c1["accuracy"]["valid"] == 80 - pick[1] / 8
    assert c1["seconds"]["zen"] == pytest.approx(1.0)  # both Zen variants timed together: half each
    out = tmp_path / "trust.json"
    out.write_text(json.dumps(doc, allow_nan=False))
    assert trust.load(out).n == 3
    stray = next(i for i in range(20) if i not in pick)
    b.write_text(line(stray) + "\n")
    with pytest.raises(FormatError, match="not in the seed-5 sample"):
        trust_build.build([a, b], csv_path, seed=5, n_planned=6)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(FormatError, match="damaged proxy trust sample"):
        trust.load(bad)


def test_measure_costs_times_every_proxy_and_sums_the_ensemble():
    from explorer.spaces.nb201 import NB201Space

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cells = trust.require().arch_strs()[:2]
        res = trust.measure_costs(
            cells,
            ["meco", "synflow"],
            space=NB201Space(channels=8, cells_per_stage=1),
            settings=ProxySettings.live(),
        )
    finally:
        torch.set_num_threads(threads)
    assert res["cells"] == 2 and res["preset"] == "live"
    assert set(res["seconds"]) == {*trust.member_keys(), trust.ENSEMBLE}
    assert all(s > 0 for s in res["seconds"].values())
    per = res["per_cell"]
    assert res["seconds"]["ensemble"] == pytest.approx(
        np.median([a + b for a, b in zip(per["meco"], per["synflow"])])
    )
    assert trust.costs_of(per, ["zico"])["ensemble"] == pytest.approx(res["seconds"]["zico"])


def test_cli_prints_the_table_and_strict_json():
    rc, out, err = run_cli(["estimate", "trust", "--members", "az-nas,meco", "--resamples", "30", "--json"])
    assert rc == 0, err
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert doc["members"] == ["meco", "az-nas"] and doc["resamples"] == 30
    assert {r["key"] for r in doc["rows"]} == {*trust.member_keys(), trust.ENSEMBLE}
    assert doc["ensemble_vs_best"]["spearman"]["best"] in trust.member_keys()
    rc, out, _ = run_cli(["estimate", "trust", "--resamples", "30"])
    assert rc == 0
    lines = out.splitlines()
    assert "NB201 cells" in lines[0] and "Spearman rho [95 % CI]" in lines[1]
    table = lines[3:-1]  # caption, header, rule, one line per proxy and the ensemble, the verdict
    assert len(table) == len(trust.member_keys()) + 1
    assert all(ln.count("[") == 2 and ln.endswith("s") for ln in table)
    assert "Ensemble (" in out and "paired bootstrap" in lines[-1]
    rc, _, err = run_cli(["estimate", "trust", "--members", "az-nas,bogus"])
    assert rc == 2 and "unknown ensemble member 'bogus'" in err
