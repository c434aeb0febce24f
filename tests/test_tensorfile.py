"""Torch files: one loader with one-line errors, a SHA-256 of every file we write, no NaN/inf."""

from __future__ import annotations

import pickle
import random
import struct

import pytest
import torch

from explorer.errors import FormatError
from explorer.tensorfile import (
    DIGEST_KEY,
    load_tensors,
    payload_digest,
    read_torch,
    recorded_digest,
    save_tensors,
)

from .corrupt_helpers import damage_tensor_bytes


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(40, 64))


def test_digest_is_recorded_and_a_state_dict_stays_a_plain_state_dict(tmp_path):
    model = small_model()
    p = save_tensors(tmp_path / "w.pt", model.state_dict())
    plain = torch.load(p, weights_only=True)  # what a user of an exported file does
    assert set(plain) == set(model.state_dict())
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(40, 64))
    other.load_state_dict(plain)  # strict: the digest is not a key
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), model.state_dict().values()))
    assert plain._metadata["1"] == {"version": 2}  # BatchNorm's own metadata survives
    assert recorded_digest(plain) == payload_digest(plain)
    assert DIGEST_KEY in plain._metadata
    assert set(load_tensors(p, "weights file")) == set(model.state_dict())


@pytest.mark.parametrize("finite", [False, True])
def test_damaged_tensor_bytes_are_rejected(tmp_path, finite):
    p = save_tensors(tmp_path / "ck.pt", {"format": "x", "model": small_model().state_dict(), "step": 3})
    damage_tensor_bytes(p, finite=finite)
    torch.load(p, weights_only=True)  # torch alone accepts it
    with pytest.raises(FormatError, match="SHA-256") as e:
        load_tensors(p, "checkpoint")
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_a_changed_plain_value_is_rejected_too(tmp_path):
    p = save_tensors(tmp_path / "ck.pt", {"step": 3, "lr": 0.1, "names": ["a", "b"]})
    data = p.read_bytes()
    # pickle stores the float 0.1 as 8 big-endian bytes after BINFLOAT: change it to 0.2
    assert data.count(struct.pack(">d", 0.1)) == 1
    p.write_bytes(data.replace(struct.pack(">d", 0.1), struct.pack(">d", 0.2)))
    assert torch.load(p, weights_only=True)["lr"] == 0.2
    with pytest.raises(FormatError, match="SHA-256"):
        load_tensors(p)


def test_files_without_digest_load_unverified_but_nan_is_refused(tmp_path):
    old = tmp_path / "old.pt"
    sd = small_model().state_dict()
    torch.save(sd, old)  # as earlier versions (and other programs) wrote them
    assert recorded_digest(torch.load(old, weights_only=True)) is None
    assert set(load_tensors(old)) == set(sd)
    sd["2.weight"][3, 5] = float("nan")
    torch.save({"model": sd}, old)
    with pytest.raises(FormatError, match=r"tensor 'model\.2\.weight' holds NaN or inf"):
        load_tensors(old)
    # and a file we wrote with an inf in it (a diverged run) is refused on load as well
    sd["2.weight"][3, 5] = float("inf")
    with pytest.raises(FormatError, match="NaN or inf"):
        load_tensors(save_tensors(tmp_path / "new.pt", {"model": sd}))


def test_resaving_a_loaded_file_keeps_it_verifiable(tmp_path):
    p = save_tensors(tmp_path / "a.pt", {"t": torch.arange(6.0), "meta": {"k": [1, 2.5, None, "s"]}})
    obj = load_tensors(p)
    assert set(load_tensors(save_tensors(tmp_path / "b.pt", obj))) == {"t", "meta"}
    # a digest does not depend on where tensors live or how they are strided
    t = torch.arange(12.0).reshape(3, 4)
    assert payload_digest({"t": t.t().contiguous()}) == payload_digest({"t": t.t()})
    assert payload_digest({"t": t}) != payload_digest({"t": t.reshape(4, 3)})
    assert payload_digest({"a": 1}) != payload_digest({"a": 1.0}) != payload_digest({"a": True})


class Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "empty or truncated"),
        (lambda p: p.write_bytes(b"not a checkpoint at all"), "not a torch file"),
        (lambda p: p.write_bytes(random.Random(1).randbytes(5000)), "not a torch file"),
        (lambda p: torch.save({"x": Evil()}, p), "never unpickles"),
        (lambda p: p.write_bytes(pickle.dumps({"x": Evil()})), "not a torch file"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: None, "no such"),
    ],
    ids=["empty", "text", "random", "pickled-code", "plain-pickle", "folder", "missing"],
)
def test_unreadable_files_give_one_line_naming_the_file(tmp_path, capsys, make, reason):
    p = tmp_path / "x.pt"
    make(p)
    with pytest.raises(FormatError, match=reason) as e:
        read_torch(p, "weights file")
    msg = str(e.value)
    assert msg.startswith(str(p)) and "\n" not in msg and "Weights only load failed" not in msg
    assert "unpickled!" not in capsys.readouterr().out


def test_truncated_file(tmp_path):
    p = save_tensors(tmp_path / "t.pt", small_model().state_dict())
    data = p.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        p.write_bytes(data[:cut])
        with pytest.raises(
            FormatError, match=r"t\.pt: not a NAS Explorer weights file, or a damaged one \(empty or tr"
        ):
            load_tensors(p, "weights file")


def test_a_top_level_that_is_not_a_dict_is_refused(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "l.pt")
    with pytest.raises(FormatError, match="holds a list, not a dictionary"):
        load_tensors(tmp_path / "l.pt", "checkpoint")


@pytest.mark.parametrize(
    "dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64, torch.complex64]
)
def test_non_finite_values_are_found_in_every_floating_type(dtype):
    from explorer.tensorfile import first_non_finite

    x = torch.ones(2, 3, dtype=dtype)
    assert first_non_finite({"a": {"b": x, "n": torch.arange(3)}}) is None
    for bad in (float("nan"), float("inf"), -float("inf")):
        y = x.clone()
        y[1, 2] = bad
        assert first_non_finite({"a": [x, {"b": y}]}) == "a.1.b"
        assert first_non_finite({"t": y.t()}) == "t"  # strided views too
