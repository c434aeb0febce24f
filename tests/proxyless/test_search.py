"""ProxylessNAS search job on the CIFAR sample: the latency target steers the result, resume
equals an uninterrupted run, cancel leaves a checkpoint, the CLI reports bad input."""

import argparse
import json

import pytest
import torch

from explorer.arch import load_arch, lut_keys
from explorer.errors import ExplorerError
from explorer.progress import Cancelled
from explorer.proxyless.search import ProxylessSearch, SearchConfig
from explorer.proxyless.supernet import Skeleton

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def config(target_ms, **kw):
    base = dict(
        device="synthetic",
        target_ms=target_ms,
        epochs=4,
        warmup_epochs=0.5,
        batch_size=32,
        skeleton=Skeleton.small(16).to_dict(),
        arch_lr=0.1,
        seed=0,
        measure=False,
        save_every=5,
    )
    base.update(kw)
    return SearchConfig(**base)


def test_low_target_ends_faster_than_high_target(tmp_path):
    low = ProxylessSearch(config(0.085), tmp_path / "low").run()
    high = ProxylessSearch(config(0.2), tmp_path / "high").run()
    lo, hi = low["lut_range_ms"]
    assert lo < 0.085 < hi < 0.2  # low target reachable only by fast paths; high target above all paths
    assert low["expected_ms"] < high["expected_ms"] - 0.005, (low["expected_ms"], high["expected_ms"])
    assert low["predicted_ms"] < high["predicted_ms"], (low["choices"], high["choices"])
    graph = load_arch(tmp_path / "low" / "arch.json")
    assert graph.meta["space"] == "proxyless-cifar"
    assert graph.meta["config"]["choices"] == low["choices"]
    table = torch.load(tmp_path / "low" / "checkpoint.pt", weights_only=True)["lut"]
    assert sum(table[k] for _, k in lut_keys(graph)) == pytest.approx(low["predicted_ms"], rel=1e-4)
    assert json.loads((tmp_path / "low" / "result.json").read_text())["choices"] == low["choices"]


def test_cancel_then_resume_equals_uninterrupted(tmp_path):
    cfg = dict(epochs=2, warmup_epochs=0.5)
    full = ProxylessSearch(config(0.085, **cfg), tmp_path / "full").run()
    seen = []
    with pytest.raises(Cancelled):
        ProxylessSearch(config(0.085, **cfg), tmp_path / "cut").run(
            progress=seen.append, should_stop=lambda: sum(p.phase == "search" for p in seen) >= 3
        )
    assert (tmp_path / "cut" / "checkpoint.pt").is_file()
    reports = [p for p in seen if p.phase in ("warmup", "search")]
    assert reports and len(reports[-1].extra["probs"]) == 4 and reports[-1].extra["labels"][1][-1] == "zero"
    resumed = ProxylessSearch(None, tmp_path / "cut", resume=True).run()
    assert resumed["steps"] == full["steps"]
    for a, b in zip(resumed["probs"], full["probs"]):
        assert a == pytest.approx(b, abs=1e-5)


def test_resume_without_checkpoint_and_bad_config_are_user_errors(tmp_path):
    with pytest.raises(ExplorerError, match="no proxyless checkpoint"):
        ProxylessSearch(None, tmp_path, resume=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ExplorerError, match="damaged"):
        ProxylessSearch(None, tmp_path, resume=True)
    with pytest.raises(ExplorerError):
        config(0.1, epochs=0)
    with pytest.raises(ExplorerError):
        config(0.1, skeleton={"stages": [[16, 2, 3]]})
    with pytest.raises(ExplorerError, match="unknown device"):
        ProxylessSearch(config(0.1, device="no-such-device"), tmp_path / "x").run()


def _parser():
    from explorer.commands.proxyless import add_proxyless_parser

    p = argparse.ArgumentParser()
    add_proxyless_parser(p.add_subparsers(dest="search_command"))
    return p


def test_cli_runs_and_writes_progress(tmp_path, capsys):
    out = tmp_path / "run"
    sk = json.dumps(Skeleton.small(16).to_dict() | {"resolution": 16})
    args = _parser().parse_args(
        [
            "proxyless",
            "--device",
            "synthetic",
            "--target-ms",
            "0.09",
            "--epochs",
            "1",
            "--warmup-epochs",
            "0.5",
            "--resolution",
            "16",
            "--batch-size",
            "64",
            "--skeleton",
            sk,
            "-o",
            str(out),
            "--json",
        ]
    )
    assert args.handler(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["target_ms"] == 0.09 and (out / "arch.json").is_file()
    lines = [json.loads(s) for s in (out / "progress.jsonl").read_text().splitlines()]
    assert lines[0]["phase"] == "latency" and lines[-1]["phase"] == "done"
    assert any("probs" in rec["extra"] for rec in lines)
    with pytest.raises(ExplorerError, match="already holds"):
        args.handler(args)
    bad = _parser().parse_args(["proxyless", "--device", "synthetic", "-o", str(tmp_path / "b")])
    with pytest.raises(ExplorerError, match="target-ms"):
        bad.handler(bad)
