"""The proxy registry: every registered proxy computes through one entry point, equals its own
function on the same seeded build, and population scores are the AZ-NAS log-rank arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.arch import build_model
from explorer.errors import ExplorerError
from explorer.proxies import ProxyError, aznas_scores, log_rank_sum, meco, zen_score, zico
from explorer.proxies.population import percentile, population_scores
from explorer.proxies.registry import (
    ProxySettings,
    ProxyValue,
    compute,
    compute_many,
    expand,
    get_proxy,
    list_proxies,
    parse_proxies,
    proxy_names,
)
from explorer.spaces.nb201 import NB201Space
from tests.proxies.cells import CELLS

SMALL = ProxySettings.official(batch={"zen": 8, "gradsign": 8, "naswot": 16, "zico": 16, "az-nas": 8})


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def cell(arch: str):
    return NB201Space(channels=8, cells_per_stage=1).encode({"arch_str": arch})


@pytest.fixture(scope="module")
def scored():
    names = proxy_names()
    torch.set_num_threads(1)
    return [compute_many(cell(a), names, SMALL) for a in CELLS]


def test_every_registered_proxy_computes_on_a_real_cell(scored):
    assert {"zen", "gradsign", "synflow", "naswot", "zico", "meco", "az-nas", "ensemble"} <= set(
        proxy_names()
    )
    for values in scored:
        for p in list_proxies():
            v = values[p.name]
            assert v.ok, (p.name, v.message)
            if p.population:
                assert v.score is None and v.parts
                assert all(math.isfinite(x) or x == -math.inf for x in v.parts.values())
            else:
                assert isinstance(v.score, float) and math.isfinite(v.score)


def test_registry_equals_the_proxy_functions_on_the_same_seeded_build(scored):
    from explorer.data import gradsign_batch

    g = cell(CELLS[0])
    images, labels = gradsign_batch(16, 32)
    assert scored[0]["zico"].score == zico(build_model(g, seed=0), images, labels).score
    assert scored[0]["meco"].score == meco(build_model(g, seed=0), images[:1]).score
    zen = zen_score(build_model(g, residual_free=True, seed=0), batch_size=8, seed=0)
    assert scored[0]["zen"].score == pytest.approx(zen.score, rel=1e-12)
    assert compute("params", g).score == sum(p.numel() for p in build_model(g).parameters())


def test_population_scores_are_the_log_rank_sums(scored):
    az = [v["az-nas"] for v in scored]
    assert population_scores("az-nas", az) == pytest.approx(aznas_scores([v.parts for v in az]))
    members = get_proxy("ensemble").members
    columns = []
    for m in members:
        if get_proxy(m).population:
            columns.append(population_scores(m, [v[m] for v in scored]))
        else:
            columns.append([v[m].score for v in scored])
    want = log_rank_sum(columns)
    got = population_scores("ensemble", [v["ensemble"] for v in scored])
    assert got == pytest.approx(list(want))
    assert population_scores("zico", [v["zico"] for v in scored]) == [v["zico"].score for v in scored]


def test_percentile_places_one_network_in_a_reference_sample(scored):
    zs = [v["zico"] for v in scored]
    best = int(np.argmax([v.score for v in zs]))
    others = [v for i, v in enumerate(zs) if i != best]
    assert percentile("zico", zs[best], others) == 100.0
    worst = int(np.argmin([v.score for v in zs]))
    assert percentile("zico", zs[worst], [v for i, v in enumerate(zs) if i != worst]) == 0.0
    ens = [v["ensemble"] for v in scored]
    p = percentile("ensemble", ens[0], ens[1:])
    assert p is not None and 0.0 <= p <= 100.0
    assert percentile("zico", ProxyValue("zico", None, message="failed"), others) is None


def test_failures_are_kept_per_proxy_and_ensembles_say_which_member_failed():
    g = cell(CELLS[0])
    bad = ProxySettings.official(batch={"naswot": 1})  # NASWOT needs two images at the least
    values = compute_many(g, ["naswot", "params"], bad)
    assert values["naswot"].message and values["params"].ok
    with pytest.raises(ExplorerError):
        compute("naswot", g, bad)


def test_names_parse_and_ensembles_expand_to_their_members():
    assert parse_proxies("zen, az-nas,zen") == ["zen", "az-nas"]
    with pytest.raises(ProxyError, match="unknown proxy"):
        parse_proxies("zen,nope")
    with pytest.raises(ProxyError):
        get_proxy(["zen"])
    assert expand(["ensemble", "zen"]) == [*get_proxy("ensemble").members, "ensemble", "zen"]
