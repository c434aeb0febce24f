"""The JSON format: exact round trips, clear one-line errors, and a loader fuzzers cannot break."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.arch import from_dict, from_json, load_arch, save_arch, to_dict, to_json
from explorer.errors import FormatError
from explorer.spaces import get_space


def test_round_trip_file_keeps_everything(tmp_path):
    g = get_space("ofa-mbv3-w1.0").encode(get_space("ofa-mbv3-w1.0").sample(5))
    g.g.nodes["stem"]["pos"] = (12.5, -40.0)
    g.meta["notes"] = "hello"
    path = save_arch(g, tmp_path / "a.json")
    back = load_arch(path)
    assert back == g
    assert back.g.nodes["stem"]["pos"] == (12.5, -40.0)
    assert json.loads(path.read_text())["format"] == "nas-explorer/arch"


def base_doc():
    return to_dict(get_space("nb201").encode(get_space("nb201").sample(1)))


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d.update(version=2), "unsupported architecture file version 2"),
        (lambda d: d.update(format="other"), "not an architecture file"),
        (lambda d: d["nodes"][1].update(op="warp_drive"), "unknown op 'warp_drive'"),
        (lambda d: d["nodes"][1]["params"].update(kernal=3), "unknown parameter 'kernal'"),
        (lambda d: d["nodes"][1]["params"].update(kernel="3"), "must be an integer"),
        (lambda d: d["nodes"][1].update(id="1bad"), "invalid id"),
        (lambda d: d["edges"].append({"src": "nowhere", "dst": "stem"}), "unknown node"),
        (lambda d: d["nodes"][1].update(pos=[1, "a"]), "'pos' must be"),
    ],
)
def test_bad_files_give_one_line_errors(mutate, needle):
    doc = base_doc()
    mutate(doc)
    with pytest.raises(FormatError) as e:
        from_dict(doc)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_load_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        load_arch(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FormatError):
        load_arch(bad)
    bad.write_text('{"format": "nas-explorer/arch", "version": 1, "nodes": [')
    with pytest.raises(FormatError, match="not valid JSON"):
        load_arch(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fuzzed_json_values_never_crash_the_loader(value):
    try:
        from_json(json.dumps(value))
    except FormatError:
        pass


node_st = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["input", "a", "b", "output", "9x", ""]),
        "op": st.sampled_from(["input", "conv", "add", "output", "mbconv", "zz"]),
    },
    optional={
        "params": st.dictionaries(
            st.sampled_from(["out_channels", "kernel", "stride", "x"]), json_values, max_size=3
        ),
        "pos": json_values,
    },
)
edge_st = st.fixed_dictionaries(
    {
        "src": st.sampled_from(["input", "a", "b", "output"]),
        "dst": st.sampled_from(["input", "a", "b", "output"]),
    },
    optional={"port": json_values},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(node_st, max_size=5), st.lists(edge_st, max_size=6))
def test_fuzzed_architecture_documents_load_or_fail_cleanly(nodes, edges):
    from explorer.arch import validate

    doc = {"format": "nas-explorer/arch", "version": 1, "nodes": nodes, "edges": edges}
    try:
        g = from_dict(doc)
    except FormatError:
        return
    validate(g)  # loads: validation must also answer without raising
    assert from_json(to_json(g)) == g


# -- hardening (issue 15): every hostile value is a one-line FormatError, never a traceback ----------
def _set(path, value):
    """A mutation setting doc[path...] = value (path of keys/indices)."""

    def mutate(d):
        c = d
        for k in path[:-1]:
            c = c[k]
        c[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (_set(["nodes", 1, "op"], ["conv"]), "unknown op ['conv']"),
        (_set(["nodes", 1, "op"], {}), "unknown op {}"),
        (_set(["nodes", 1, "op"], None), "unknown op None"),
        (_set(["nodes", 1, "pos"], [10**400, 0]), "'pos' must be [x, y] numbers"),
        (_set(["nodes", 1, "pos"], [1e300, 0]), "'pos' must be [x, y] numbers"),
        (_set(["name"], "bad \ud800 name"), "name: text holds \\ud800, a lone surrogate"),
        (_set(["meta", "space"], "nb\udc80"), "meta.space: text holds \\udc80"),
        (_set(["meta", "k\ud83d"], 1), "key holds \\ud83d"),
        (_set(["nodes", 1, "group"], "g\udfff"), "nodes[1].group: text holds"),
        (_set(["nodes", 1, "id"], "stem\n"), "invalid id 'stem\\n'"),
        (_set(["nodes", 1, "id"], "a" * 65), "invalid id"),
        (_set(["version"], 1.0), "'version' must be the integer 1, got 1.0"),
        (_set(["version"], True), "'version' must be the integer 1, got True"),
        (_set(["version"], "1"), "'version' must be the integer 1, got '1'"),
        (_set(["meta", "x"], float("nan")), "meta.x: nan is not allowed"),
        (_set(["meta", "x"], [1.0, float("-inf")]), "meta.x[1]: -inf is not allowed"),
        (_set(["meta", "deep"], json.loads("[" * 40 + "]" * 40)), "nested deeper than 32 levels"),
        (_set(["format"], ["nas-explorer/arch"]), "not an architecture file"),
    ],
)
def test_hostile_values_give_one_line_errors(mutate, needle):
    doc = base_doc()
    mutate(doc)
    with pytest.raises(FormatError) as e:
        from_dict(doc)
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "literal,needle",
    [
        ("NaN", "NaN is not allowed (not strict JSON)"),
        ("Infinity", "Infinity is not allowed"),
        ("-Infinity", "-Infinity is not allowed"),
        ("1e400", "number 1e400 overflows a double"),
        ("9" * 5000, "not valid JSON"),  # Python's int digit limit
    ],
)
def test_non_strict_json_numbers_are_refused(literal, needle):
    text = json.dumps(base_doc()).replace('"meta": {', f'"meta": {{"x": {literal}, ', 1)
    with pytest.raises(FormatError) as e:
        from_json(text)
    assert needle in str(e.value) and len(str(e.value)) < 300


def test_quoted_values_are_capped():
    doc = base_doc()
    doc["nodes"][1]["params"]["act"] = "x" * 5000
    with pytest.raises(FormatError) as e:
        from_dict(doc)
    msg = str(e.value)
    assert "act=" in msg and "(5,002 chars)" in msg and len(msg) < 250


def test_size_limits_are_checked_before_anything_is_built(tmp_path, monkeypatch):
    from explorer.arch import io as arch_io

    big = tmp_path / "big.json"
    with open(big, "wb") as f:  # sparse: refused on its size, never read
        f.truncate(arch_io.MAX_FILE_BYTES + 1)
    with pytest.raises(FormatError, match=r"file too large \(33,554,433 bytes > 33,554,432\)"):
        load_arch(big)

    def no_building(*a, **k):
        raise AssertionError("a node was built before the counts were checked")

    doc = base_doc()  # 129 nodes, 173 edges
    text = json.dumps(doc)
    monkeypatch.setattr(arch_io.ArchGraph, "add_node", no_building)
    monkeypatch.setattr(arch_io, "MAX_NODES", 10)
    monkeypatch.setattr(arch_io, "MAX_EDGES", 10)
    with pytest.raises(FormatError, match=r"too many nodes \(129 > 10\)"):
        from_dict(doc)
    doc["nodes"] = doc["nodes"][:10]
    with pytest.raises(FormatError, match=r"too many edges \(173 > 10\)"):
        from_dict(doc)
    monkeypatch.setattr(arch_io, "parse_strict_json", no_building)  # refused before parsing
    with pytest.raises(FormatError, match=r"too many nodes \(about 129 > 10\)"):
        from_json(text)


def test_graphs_that_cannot_be_read_back_are_not_written(tmp_path):
    g = get_space("nb201").encode(get_space("nb201").sample(0))
    g.meta["score"] = float("nan")
    with pytest.raises(FormatError, match="cannot write the architecture: meta.score: nan"):
        save_arch(g, tmp_path / "a.json")
    assert not (tmp_path / "a.json").exists()
    g.meta["score"] = None
    g.name = "\ud800"
    with pytest.raises(FormatError, match="name: text holds"):
        to_json(g)
