"""One atomic writer for every file the app writes: the user's normal mode (umask), a kept mode
for existing files, backups, and nothing left behind when a write fails."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from explorer.fileio import WriteError, atomic_write, atomic_write_bytes, atomic_write_text

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def umask():
    """Run with a given umask (process-wide), restoring the old one afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(mask: int) -> None:
        os.umask(mask)

    yield set_
    os.umask(old)


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_new_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, expected):
    umask(mask)
    assert mode(atomic_write_text(tmp_path / "a.json", "{}\n")) == expected
    assert mode(atomic_write_bytes(tmp_path / "sub" / "b.bin", b"x")) == expected


def test_an_existing_file_keeps_its_mode_and_gets_a_backup(tmp_path, umask):
    umask(0o022)
    p = tmp_path / "d.json"
    p.write_text("old")
    os.chmod(p, 0o600)  # a user made it private: rewriting it must not publish it
    atomic_write_text(p, "new", backup=True)
    assert p.read_text() == "new" and mode(p) == 0o600
    assert (tmp_path / "d.json.bak").read_text() == "old"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    p = tmp_path / "w.pt"
    p.write_bytes(b"good")

    def boom(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(p, boom)
    assert p.read_bytes() == b"good"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["w.pt"]


def test_an_output_path_that_cannot_take_a_file_is_one_line(tmp_path, capsys):
    from explorer.arch import save_arch
    from explorer.cli import main
    from explorer.spaces import get_space

    (tmp_path / "dir.onnx").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="dir.onnx"):
        atomic_write_bytes(tmp_path / "dir.onnx", b"x")
    with pytest.raises(WriteError, match="cannot write"):
        atomic_write_text(tmp_path / "file" / "a.json", "{}")
    arch = save_arch(get_space("nb201").encode(get_space("nb201").sample(0)), tmp_path / "a.json")
    assert main(["export", str(arch), "--format", "onnx", "-o", str(tmp_path / "dir.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write" in err[0]
    assert not list(tmp_path.rglob("*.tmp"))


def test_every_writer_of_the_app_gives_the_user_mode(tmp_path, umask, monkeypatch):
    """Architectures, exports, checkpoints, weights, predictors, device files, latency CSVs."""
    from explorer.arch import save_arch
    from explorer.cli import main
    from explorer.estimators._common import write_state
    from explorer.estimators.smash import SmashConfig, new_smash, save_smash
    from explorer.export import export
    from explorer.latency import registry as D
    from explorer.search.predictor import AccuracyPredictor, mlp
    from explorer.spaces import get_space
    from explorer.supernet import checkpoint as ckpt

    umask(0o022)
    monkeypatch.setenv("NAS_EXPLORER_LUTS", str(tmp_path / "luts"))
    sp = get_space("nb201")
    g = sp.encode(sp.sample(0))
    written = [save_arch(g, tmp_path / "a.json")]
    res = export(g, "state-dict", tmp_path / "sd")
    written += [*res.paths, res.card]
    written.append(ckpt.save_atomic({"format": "x", "t": torch.zeros(3)}, tmp_path / "ck.pt"))
    write_state({"w": torch.zeros(2)}, tmp_path / "w.pt")
    written.append(tmp_path / "w.pt")
    cfg = SmashConfig(C=4, N=1, hidden=8)
    written.append(save_smash(new_smash(cfg), cfg, tmp_path / "smash.pt"))
    written.append(AccuracyPredictor(mlp(8)).save(tmp_path / "pred.pt"))
    dev = D.load_device("help-nb201-pixel3")
    written.append(D.save_device(dev, tmp_path / "dev.json"))
    written.append(D.save_device(dev, tmp_path / "dev.json"))  # second write: a backup beside it
    written.append(tmp_path / "dev.json.bak")
    out = tmp_path / "lat.csv"
    argv = ["latency", "predict", str(written[0]), "--device", str(tmp_path / "dev.json"), "-o", str(out)]
    assert main(argv) == 0
    written.append(out)
    assert {str(p): oct(mode(p)) for p in written} == {str(p): oct(0o644) for p in written}
    assert not list(tmp_path.rglob("*.tmp"))
