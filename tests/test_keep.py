"""Keeping a graph as a candidate (the one keep path, no Qt): params/MACs counted now, lineage kept,
live metrics recorded only when they were computed for this very graph."""

from __future__ import annotations

import pytest
import torch

from explorer.arch import count_complexity
from explorer.edits import graph_digest
from explorer.keep import InvalidGraphError, keep_candidate, stale_reason
from explorer.store import Project
from explorer.tensorfile import load_tensors

from .graphs import small_graph

LIVE = {
    "zen": {"value": 42.5, "method": "batch 4"},
    "latency:local-cpu": {"value": 1.25, "method": "lut"},
    "gradsign": {"value": None, "reason": "needs BN"},
}


@pytest.fixture
def project(tmp_path):
    p = Project(tmp_path / "p.nasx")
    yield p
    p.close()


def test_metrics_of_the_same_graph_are_recorded_with_it(project):
    g = small_graph()
    parent = keep_candidate(project, g)
    child = small_graph(width=12)
    child.meta.update(candidate_id=parent, parent_id=parent)  # opened from a row, then grown
    cid = keep_candidate(project, child, LIVE, metrics_digest=graph_digest(child))
    c = project.candidate(cid)
    assert cid != parent and c.parent_id == parent and c.tags == ["kept"]
    assert "candidate_id" not in c.graph.meta and child.meta["candidate_id"] == parent  # a copy
    row = project.metric_table()[cid]
    assert row["complexity:params"] == count_complexity(child).params
    assert row["proxy:zen"] == 42.5 and row["latency:local-cpu"] == 1.25 and row["proxy:gradsign"] is None
    assert {m["method"] for m in project.metrics(cid) if m["name"] == "gradsign"} == {"needs BN"}


@pytest.mark.parametrize("digest", [None, "of-another-graph"])
def test_metrics_of_another_graph_are_refused(project, digest):
    g = small_graph()
    old = graph_digest(small_graph(width=16)) if digest else None  # e.g. shown before the last edit
    assert stale_reason(g, LIVE, old)
    cid = keep_candidate(project, g, LIVE, metrics_digest=old)
    row = project.metric_table()[cid]
    assert set(row) == {"complexity:params", "complexity:macs"}  # kept, without the stale numbers
    assert stale_reason(g, LIVE, graph_digest(g)) == "" and stale_reason(g, None, None) == ""


def test_an_invalid_graph_is_not_kept(project):
    g = small_graph()
    g.disconnect("pool", "fc")
    with pytest.raises(InvalidGraphError, match="invalid"):
        keep_candidate(project, g)
    assert project.count_candidates() == 0


def test_weights_are_kept_in_a_file_the_export_uses(project, tmp_path):
    from explorer.arch import build_model
    from explorer.export import export

    g = small_graph()
    torch.manual_seed(3)
    state = build_model(g).state_dict()
    cid = keep_candidate(project, g, weights=state)
    again = keep_candidate(project, g, weights=state)  # same weights: the same file, not a copy
    path = project.candidate(cid).weights_path
    assert path and path == project.candidate(again).weights_path
    assert path.startswith(str(project.path) + ".weights")
    assert keep_candidate(project, g) and project.candidate(cid + 2).weights_path is None
    res = export(g, "state-dict", tmp_path / "out", weights=path)
    assert not res.freshly_initialised
    out = load_tensors(tmp_path / "out" / "weights.pt")
    assert all(torch.equal(out[k], v) for k, v in state.items())
