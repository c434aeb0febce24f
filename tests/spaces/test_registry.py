"""Every registered space describes itself well enough to be used without naming it: it builds,
runs, round-trips, decodes, and its schema (what the GUI form is made of) agrees with its configs.
Also the one OFA block walk (`ofa_blocks`) against the IR's own shape inference."""

from __future__ import annotations

import json

import pytest
import torch

from explorer.arch import OPS, build_model, count_complexity, from_json, to_json
from explorer.errors import ConfigError
from explorer.spaces import default_space, find_space, get_space, list_spaces, spaces_with
from explorer.spaces.base import structure_difference
from explorer.spaces.ofa_geometry import W10, W12, block_io, ofa_blocks

ALL = [s.name for s in list_spaces()]


def _entries(schema):
    return [(f, i) for f in schema.fields for i in f.indices()]


def _get(values, f, i):
    return values[f.key] if i is None else values[f.key][i]


def _with(values, f, i, v):
    out = {k: list(x) if isinstance(x, list) else x for k, x in values.items()}
    if i is None:
        out[f.key] = v
    else:
        out[f.key][i] = v
    return out


@pytest.mark.parametrize("name", ALL)
def test_every_space_builds_runs_round_trips_and_decodes(name):
    sp = get_space(name)
    assert sp.family and sp.description and sp.size() > 1 and sp.config_keys
    cfg = sp.sample(5)
    assert set(sp.check(cfg)) == set(sp.config_keys)
    g = sp.encode(cfg)
    assert from_json(to_json(g)) == g
    assert sp.decode(from_json(to_json(g))) == sp.check(cfg)
    assert {g.op(n) for n in g.nodes} <= set(sp.ops()) <= set(OPS)
    g.set_params("input", resolution=32)  # tiny: the net runs, the config no longer decodes
    model = build_model(g, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.ndim == 2 and out.shape[0] == 1
    json.dumps(sp.describe())  # plain JSON, as `spaces --json` prints it


@pytest.mark.parametrize("name", ALL)
def test_schema_validates_sampled_configs_and_form_values_encode_back(name):
    sp = get_space(name)
    schema = sp.schema()
    assert schema is not None, f"{name} has no config schema: the GUI form cannot be built"
    for seed in range(4):
        cfg = sp.check(sp.sample(seed))
        values = sp.form_values(cfg)
        schema.validate(values)
        assert sp.check(sp.config_from_form(values)) == cfg
    # values made from the schema alone (every choice of every entry appears) encode and decode back
    entries = _entries(schema)
    for shift in range(3):
        values = {f.key: [None] * f.length if f.length else None for f in schema.fields}
        for n, (f, i) in enumerate(entries):
            values = _with(values, f, i, f.choices[(n + shift) % len(f.choices)])
        schema.validate(values)
        cfg = sp.config_from_form(values)
        assert sp.form_values(sp.decode(sp.encode(cfg))) == values
    with pytest.raises(ConfigError, match="is not one of"):
        f, i = entries[0]
        schema.validate(_with(sp.form_values(sp.sample(0)), f, i, "no such choice"))


@pytest.mark.parametrize("name", ALL)
def test_form_active_says_which_entries_change_the_network(name):
    """An entry the space calls inactive (OFA: blocks beyond a stage's depth) changes nothing;
    every active entry changes the network the config encodes."""
    sp = get_space(name)
    schema = sp.schema()
    values = sp.form_values(sp.check(sp.sample(2)))
    base = sp.encode(sp.config_from_form(values))
    seen = set()
    for f, i in _entries(schema):
        other = next(c for c in f.choices if c != _get(values, f, i))
        g = sp.encode(sp.config_from_form(_with(values, f, i, other)))
        active = sp.form_active(values, f.key, i)
        seen.add(active)
        assert (structure_difference(base, g) is not None) == active, (f.key, i)
    assert True in seen


def test_registry_answers_by_capability():
    assert [s.name for s in spaces_with(supports_supernet=True)] == ["ofa-mbv3-w1.0", "ofa-mbv3-w1.2"]
    assert default_space(supports_supernet=True).name == "ofa-mbv3-w1.0"
    assert {s.family for s in list_spaces()} == {"ofa-mbv3", "nb201"}
    assert find_space("darts") is None and find_space(None) is None
    assert find_space("nb201") is get_space("nb201")
    with pytest.raises(ConfigError, match="no registered search space"):
        default_space(family="darts")
    assert get_space("ofa-mbv3-w1.2").default_resolution == 224
    assert get_space("nb201").default_resolution == 32
    assert get_space("nb201").geometry()["skeleton"][5] == ["reduce", "reduce1", 32, 2]


@pytest.mark.parametrize("geo,name", [(W10, "ofa-mbv3-w1.0"), (W12, "ofa-mbv3-w1.2")])
def test_ofa_block_walk_matches_the_ir(geo, name):
    """Widths, strides and feature-map sizes of the walk are what the IR infers for the graph."""
    sp = get_space(name)
    for seed in range(3):
        cfg = sp.check(sp.sample(seed))
        layers = count_complexity(sp.encode(cfg)).layers
        shapes = {lc.node: (lc.in_shapes[0], lc.out_shape) for lc in layers if lc.in_shapes}
        blocks = ofa_blocks(cfg, geo)
        assert [b.node_id for b in blocks] == sorted(
            (n for n in shapes if n.startswith("block")), key=lambda n: int(n[5:])
        )
        for b in blocks:
            (cin, h, _), (cout, oh, _) = shapes[b.node_id]
            assert (cin, h, cout, oh) == (b.in_channels, b.in_size, b.out_channels, b.out_size)
            assert (b.in_channels, b.out_channels, b.stride) == block_io(geo, b.index)
            assert b.skip == (b.depth > 0)
    assert ofa_blocks({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5}, W10)[0].in_size == 0  # no r


# -- the commands ask the registry --------------------------------------------------------------
def test_spaces_json_describes_each_space(capsys):
    from explorer.cli import main

    assert main(["spaces", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(ALL)
    nb = rows["nb201"]
    assert nb["size"] == 15625 and nb["description"]  # the keys that were there stay
    assert nb["family"] == "nb201" and nb["config_keys"] == ["arch_str"]
    assert [f["key"] for f in nb["schema"]["fields"]] == ["ops"] and len(nb["schema"]["rows"]) == 6
    ofa = rows["ofa-mbv3-w1.2"]
    assert ofa["supports_supernet"] and ofa["geometry"]["stages"][4]["width"] == W12.stage_widths[4]


def test_commands_take_defaults_and_checks_from_the_registry(tmp_path, capsys):
    from explorer.cli import build_parser, main

    args = build_parser().parse_args(["supernet", "train", "-o", str(tmp_path / "s.pt")])
    assert args.space == default_space(supports_supernet=True).name
    out = str(tmp_path / "a.json")
    assert main(["arch", "sample", "--space", "ofa-mbv3-w1.0", "--arch-str", "x", "-o", out]) == 2
    assert "--arch-str is for the nb201 space" in capsys.readouterr().err
    run = ["search", "evolution", "--constraint", "400", "--latency", "macs", "--population", "4"]
    run += ["--generations", "1", "--quiet", "--json"]
    assert main(run) == 0  # no --space: the official predictor's space
    assert json.loads(capsys.readouterr().out)["space"] == "ofa-mbv3-w1.2"
    assert main([*run, "--space", "ofa-mbv3-w1.0"]) == 2
    assert "official ImageNet predictor is for ofa-mbv3-w1.2" in capsys.readouterr().err
    assert main([*run, "--space", "ofa-mbv3-w1.0", "--latency", "note10", "--accuracy", "x.pt"]) == 2
    assert "Note10 latency tables are for ofa-mbv3-w1.2" in capsys.readouterr().err


def test_default_space_does_not_depend_on_import_order():
    """A module importing the NB201 space first (a data table, say) must not change defaults."""
    import subprocess
    import sys

    code = (
        "import explorer.spaces.nb201\n"
        "from explorer.spaces import default_space, list_spaces\n"
        "print(default_space().name, [s.name for s in list_spaces()][-1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ofa-mbv3-w1.0", "nb201"]
