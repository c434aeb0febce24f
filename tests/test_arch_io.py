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
