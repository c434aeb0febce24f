"""Result ingestion in the core (no Qt): a finished job's files become checkpoint, candidate and
metric rows of a real project, its final row in the same transaction; jobs a reopened project finds
without their process are told apart from those still running."""

from __future__ import annotations

import time

import pytest

from explorer.arch import count_complexity, save_arch
from explorer.jobs.ingest import GONE, error_tail, mark_gone, on_reopen, read_result, record_end
from explorer.jobs.process import StderrTail, search_progress
from explorer.jobs.status import final_status, progress_text
from explorer.store import Project
from tests.graphs import small_graph


@pytest.fixture
def project(tmp_path):
    p = Project(tmp_path / "p.nasx")
    yield p
    p.close()


def new_job(project, tmp_path, kind, params) -> int:
    jid = project.add_job(kind, params, run_dir=str(tmp_path / f"run_{kind}"))
    project.update_job(jid, status="running")
    return jid


def test_extraction_result_becomes_a_child_candidate_with_its_weights(project, tmp_path):
    src = project.add_candidate(small_graph(), name="source")
    arch = tmp_path / "subnet.json"
    save_arch(small_graph(), arch)
    params = {"checkpoint": "super.pt", "config": {}, "candidate_id": src, "recalibrate": "builtin"}
    jid = new_job(project, tmp_path, "bn-recalibrate", params)
    result = {"arch": str(arch), "weights": str(tmp_path / "w.pt"), "params": 1234, "macs": 5678}
    assert record_end(project, jid, "done", result, None, time.time()) == "done"
    job = project.job(jid)
    cid = job["result"]["candidate_id"]
    c = project.candidate(cid)
    assert c.parent_id == src and c.tags == ["extracted", "bn-recalibrated"]
    assert c.weights_path == str(tmp_path / "w.pt") and c.name == f"extracted from #{src}"
    assert project.metric_table()[cid] == {"complexity:params": 1234, "complexity:macs": 5678}
    assert job["status"] == "done" and project.logs(jid) == ["done"]


def test_a_failing_ingest_fails_the_job_and_leaves_no_rows(project, tmp_path):
    jid = new_job(project, tmp_path, "extract", {"checkpoint": "super.pt", "config": {}})
    result = {"arch": str(tmp_path / "missing.json"), "weights": "w.pt"}
    assert record_end(project, jid, "done", result, None, time.time()) == "failed"
    job = project.job(jid)
    assert job["status"] == "failed" and "missing.json" in job["error"]
    assert project.candidates() == [] and project.logs(jid)[-1].startswith("failed: ")


@pytest.mark.parametrize("latency", ["note10", "macs"])
def test_search_result_becomes_a_candidate_with_its_estimates(project, tmp_path, latency):
    from explorer.spaces import get_space

    space = get_space("ofa-mbv3-w1.2")
    cfg = space.sample(2)
    params = {"space": "ofa-mbv3-w1.2", "constraint": 25.0, "latency": latency, "accuracy": "official"}
    jid = new_job(project, tmp_path, "search", params)
    result = {"space": "ofa-mbv3-w1.2", "config": cfg, "accuracy": 0.71, "latency_ms": 21.5}
    record_end(project, jid, "done", result, None, time.time())
    cid = project.job(jid)["result"]["candidate_id"]
    c = project.candidate(cid)
    assert c.config == cfg and c.tags == ["search"] and c.name == "search ≤25.0"
    row = project.metric_table()[cid]
    assert row["accuracy:estimate"] == pytest.approx(0.71)
    assert row["complexity:macs"] == count_complexity(space.encode(cfg)).macs
    assert ("latency:note10" in row) == (latency == "note10")


def test_proxyless_result_records_predicted_and_measured_latency(project, tmp_path):
    arch = tmp_path / "derived.json"
    save_arch(small_graph(width=12), arch)
    jid = new_job(project, tmp_path, "proxyless", {"device": "local", "target_ms": 1.5})
    result = {
        "arch": str(arch),
        "weights": str(tmp_path / "path.pt"),
        "device": {"name": "local-x86"},
        "target_ms": 1.5,
        "predicted_ms": 1.25,
        "measured": {"measured_ms": 1.4, "p10_ms": 1.3, "p90_ms": 1.6},
        "val_acc_supernet_path": 0.4,
    }
    record_end(project, jid, "done", result, None, time.time())
    cid = project.job(jid)["result"]["candidate_id"]
    assert project.candidate(cid).name == "proxyless 1.5 ms on local-x86"
    row = project.metric_table()[cid]
    assert row["latency:local-x86"] == 1.25 and row["latency:local-x86 measured"] == 1.4
    assert row["accuracy:proxyless supernet"] == 0.4
    assert row["complexity:params"] == count_complexity(small_graph(width=12)).params


def test_training_result_registers_its_checkpoint_and_cancelled_jobs_ingest_nothing(project, tmp_path):
    jid = new_job(project, tmp_path, "train", {"space": "ofa-mbv3-w1.0"})
    result = {"metrics": [{"phase": "teacher", "steps": 3}, {"phase": "kernel", "steps": 7}]}
    record_end(project, jid, "done", result, None, time.time())
    (ck,) = project.checkpoints(jid)
    assert ck["path"] == str(tmp_path / "run_train" / "supernet.pt") and (ck["phase"], ck["step"]) == (
        "kernel",
        7,
    )
    other = new_job(project, tmp_path, "extract", {"checkpoint": "x"})
    assert record_end(project, other, "cancelled", {"stopped": {}}, None, time.time()) == "cancelled"
    assert project.candidates() == [] and project.job(other)["status"] == "cancelled"


def test_reopening_tells_running_jobs_from_gone_ones(project, tmp_path):
    ids = {}
    for name, status, pid in [("live", "running", 11), ("dead", "running", 22), ("queued", "queued", None)]:
        ids[name] = project.add_job("train", {}, run_dir=str(tmp_path / name))
        project.update_job(ids[name], status=status, pid=pid)
    done = project.add_job("search", {}, run_dir=str(tmp_path / "done"))
    project.update_job(done, status="done")
    follow, gone = on_reopen(project, alive=lambda pid: pid == 11)
    assert follow == [ids["live"]] and gone == [ids["dead"], ids["queued"]]
    mark_gone(project, ids["dead"], when=5.0)
    job = project.job(ids["dead"])
    assert (job["status"], job["finished"]) == ("interrupted", 5.0) and project.logs(ids["dead"]) == [GONE]


def test_how_a_job_ended_is_read_from_its_files(tmp_path):
    assert read_result(tmp_path) is None
    (tmp_path / "stdout.txt").write_text('loading...\n{"accuracy": 0.5}\n')
    assert read_result(tmp_path) == {"accuracy": 0.5}
    (tmp_path / "stderr.txt").write_text("a\nb\nc\nTraceback: boom\n")
    assert error_tail(tmp_path, 1) == "b | c | Traceback: boom"
    assert error_tail(tmp_path / "none", 3) == "exit code 3"
    assert final_status(cancelled=False, result={"a": 1}, code=0) == "done"
    assert final_status(cancelled=False, result={"stopped": {"step": 3}}, code=0) == "cancelled"
    assert final_status(cancelled=False, result=None, code=None) == "interrupted"
    assert final_status(cancelled=False, result=None, code=1) == "failed"
    assert final_status(cancelled=True, result={"a": 1}, code=0) == "cancelled"


def test_stderr_tail_and_search_lines(tmp_path):
    err = tmp_path / "stderr.txt"
    err.write_text("old line\n")
    tail = StderrTail(tmp_path)
    tail.skip_existing()
    with open(err, "a") as f:
        f.write("[search] generation 3/10 best 0.71\n\n")
    (line,) = tail.poll()
    p = search_progress(line)
    assert (p.phase, p.step, p.total, p.message) == ("search", 3, 10, "best 0.71")
    assert tail.poll() == [] and search_progress("old line") is None


def test_progress_text_of_job_rows():
    running = {"kind": "train", "status": "running", "progress": {"phase": "kernel", "step": 3, "total": 9}}
    running["progress"].update(loss=1.23456, eta_s=12.0)
    assert progress_text(running) == "kernel 3/9  loss 1.235  ETA 12s"
    search = {
        "kind": "search",
        "status": "done",
        "result": {"accuracy": 0.7, "latency_ms": 20.0, "candidate_id": 4},
    }
    assert progress_text(search) == "acc 0.7000, latency 20.00 → #4"
    failed = {"kind": "extract", "status": "failed", "progress": {}, "error": "exit code 1"}
    assert progress_text(failed) == "exit code 1"
    assert progress_text({"kind": "train", "status": "queued"}) == ""
