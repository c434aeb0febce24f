"""Fuzzing the architecture loader, the validator and `arch info|validate [--json]`: no exception
other than ExplorerError, exit codes 0/1/2 only, one error line, and strict JSON on stdout.

Fixed and derandomized, so CI sees the same few hundred inputs every run; benchmarks/fuzz_arch.py
runs 10,000 of the same kind."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.arch_fuzzing import check_file, make_input, seed_docs, strict_json

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def fuzz_path():
    with tempfile.TemporaryDirectory(prefix="fuzz-arch-") as d:
        yield Path(d) / "a.json"


@settings(FUZZ, max_examples=150)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_mutated_real_files_load_or_fail_cleanly(fuzz_path, seed):
    # a seeded Random rather than st.randoms(): hypothesis' own draws lean to minimal choices
    # (index 0, value 0.0) and would mutate the same few spots in most examples
    fuzz_path.write_bytes(make_input(random.Random(seed)))
    problems, _ = check_file(str(fuzz_path))
    assert problems == []


# arbitrary JSON, with the values strict JSON lacks: NaN, infinities, huge ints, lone surrogates
texts = st.text(alphabet=st.characters() | st.characters(categories=["Cs"]), max_size=10)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | texts
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=25,
)


@settings(FUZZ, max_examples=100)
@given(value=json_values, wrap=st.sampled_from(["bare", "doc", "nodes", "meta"]))
def test_arbitrary_json_loads_or_fails_cleanly(fuzz_path, value, wrap):
    head = {"format": "nas-explorer/arch", "version": 1}
    doc = {
        "bare": value,
        "doc": {**head, "nodes": [value], "edges": [value]},
        "nodes": {**head, "nodes": value},
        "meta": {
            **head,
            "meta": {"x": value},
            "nodes": [
                {"id": "input", "op": "input", "params": {"resolution": 8}},
                {"id": "output", "op": "output"},
            ],
            "edges": [{"src": "input", "dst": "output"}],
        },
    }[wrap]
    fuzz_path.write_bytes(json.dumps(doc).encode("utf-8", "surrogatepass"))
    problems, outcome = check_file(str(fuzz_path))
    assert problems == []
    if wrap == "meta" and outcome != "rejected":  # whatever meta holds, --json stays strict
        assert outcome == "accepted"


def test_fuzzed_files_through_a_real_process(tmp_path):
    """The same contract as a user's shell sees it (real streams, real exit codes): two runs."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "LC_ALL": "C.UTF-8"}
    rng = random.Random(1)
    good = bad = None
    for k in range(40):
        p = tmp_path / f"f{k}.json"
        p.write_bytes(make_input(rng))
        outcome = check_file(str(p))[1]
        if outcome == "accepted" and good is None:
            good = p
        elif outcome == "rejected" and bad is None:
            bad = p
        if good and bad:
            break
    if good is None:  # the generator changed: an unmutated seed file still exercises the path
        good = tmp_path / "seed.json"
        good.write_text(json.dumps(seed_docs()[2]))
    assert bad is not None
    r = subprocess.run(
        [sys.executable, "-m", "explorer", "arch", "info", str(good), "--json"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0 and b"Traceback" not in r.stderr
    strict_json(r.stdout.decode("utf-8"))
    r = subprocess.run(
        [sys.executable, "-m", "explorer", "arch", "validate", str(bad), "--json"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2 and err.startswith("nas-explorer: error: ") and err.count("\n") == 1, err
