"""Data for proxies: shipped CIFAR sample, default GradSign batch, normalisation, resize, other sources."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer import data
from explorer.data import CIFAR_MEAN, CIFAR_STD, DataError, gradsign_batch, load_builtin_cifar

from .conftest import shared_file


def test_builtin_sample_shapes_and_shared_agreement():
    for split in ("train", "test"):
        x, y = load_builtin_cifar(split)
        assert x.shape == (256, 32, 32, 3) and x.dtype == np.uint8
        assert y.shape == (256,) and y.dtype == np.int64 and set(np.unique(y)) <= set(range(10))
        with np.load(shared_file("cifar10", f"cifar10_{split}_first1000.npz")) as d:
            assert np.array_equal(d["x"][:256], x) and np.array_equal(d["y"][:256], y)
    with pytest.raises(DataError):
        load_builtin_cifar("valid")


def test_default_batch_is_first_128_normalised():
    x, y = gradsign_batch()
    assert x.shape == (128, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    raw, labels = load_builtin_cifar("train")
    assert torch.equal(y, torch.as_tensor(labels[:128]))
    for c in range(3):
        expected = (raw[5, 7, 9, c] / 255.0 - CIFAR_MEAN[c]) / CIFAR_STD[c]
        assert float(x[5, c, 7, 9]) == pytest.approx(expected, abs=1e-5)


def test_falls_back_to_shipped_copy(monkeypatch):
    ref = gradsign_batch(16)
    monkeypatch.setattr(data, "shared_cifar_path", lambda split="train": None)
    x, y = gradsign_batch(16)
    assert torch.equal(x, ref[0]) and torch.equal(y, ref[1])
    with pytest.raises(DataError, match="256"):
        gradsign_batch(300)


def test_resize_matches_bilinear_without_antialias():
    x32, _ = gradsign_batch(4)
    x64, _ = gradsign_batch(4, resolution=64)
    assert x64.shape == (4, 3, 64, 64)
    assert torch.equal(x64, F.interpolate(x32, size=(64, 64), mode="bilinear", align_corners=False))
    const = torch.full((1, 3, 32, 32), 0.25)
    assert torch.allclose(data.resize(const, 20), torch.full((1, 3, 20, 20), 0.25))
    with pytest.raises(DataError):
        data.resize(const, 0)


def test_augmentation_is_seeded_and_optional():
    plain, _ = gradsign_batch(8)
    a, _ = gradsign_batch(8, augment=True, seed=1)
    b, _ = gradsign_batch(8, augment=True, seed=1)
    c, _ = gradsign_batch(8, augment=True, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, plain)
    assert a.shape == plain.shape


def test_npz_source_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "mine.npz", x=x, y=np.arange(5))
    imgs, labels = gradsign_batch(3, 16, source=tmp_path / "mine.npz")
    assert imgs.shape == (3, 3, 16, 16) and labels.tolist() == [0, 1, 2]
    with pytest.raises(DataError, match="holds 5"):
        gradsign_batch(6, 16, source=tmp_path / "mine.npz")
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(DataError, match="'x' and 'y'"):
        gradsign_batch(2, source=tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DataError):
        gradsign_batch(2, source=tmp_path / "junk.npz")
    with pytest.raises(DataError, match="no such"):
        gradsign_batch(2, source=tmp_path / "missing")


def test_image_folder(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
    try:
        from PIL import Image
    except ImportError:
        with pytest.raises(DataError, match="Pillow"):
            gradsign_batch(2, 8, source=tmp_path)
        return
    for k, cls in enumerate(("cat", "dog")):
        for i in range(3):
            Image.fromarray(np.full((12, 20, 3), 40 * k + i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    x, y = gradsign_batch(4, 8, source=tmp_path, seed=0)
    assert x.shape == (4, 3, 8, 8) and set(y.tolist()) <= {0, 1}
    assert torch.equal(x, gradsign_batch(4, 8, source=tmp_path, seed=0)[0])
