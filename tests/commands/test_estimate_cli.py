"""`nas-explorer estimate ...` subcommands, driven through their own argparse registration."""

from __future__ import annotations

import argparse
import json

import pytest

from explorer.arch import ArchGraph, save_arch
from explorer.commands import estimate
from explorer.errors import ExplorerError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    estimate.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture()
def arch_file(tmp_path):
    g = ArchGraph("small")
    g.add_node("input", {"channels": 3, "resolution": 16}, id="input")
    g.add_node("conv", {"out_channels": 8, "stride": 2}, id="c1")
    g.add_node("conv", {"out_channels": 8}, id="c2")
    g.add_node("conv", {"out_channels": 8}, id="c3")
    g.add_node("add", id="add")
    g.add_node("global_avgpool", id="gap")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", "c1", "c2", "c3")
    g.connect("c1", "add", 0)
    g.connect("c3", "add", 1)
    g.chain("add", "gap", "fc", "output")
    path = tmp_path / "small.json"
    save_arch(g, path)
    return path


def test_widen_then_deepen_files(arch_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        run(["estimate", "net2net", "deepen", str(arch_file), "--node", "c2", "-o", str(out), "--json"]) == 0
    )
    first = json.loads(capsys.readouterr().out)
    assert first["max_abs_output_diff"] <= 1e-5 and first["params_after"] > first["params_before"]
    new = first["new_node"]
    argv = ["estimate", "net2net", "widen", first["arch"], "--node", new, "--width", "12"]
    assert run([*argv, "--weights", first["weights"], "-o", str(out), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["max_abs_output_diff"] <= 1e-5


def test_refusal_is_an_explorer_error(arch_file, tmp_path, capsys):
    with pytest.raises(ExplorerError, match="add node add"):
        run(
            [
                "estimate",
                "net2net",
                "widen",
                str(arch_file),
                "--node",
                "c1",
                "--width",
                "12",
                "-o",
                str(tmp_path),
            ]
        )
    assert run(["estimate", "net2net", "actions", str(arch_file), "--json"]) == 0
    rows = {r["node"]: r for r in json.loads(capsys.readouterr().out)}
    assert not rows["c1"]["widen"] and "add" in rows["c1"]["widen_reason"]
    assert rows["c2"]["deepen"]


def test_oneshot_train_score_extract(tmp_path, capsys):
    ck = tmp_path / "os.pt"
    prog = tmp_path / "p.jsonl"
    argv = ["estimate", "oneshot", "train", "-o", str(ck), "--C", "4", "--N", "1", "--steps", "2"]
    assert run([*argv, "--batch-size", "8", "--progress-jsonl", str(prog), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"] == str(ck)
    assert len(prog.read_text().splitlines()) == 2
    cell = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    assert run(["estimate", "oneshot", "score", str(ck), "--arch", cell, "--val", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["arch_str"] == cell
    assert (
        run(["estimate", "oneshot", "extract", str(ck), "--arch", cell, "-o", str(tmp_path), "--json"]) == 0
    )
    with pytest.raises(ExplorerError, match="not a SMASH"):
        run(["estimate", "smash", "score", str(ck), "--sample", "1"])
    with pytest.raises(ExplorerError, match="unknown op"):
        run(["estimate", "oneshot", "score", str(ck), "--arch", cell.replace("none", "conv9")])


def test_spearman_and_ranking_table(tmp_path):
    from explorer.estimators.ranking import ESTIMATORS, load_ranking, nb201_accuracies, spearman

    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    with pytest.raises(ExplorerError):
        spearman([1, 2], [1, 2])
    assert load_ranking(path=tmp_path / "absent.json") is None
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"rows": [{"estimator": "params", "spearman": 0.7}]}))
    assert load_ranking(path=p)["rows"][0]["spearman"] == 0.7
    assert {e["key"] for e in ESTIMATORS} >= {"params", "zen", "gradsign", "oneshot", "smash", "eas"}
    from tests.conftest import shared_file

    acc = nb201_accuracies(shared_file("nb201", "nb201_cifar10_200ep.csv"))
    assert len(acc) == 15625 and all(0 < v <= 100 for v in acc.values())
