"""`nas-explorer score`: JSON keys, determinism, errors (through explorer.cli.main)."""

from __future__ import annotations

import json

import pytest

from explorer.arch import save_arch
from explorer.cli import main
from explorer.spaces.nb201 import NB201Space

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def arch_file(tmp_path_factory):
    graph = NB201Space(channels=4, cells_per_stage=1, resolution=16).encode({"arch_str": ARCH})
    return str(save_arch(graph, tmp_path_factory.mktemp("arch") / "tiny.json"))


def _run(capsys, *argv):
    rc = main(["score", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_keys_and_determinism(arch_file, capsys):
    argv = [arch_file, "--batch-size", "8", "--seed", "3", "--json"]
    rc, out, _ = _run(capsys, *argv)
    assert rc == 0
    a = json.loads(out)
    assert set(a) == {"params", "macs", "zen", "gradsign"}
    assert {"score", "std", "repeats", "batch_size", "resolution", "bn_variance"} <= set(a["zen"])
    assert (
        a["zen"]["batch_size"] == 8 and a["zen"]["resolution"] == 16 and a["zen"]["bn_variance"] == "running"
    )
    assert a["gradsign"] == {**a["gradsign"], "batch_size": 8, "resolution": 16, "method": "fast"}
    assert isinstance(a["gradsign"]["score"], int) and a["params"] > 0 and a["macs"] > 0
    assert json.loads(_run(capsys, *argv)[1]) == a


def test_options_change_settings(arch_file, capsys):
    rc, out, _ = _run(
        capsys,
        arch_file,
        "--proxies",
        "zen,macs",
        "--resolution",
        "8",
        "--zen-batch",
        "4",
        "--repeats",
        "2",
        "--bn-variance",
        "batch",
        "--json",
    )
    assert rc == 0
    r = json.loads(out)
    assert set(r) == {"macs", "zen"}
    assert r["zen"]["resolution"] == 8 and r["zen"]["repeats"] == 2 and r["zen"]["bn_variance"] == "batch"
    rc16, out16, _ = _run(capsys, arch_file, "--proxies", "macs", "--json")
    assert 3.5 * r["macs"] < json.loads(out16)["macs"] < 4 * r["macs"]  # conv MACs follow the resolution


def test_text_output(arch_file, capsys):
    rc, out, _ = _run(capsys, arch_file, "--proxies", "zen,gradsign,params", "--batch-size", "4")
    assert rc == 0 and "Zen-Score" in out and "GradSign" in out and "running" in out


@pytest.mark.parametrize(
    "extra",
    [["--proxies", "nope"], ["--batch-size", "0"], ["--resolution", "-4"], ["--gradsign-batch", "5000"]],
)
def test_bad_input_exit_2(arch_file, capsys, extra):
    rc, _, err = _run(capsys, arch_file, *extra)
    assert rc == 2 and err.startswith("nas-explorer: error:") and err.count("\n") == 1


def test_missing_file(tmp_path, capsys):
    rc, _, err = _run(capsys, str(tmp_path / "none.json"))
    assert rc == 2 and "no such file" in err
