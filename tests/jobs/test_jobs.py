"""Job interface: Progress records, JSON-lines writer/reader, cooperative cancel; the command line
of each job kind the GUI starts, as the CLI parses it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from explorer.jobs.commands import job_argv, proxyless_argv
from explorer.progress import Cancelled, Progress, ProgressReader, ProgressWriter, Rate, tee


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


def test_argv_follows_the_cli():
    a = proxyless_argv(
        dict(device="synthetic", target_ms=0.5, loss="add", lam=0.3, skeleton="small", measure=False),
        Path("/r"),
        False,
    )
    assert a[:2] == ["search", "proxyless"] and a[-3:] == ["-o", "/r", "--json"]
    assert "--additive" in a and a[a.index("--lambda") + 1] == "0.3" and "--beta" not in a
    assert "--no-measure" in a and json.loads(a[a.index("--skeleton") + 1])["stages"]
    assert proxyless_argv({"lut_dir": "/l"}, Path("/r"), True) == [
        "search", "proxyless", "--resume", "/r", "--json", "--lut-dir", "/l",
    ]  # fmt: skip
    # the CLI accepts what the panel builds
    from explorer.cli import build_parser

    ns = build_parser().parse_args(a)
    assert ns.additive and ns.lam == 0.3 and ns.no_measure and ns.output == "/r"


def test_every_job_kind_has_a_command_the_cli_takes(tmp_path):
    from explorer.cli import build_parser

    kinds = {
        "train": {"space": "ofa-mbv3-w1.0", "phases": ["teacher"], "epochs": 1.0},
        "extract": {"checkpoint": "s.pt", "config": {"ks": [3]}},
        "bn-recalibrate": {"checkpoint": "s.pt", "config": {"ks": [3]}, "recalibrate": "builtin"},
        "search": {"constraint": 25.0},
        "proxyless": {"target_ms": 1.0},
    }
    for kind, params in kinds.items():
        args = job_argv(kind, params, tmp_path)
        assert build_parser().parse_args(args).handler is not None, kind
    assert job_argv("train", kinds["train"], tmp_path, resume=True)[-1] == "--resume"
    with pytest.raises(ValueError, match="unknown job kind"):
        job_argv("dance", {}, tmp_path)
