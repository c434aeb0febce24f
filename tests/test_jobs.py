"""Job interface: Progress records, JSON-lines writer/reader, cooperative cancel."""

from __future__ import annotations

import math

import pytest
import torch

from explorer.jobs import Cancelled, Progress, ProgressReader, ProgressWriter, Rate, tee


def test_progress_jsonl_roundtrip_and_partial_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    reader = ProgressReader(path)
    assert reader.poll() == []
    with ProgressWriter(path) as w:
        w(Progress(phase="kernel", step=1, total=10, loss=2.5, images_per_s=12.0, eta_s=9.0))
        w(Progress(phase="kernel", step=2, total=10, loss=math.nan, extra={"min_acc": 0.5}))
    got = reader.poll()
    assert [p.step for p in got] == [1, 2]
    assert got[0].loss == 2.5 and got[0].fraction == pytest.approx(0.1)
    assert got[1].loss is None and got[1].extra == {"min_acc": 0.5}
    with open(path, "a", encoding="utf-8") as f:  # a writer killed mid-line
        f.write('{"phase": "depth1", "st')
    assert reader.poll() == []
    with open(path, "a", encoding="utf-8") as f:
        f.write('ep": 3}\n')
    assert [(p.phase, p.step) for p in reader.poll()] == [("depth1", 3)]


def test_tee_and_rate():
    seen_a, seen_b = [], []
    fn = tee(seen_a.append, None, seen_b.append)
    fn(Progress(step=1))
    assert len(seen_a) == len(seen_b) == 1
    r = Rate(total_steps=4)
    ips, eta = r.update(1, 8)
    assert ips is None or ips > 0
    assert eta is None or eta >= 0


def test_bn_recalibration_cancels_cooperatively():
    from explorer.supernet.bn_calib import recalibrate_bn

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    before = net[1].running_mean.clone()
    batches = [torch.randn(4, 3, 8, 8) + 3 for _ in range(3)]
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(Cancelled):
        recalibrate_bn(net, batches, should_stop=stop)
    assert torch.equal(net[1].running_mean, before)  # unchanged on cancel
    records = []
    recalibrate_bn(net, batches, progress=records.append, total=3)
    assert [p.step for p in records] == [1, 2, 3] and records[-1].phase == "bn-recalibrate"
    assert not torch.equal(net[1].running_mean, before)


def test_extract_job_reports_and_returns_static_net():
    from explorer.supernet.extract import ExtractJob
    from explorer.supernet.ofa_mbv3 import OFAMobileNetV3

    net = OFAMobileNetV3("ofa-mbv3-w1.0", 10, resolutions=[32])
    cfg = net.min_config()
    records = []
    out = ExtractJob(net, cfg, calib_batches=[torch.randn(4, 3, 32, 32)], calib_total=1).run(
        records.append, lambda: False
    )
    assert {p.phase for p in records} == {"extract", "bn-recalibrate"}
    assert out.config["d"] == [2] * 5 and not out.training
