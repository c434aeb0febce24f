"""Search spaces: official counts, exact NB201 parameters, sampling, round trips, mutation."""

from __future__ import annotations

import csv

import pytest
import torch

from explorer.arch import build_model, count_complexity, from_json, to_json
from explorer.errors import ConfigError
from explorer.spaces import get_space, list_spaces
from explorer.spaces.nb201 import EDGES, parse_arch_str
from tests.arch_helpers import torch_macs, torch_params
from tests.conftest import shared_file

SPACES = ["ofa-mbv3-w1.0", "ofa-mbv3-w1.2", "nb201"]


def test_registry_lists_the_spaces():
    assert sorted(s.name for s in list_spaces()) == sorted(SPACES)
    assert get_space("nb201").size() == 15625
    assert get_space("ofa-mbv3-w1.0").size() == (9**2 + 9**3 + 9**4) ** 5 * 25
    with pytest.raises(ConfigError, match="unknown search space"):
        get_space("darts")


@pytest.mark.parametrize("name", SPACES)
def test_samples_build_run_and_round_trip(name):
    sp = get_space(name)
    for seed in range(2):
        cfg = sp.sample(seed)
        assert sp.sample(seed) == cfg
        g = sp.encode(cfg)
        assert from_json(to_json(g)) == g
        assert sp.decode(g) == sp.check(cfg)
        res = 32
        g.set_params("input", resolution=res)
        model = build_model(g, seed=seed)
        out = model(torch.randn(2, 3, res, res))
        assert out.shape == (2, 1000 if name.startswith("ofa") else 10)
        assert count_complexity(g).params == torch_params(model)


@pytest.mark.parametrize("name", SPACES)
def test_mutation_and_crossover_stay_in_the_space(name):
    sp = get_space(name)
    a, b = sp.sample(1), sp.sample(2)
    for s in range(20):
        m = sp.mutate(a, seed=s)
        assert sp.check(m) == m
        c = sp.crossover(a, b, seed=s)
        assert sp.check(c) == c
    assert sp.mutate(a, seed=3) == sp.mutate(a, seed=3)
    if name == "nb201":
        assert sp.mutate(a, seed=0) != a


def test_ofa_w10_official_counts():
    sp = get_space("ofa-mbv3-w1.0")
    assert count_complexity(sp.encode(sp.max_config(224))).params == 7_664_760
    assert count_complexity(sp.encode(sp.min_config(224))).params == 3_410_792
    assert round(count_complexity(sp.encode(sp.max_config(200))).macs / 1e6, 1) == 479.5


def test_ofa_counts_equal_the_torch_model_and_hooks():
    sp = get_space("ofa-mbv3-w1.2")
    g = sp.encode(dict(sp.sample(11), r=160))
    model = build_model(g, seed=0)
    c = count_complexity(g)
    assert c.params == torch_params(model)
    assert c.macs == torch_macs(model, torch.randn(1, 3, 160, 160))


def test_ofa_config_errors_name_the_field():
    sp = get_space("ofa-mbv3-w1.0")
    cfg = sp.sample(0)
    with pytest.raises(ConfigError, match=r"ks\[3\]=4"):
        sp.check(dict(cfg, ks=cfg["ks"][:3] + [4] + cfg["ks"][4:]))
    with pytest.raises(ConfigError, match="resolution r=130"):
        sp.check(dict(cfg, r=130))
    with pytest.raises(ConfigError, match="'d' must be a list of 5"):
        sp.check(dict(cfg, d=[2, 2]))
    assert sp.check(dict(cfg, ks="".join(map(str, cfg["ks"])))) == cfg  # HELP's string form


def test_ofa_decode_follows_editor_changes():
    sp = get_space("ofa-mbv3-w1.0")
    cfg = sp.sample(4)
    g = sp.encode(cfg)
    g.set_params("block0", kernel=7 if cfg["ks"][0] != 7 else 3)
    assert sp.decode(g)["ks"][0] != cfg["ks"][0]


def test_nb201_arch_str_parsing():
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    ops = parse_arch_str(s)
    assert len(ops) == len(EDGES) == 6
    assert get_space("nb201").check({"arch_str": s})["arch_str"] == s
    for bad in ["", "|conv~0|+|a~0|b~1|+|a~0|b~1|c~2|", "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"]:
        with pytest.raises(ConfigError):
            parse_arch_str(bad)


def _nb201_rows():
    path = shared_file("nb201", "nb201_cifar10_200ep.csv")
    erratum = shared_file("nb201", "nb201_params_erratum.csv")
    with open(erratum) as f:
        fixed = {int(r["arch_index"]): int(r["params_official_model"]) for r in csv.DictReader(f)}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return rows, fixed


def test_nb201_params_match_the_benchmark_for_all_cells():
    """All 15,625 cells through the IR's own count. The benchmark's `params_mb` is wrong for the
    204 cells of the erratum (a known NAS-Bench-201 records bug); there the official model's count
    is the fact."""
    rows, fixed = _nb201_rows()
    assert len(rows) == 15625
    sp = get_space("nb201")
    g = sp.encode(sp.sample(0))
    edge_nodes = [(n, EDGES.index((int(n[-1]), int(n[-2])))) for n in g.nodes if "_e" in n]
    mismatches = []
    for r in rows:
        ops = parse_arch_str(r["arch_str"])
        for n, k in edge_nodes:  # same skeleton: relabel the edge ops, then count through the IR
            g.g.nodes[n]["op"] = ops[k]
        ours = count_complexity(g).params
        idx = int(r["arch_index"])
        expected = fixed.get(idx, round(float(r["params_mb"]) * 1e6))
        if ours != expected:
            mismatches.append((idx, ours, expected))
    assert not mismatches, mismatches[:5]
    assert len(fixed) == 204


def test_nb201_params_match_through_built_torch_models():
    rows, fixed = _nb201_rows()
    sp = get_space("nb201")
    for r in rows[:: 15625 // 12]:
        g = sp.encode({"arch_str": r["arch_str"]})
        expected = fixed.get(int(r["arch_index"]), round(float(r["params_mb"]) * 1e6))
        assert torch_params(build_model(g)) == expected


# -- a graph edited out of its space never gets the space's predictions for a stale config ----------
def _edited_ofa(tmp_path, edit):
    """A real OFA sample written by `arch sample`, with node params edited in the file by hand."""
    import json

    from explorer.cli import main

    path = tmp_path / "a.json"
    assert main(["arch", "sample", "--space", "ofa-mbv3-w1.0", "--seed", "3", "-o", str(path)]) == 0
    doc = json.loads(path.read_text())
    for node in doc["nodes"]:
        edit(node)
    path.write_text(json.dumps(doc))
    return path, doc["meta"]["config"]


def test_ofa_graph_edited_out_of_the_space_is_not_predicted(tmp_path, capsys):
    import json

    from explorer.arch import load_arch
    from explorer.cli import main
    from explorer.live_metrics import predict_latency

    def widen(node):
        if node["id"] == "block5":
            node["params"]["out_channels"] = 64

    path, stale = _edited_ofa(tmp_path, widen)
    sp = get_space("ofa-mbv3-w1.0")
    g = load_arch(path)
    assert g.meta["config"] == stale  # the file still carries the old config...
    with pytest.raises(ConfigError, match="node block5 has out_channels=64, the space has 40"):
        sp.decode(g)  # ...which nothing may use for this graph
    assert sp.recognise(g) is None
    capsys.readouterr()
    assert main(["latency", "predict", str(path), "--device", "help-ofa-2080ti_1"]) == 2
    err = capsys.readouterr().err
    assert "no longer an architecture of this space" in err and "predictors do not cover it" in err
    assert main(["arch", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"] is None and "block5" in info["config_error"] and info["meta"]["config"] == stale
    live = predict_latency(g, "help-ofa-2080ti_1")
    assert live.get("ms") is None and "no longer an architecture of this space" in json.dumps(live)


def test_ofa_config_edits_in_the_graph_are_what_gets_predicted(tmp_path, capsys):
    import json

    from explorer.arch import load_arch
    from explorer.cli import main
    from explorer.latency.registry import load_device

    def kernel(node):
        if node["id"] == "block0":
            node["params"]["kernel"] = 7 if node["params"]["kernel"] != 7 else 3

    path, stale = _edited_ofa(tmp_path, kernel)
    sp = get_space("ofa-mbv3-w1.0")
    cfg = sp.decode(load_arch(path))
    assert cfg["ks"][0] != stale["ks"][0] and cfg["ks"][1:] == stale["ks"][1:]
    capsys.readouterr()
    assert main(["latency", "predict", str(path), "--device", "help-ofa-2080ti_1", "--json"]) == 0
    edited = json.loads(capsys.readouterr().out)["results"][0]["latency_ms"]
    dev = load_device("help-ofa-2080ti_1")
    assert edited == round(float(dev.predict("ofa-mbv3-w1.0", [cfg])[0]), 4)
    assert edited != round(float(dev.predict("ofa-mbv3-w1.0", [stale])[0]), 4)


def _other_op(g):
    g.g.nodes["s2c1_e01"]["op"] = "nor_conv_3x3"


def _resolution(g):
    g.set_params("input", resolution=64)


def _extra_edge(g):
    g.connect("stem", "lastbn")


@pytest.mark.parametrize(
    "edit,needle",
    [
        (_other_op, "node s2c1_e01 is 'nor_conv_3x3', the space has nor_conv_1x1"),
        (_resolution, "node input has resolution=64, the space has 32"),
        (_extra_edge, r"edge stem -> lastbn \(port 1\) is not part of the space's network"),
    ],
)
def test_nb201_cells_other_than_the_first_are_checked_too(edit, needle):
    """decode reads the first cell, then checks the whole network: every cell, skeleton, input."""
    sp = get_space("nb201")
    cfg = {
        "arch_str": "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|skip_connect~2|"
    }
    g = sp.encode(cfg)
    g.g.nodes["stem"]["pos"] = (1.0, 2.0)  # layout, group and name do not count
    g.name = "renamed"
    assert sp.decode(g) == cfg
    edit(g)
    with pytest.raises(ConfigError, match=needle):
        sp.decode(g)
