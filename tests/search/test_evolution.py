"""Evolutionary search, accuracy predictors and the Note10 look-up tables."""

from __future__ import annotations

import random

import pytest

from explorer.errors import ExplorerError
from explorer.progress import Cancelled
from explorer.search.evolution import ConfigOps, EvolutionSearch
from explorer.search.ofa_lut import LUTLatency
from explorer.search.predictor import AccuracyPredictor, encode, train_predictor

MAX = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5}
MIN = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def test_encoding_follows_the_official_layout():
    cfg = {"ks": [3, 5, 7, 7] * 5, "e": [4, 6, 3, 3] * 5, "d": [2, 3, 4, 2, 3], "r": 208}
    x = encode(cfg)
    assert x.shape == (128,) and x.sum() == 2 * (2 + 3 + 4 + 2 + 3) + 1
    assert (
        x[0 * 3 + 0] == 1 and x[1 * 3 + 1] == 1 and x[2 * 3 : 2 * 3 + 3].sum() == 0
    )  # block 2 beyond depth 2
    assert x[60 + 0 * 3 + 1] == 1 and x[60 + 1 * 3 + 2] == 1
    assert x[120 + (208 - 112) // 16] == 1
    with pytest.raises(ExplorerError):
        encode(dict(cfg, r=32))


def test_official_predictor_ranks_max_above_min():
    p = AccuracyPredictor.official_w12()
    big, small = p.predict([dict(MAX, r=224), dict(MIN, r=160)])
    assert 0.80 < big < 0.86 and 0.70 < small < big


def test_note10_table_reproduces_official_latency():
    lut = LUTLatency()
    assert lut.resolutions == [160, 176, 192, 208, 224]
    assert lut(dict(MAX, r=224)) == pytest.approx(92.4, abs=0.05)
    assert lut(dict(MAX, r=160)) == pytest.approx(47.8, abs=0.05)
    with pytest.raises(ExplorerError, match="resolution"):
        lut(dict(MAX, r=200))


@pytest.mark.parametrize(("budget", "expected"), [(15, 78.4), (25, 81.7), (33, 83.0)])
def test_tutorial_search_results_within_half_a_point(budget, expected):
    """OFA tutorial: Note10 15/25/33 ms -> 78.4/81.7/83.0 % predicted (pop 100, 500 gens; 30 suffice here)."""
    lut = LUTLatency()
    search = EvolutionSearch(
        ConfigOps(lut.resolutions), AccuracyPredictor.official_w12(), lut, budget, generations=30, seed=0
    )
    res = search.run()
    assert res.latency_ms <= budget
    assert abs(res.accuracy * 100 - expected) <= 0.5
    assert res.history == sorted(res.history)  # best-so-far never decreases


def test_search_resamples_infeasible_and_reports_impossible_budgets():
    ops = ConfigOps([160, 224])

    def latency(c):
        return sum(c["d"]) + c["r"] / 100

    def acc(cs):
        return [sum(c["ks"]) + sum(c["e"]) for c in cs]

    res = EvolutionSearch(ops, acc, latency, 14.0, population=20, generations=5, seed=1).run()
    assert latency(res.config) <= 14.0
    with pytest.raises(ExplorerError, match="no subnet"):
        EvolutionSearch(ops, acc, latency, 1.0, population=4, generations=1, max_tries=50).run()
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 2

    progress = []
    with pytest.raises(Cancelled):
        EvolutionSearch(ops, acc, latency, 14.0, population=8, generations=10).run(progress.append, stop)
    assert [p.step for p in progress] == [1, 2]


def test_trained_predictor_fits_a_known_function(tmp_path):
    rng = random.Random(0)
    ops = ConfigOps([32])
    configs = [ops.sample(rng) for _ in range(250)]

    def truth(c):
        return 0.3 + 0.02 * sum(c["d"]) + 0.002 * sum(c["e"][i] for i in range(20))

    pred = train_predictor(configs[:200], [truth(c) for c in configs[:200]], epochs=40, seed=0)
    test = configs[200:]
    err = sum(abs(p - truth(c)) for p, c in zip(pred.predict(test), test)) / len(test)
    spread = max(truth(c) for c in test) - min(truth(c) for c in test)
    assert err < 0.2 * spread
    pred.save(tmp_path / "p.pt")
    again = AccuracyPredictor.load(tmp_path / "p.pt")
    assert again.r_base == 32 and again.predict(test[:3]) == pytest.approx(pred.predict(test[:3]))
