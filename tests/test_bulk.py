import pytest

from explorer.bulk import BulkSampleJob, metric_row_key
from explorer.errors import ConfigError
from explorer.store import Project

TINY = {"zen_batch": 2, "zen_repeats": 1, "gradsign_batch": 4, "resolution": 32, "latency": False}


def test_metric_row_key():
    assert metric_row_key("params") == ("complexity", "params")
    assert metric_row_key("zen") == ("proxy", "zen")
    assert metric_row_key("latency:local-cpu") == ("latency", "local-cpu")


def test_bulk_scores_into_project(tmp_path):
    path = tmp_path / "p.nasx"
    Project(path).close()
    seen = []
    job = BulkSampleJob(str(path), "nb201", 2, seed=5, settings=dict(TINY, gradsign=False))
    res = job.run(progress=seen.append)
    assert res["scored"] == 2 and not res["stopped"]
    assert [p["step"] for p in seen] == [1, 2] and seen[-1]["total"] == 2
    p = Project(path)
    cands = p.candidates()
    assert len(cands) == 2 and all(c.space == "nb201" and "bulk" in c.tags for c in cands)
    table = p.metric_table()
    for c in cands:
        row = table[c.id]
        assert row["complexity:params"] > 0 and row["complexity:macs"] > 0
        assert row["proxy:zen"] is not None
        assert "proxy:gradsign" not in row  # not shown in the settings: not computed, not stored
    zen = [m for m in p.metrics(cands[0].id) if m["name"] == "zen"][0]
    assert zen["settings"]["zen_batch"] == 2
    # running again with the same seed skips the configs already in the project
    res2 = BulkSampleJob(str(path), "nb201", 1, seed=5, settings=dict(TINY, zen=False, gradsign=False)).run()
    assert res2["skipped_duplicates"] == 2 and res2["scored"] == 1


def test_bulk_stops_and_keeps_what_it_scored(tmp_path):
    path = tmp_path / "p.nasx"
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    job = BulkSampleJob(str(path), "ofa-mbv3-w1.0", 50, settings=dict(TINY, zen=False, gradsign=False))
    res = job.run(should_stop=stop)
    assert res["stopped"] and 0 < res["scored"] < 50
    assert Project(path).count_candidates() == res["scored"]


def test_bad_count(tmp_path):
    with pytest.raises(ConfigError):
        BulkSampleJob(str(tmp_path / "p.nasx"), "nb201", 0).run()
