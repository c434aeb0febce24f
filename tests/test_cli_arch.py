"""The `arch` and `spaces` CLI contract: files written, JSON shapes, exit codes."""

from __future__ import annotations

import json

from explorer.arch import load_arch
from explorer.cli import main


def test_sample_info_validate(tmp_path, capsys):
    out = tmp_path / "a.json"
    assert main(["arch", "sample", "--space", "ofa-mbv3-w1.0", "--seed", "3", "-o", str(out)]) == 0
    g = load_arch(out)
    assert g.meta["space"] == "ofa-mbv3-w1.0"
    capsys.readouterr()
    assert main(["arch", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (
        info["params"] > 3_000_000
        and info["macs"] > 0
        and info["input_shape"] == [3, g.resolution, g.resolution]
    )
    assert info["layers"][1]["node"] == "stem"
    assert main(["arch", "info", str(out)]) == 0
    assert "params" in capsys.readouterr().out
    assert main(["arch", "validate", str(out)]) == 0


def test_sample_nb201_by_arch_string_and_config(tmp_path, capsys):
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    out = tmp_path / "n.json"
    assert main(["arch", "sample", "--space", "nb201", "--arch-str", s, "-o", str(out)]) == 0
    assert load_arch(out).meta["config"] == {"arch_str": s}
    cfg = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 160}
    out2 = tmp_path / "o.json"
    assert (
        main(["arch", "sample", "--space", "ofa-mbv3-w1.2", "--config", json.dumps(cfg), "-o", str(out2)])
        == 0
    )
    assert load_arch(out2).meta["config"] == cfg


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "nas-explorer/arch", "version": 9}')
    assert main(["arch", "info", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "version 9" in err and "\n" not in err
    assert main(["arch", "sample", "--space", "nope", "-o", str(tmp_path / "x.json")]) == 2
    assert (
        main(["arch", "sample", "--space", "nb201", "--config", "{bad", "-o", str(tmp_path / "x.json")]) == 2
    )


def test_validate_reports_invalid_graph(tmp_path, capsys):
    out = tmp_path / "a.json"
    main(["arch", "sample", "--space", "nb201", "--seed", "1", "-o", str(out)])
    doc = json.loads(out.read_text())
    doc["edges"] = [e for e in doc["edges"] if e["dst"] != "classifier"]
    out.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["arch", "validate", str(out)]) == 1
    err = capsys.readouterr().err
    assert "classifier" in err


def test_spaces_lists_sizes(capsys):
    assert main(["spaces", "--json"]) == 0
    spaces = {s["name"]: s["size"] for s in json.loads(capsys.readouterr().out)}
    assert spaces["nb201"] == 15625
