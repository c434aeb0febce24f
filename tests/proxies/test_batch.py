"""`nas-explorer score --batch`: the CSV contract (input columns kept, one column per proxy named
exactly as given), arch_str / config / file rows, workers that change nothing, clear errors."""

from __future__ import annotations

import csv
import json

import pytest

from explorer.cli import main
from explorer.proxies.population import population_scores
from explorer.proxies.registry import ProxySettings, compute_many
from explorer.spaces import get_space

PROXIES = "az-nas,meco,params,zen,ensemble"
ARGS = ["--batch-size", "8", "--resolution", "16"]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def read_csv(path):
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        return r.fieldnames, list(r)


@pytest.fixture
def cells(tmp_path):
    sp = get_space("nb201")
    rows = [[f"c{i}", sp.sample(i)["arch_str"], i % 2] for i in range(4)]
    return write_csv(tmp_path / "cells.csv", ["name", "arch_str", "fold"], rows), rows


def test_batch_keeps_the_input_columns_and_adds_one_per_proxy(tmp_path, cells, capsys):
    src, rows = cells
    out = tmp_path / "out.csv"
    argv = ["score", "--batch", str(src), "--space", "nb201", "--proxies", PROXIES, "-o", str(out), *ARGS]
    assert main(argv) == 0
    fields, got = read_csv(out)
    assert fields == ["name", "arch_str", "fold", *PROXIES.split(",")]
    assert [r["arch_str"] for r in got] == [r[1] for r in rows]
    # the same numbers as the registry on the same graphs, population proxies over these 4 rows
    sp = get_space("nb201")
    settings = ProxySettings.official(resolution=16, batch={"zen": 8, "az-nas": 8})
    values = [compute_many(sp.encode({"arch_str": r[1]}), PROXIES.split(","), settings) for r in rows]
    for name in PROXIES.split(","):
        want = population_scores(name, [v[name] for v in values])
        assert [float(r[name]) for r in got] == pytest.approx(want, rel=1e-9), name
    assert [int(r["params"]) for r in got] == [int(v["params"].score) for v in values]


def test_workers_change_nothing_and_config_and_file_rows_read(tmp_path, cells):
    src, rows = cells
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    base = ["score", "--space", "nb201", "--proxies", "meco,az-nas,params", *ARGS]
    assert main([*base, "--batch", str(src), "-o", str(one)]) == 0
    assert main([*base, "--batch", str(src), "-o", str(two), "--workers", "2"]) == 0
    assert read_csv(one) == read_csv(two)

    sp = get_space("nb201")
    cfg = write_csv(tmp_path / "cfg.csv", ["config"], [[json.dumps({"arch_str": r[1]})] for r in rows])
    assert main([*base, "--batch", str(cfg), "-o", str(tmp_path / "cfg_out.csv")]) == 0
    from explorer.arch import save_arch

    (tmp_path / "nets").mkdir()
    for i, r in enumerate(rows):
        save_arch(sp.encode({"arch_str": r[1]}), tmp_path / "nets" / f"{i}.json")
    files = write_csv(tmp_path / "files.csv", ["file"], [[f"nets/{i}.json"] for i in range(len(rows))])
    assert (
        main(
            [
                "score",
                "--proxies",
                "meco,az-nas,params",
                *ARGS,
                "--batch",
                str(files),
                "-o",
                str(tmp_path / "f.csv"),
            ]
        )
        == 0
    )
    cols = ("meco", "az-nas", "params")
    ref = [[r[c] for c in cols] for r in read_csv(one)[1]]
    for path in (tmp_path / "cfg_out.csv", tmp_path / "f.csv"):
        assert [[r[c] for c in cols] for r in read_csv(path)[1]] == ref


def test_bad_batches_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "o.csv"
    bad = write_csv(tmp_path / "bad.csv", ["arch_str"], [["|nor_conv_3x3~0|+|x~0|"]])
    assert (
        main(["score", "--batch", str(bad), "--space", "nb201", "--proxies", "params", "-o", str(out)]) == 2
    )
    err = capsys.readouterr().err
    assert "line 2" in err and len(err.strip().splitlines()) == 1 and not out.exists()
    nocol = write_csv(tmp_path / "nocol.csv", ["name"], [["a"]])
    assert main(["score", "--batch", str(nocol), "--space", "nb201", "-o", str(out)]) == 2
    assert "arch_str, config or file column" in capsys.readouterr().err
    good = write_csv(tmp_path / "good.csv", ["arch_str"], [[get_space("nb201").sample(0)["arch_str"]]])
    assert (
        main(["score", "--batch", str(good), "--space", "nb201", "--proxies", "zen,nope", "-o", str(out)])
        == 2
    )
    assert main(["score", "--batch", str(good), "--space", "nb201"]) == 2  # no -o
    assert main(["score", "--batch", str(good), "--proxies", "params", "-o", str(out)]) == 2  # no --space
