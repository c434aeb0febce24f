"""The latency package's shape: no import cycle inside it (or through other packages back into
it), no Qt, and no search space named in its code outside the data tables of public files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

LATENCY = Path(__file__).resolve().parents[2] / "explorer" / "latency"
# the public data's own names (files, columns, the official tables' space) are data, not code
DATA_TABLES = {"evaluate.py", "ofa_yaml.py"}
SPACE_LITERAL = re.compile(r"""["'](nb201|nas-bench-201|ofa|ofa-mbv3[\w.-]*|proxyless-cifar)["']""")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("explorer", exclude_type_checking_imports=True)


def test_no_import_cycle_in_latency(graph):
    mods = sorted(m for m in graph.modules if m.startswith("explorer.latency."))
    assert len(mods) > 10
    for m in mods:
        for dep in graph.find_modules_directly_imported_by(m):
            if dep.startswith("explorer.latency."):
                back = graph.find_shortest_chain(importer=dep, imported=m)
                assert back is None, f"{m} -> {dep} -> ... -> {m}: {back}"


def test_latency_never_imports_the_gui(graph):
    for target in ("explorer.gui", "explorer.live_metrics"):
        chains = graph.find_shortest_chains(importer="explorer.latency", imported=target, as_packages=True)
        assert not chains, chains


def test_latency_names_no_space_outside_data_tables():
    named = {
        p.name: SPACE_LITERAL.findall(p.read_text(encoding="utf-8"))
        for p in sorted(LATENCY.glob("*.py"))
        if p.name not in DATA_TABLES
    }
    assert {k: v for k, v in named.items() if v} == {}
