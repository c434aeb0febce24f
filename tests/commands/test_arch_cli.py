"""The `arch` and `spaces` CLI contract: files written, JSON shapes, exit codes."""

from __future__ import annotations

import json

import pytest

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


# -- exit codes and output that stays parseable (issue 15) ------------------------------------------
def _sample(tmp_path, space="nb201", seed=1):
    out = tmp_path / f"{space}.json"
    assert main(["arch", "sample", "--space", space, "--seed", str(seed), "-o", str(out)]) == 0
    return out


def test_internal_error_is_one_line_exit_3_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    from explorer.commands import arch as arch_cmd

    out = _sample(tmp_path)
    capsys.readouterr()

    def broken(graph):
        raise RuntimeError("boom " + "x" * 2000)

    monkeypatch.setattr(arch_cmd, "count_complexity", broken)
    assert main(["arch", "info", str(out)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("nas-explorer: internal error: RuntimeError: boom") and len(err[0]) <= 300
    assert err[1:] == ["(run with --debug for the traceback)"]
    assert main(["--debug", "arch", "info", str(out)]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert err.splitlines()[-1].startswith("nas-explorer: internal error: RuntimeError")


def test_unwritable_output_is_bad_input_not_a_crash(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["arch", "sample", "--space", "nb201", "-o", str(blocker / "a.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas-explorer: error: ") and "\n" not in err


def test_bad_config_json_is_exit_2(tmp_path, capsys):
    for cfg in ("[" * 5000, '{"arch_str": NaN}'):
        assert main(["arch", "sample", "--space", "nb201", "--config", cfg, "-o", str(tmp_path / "x")]) == 2
        assert "--config is not valid JSON" in capsys.readouterr().err


def test_error_lines_are_capped(tmp_path, capsys):
    long_name = tmp_path / ("d" * 200) / ("f" * 200 + ".json")
    long_name.parent.mkdir()
    long_name.write_text(
        '{"format": "nas-explorer/arch", "version": 1, "nodes": [{"id": "' + "a" * 5000 + '"}]}'
    )
    assert main(["arch", "info", str(long_name)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) <= 301 and "invalid id" in err


def test_print_json_is_strict_json(capsys):
    from explorer.commands._output import print_json

    print_json({"a": float("nan"), "b": [1.5, float("inf"), (2, float("-inf"))], "c": {"d": "\u00e9"}})
    out = capsys.readouterr().out
    assert json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in output")) == {
        "a": None,
        "b": [1.5, None, [2, None]],
        "c": {"d": "\u00e9"},
    }


def test_subprocess_paths_that_cannot_be_encoded_and_nan_files(tmp_path):
    """As a user runs it (a real terminal encoding): an undecodable file name prints escaped, a
    NaN literal is refused with exit 2, and neither shows a traceback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": ""}
    env.pop("PYTHONIOENCODING")
    good = _sample(tmp_path)
    odd = os.path.join(os.fsencode(tmp_path), b"\xff.json")
    with open(odd, "wb") as f:
        f.write(good.read_bytes())
    nan = tmp_path / "nan.json"
    nan.write_text(good.read_text().replace('"meta": {', '"meta": {"x": NaN, ', 1))
    runs = [
        ([os.fsdecode(odd)], 0, "valid"),
        ([str(nan)], 2, "NaN is not allowed"),
    ]
    for files, code, needle in runs:
        r = subprocess.run(
            [sys.executable, "-m", "explorer", "arch", "validate", *files],
            capture_output=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        text = (r.stdout + r.stderr).decode("utf-8", "replace")
        assert r.returncode == code and needle in text and "Traceback" not in text, text
