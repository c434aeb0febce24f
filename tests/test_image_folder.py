"""An ImageFolder directory (class per sub-folder) feeds GradSign batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.data import DataError, gradsign_batch


def test_image_folder_batch(tmp_path):
    from PIL import Image

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray((np.random.rand(40, 48, 3) * 255).astype("uint8")).save(tmp_path / c / f"{i}.png")
    x, y = gradsign_batch(4, 32, source=tmp_path)
    assert tuple(x.shape) == (4, 3, 32, 32)
    assert set(y.tolist()) <= {0, 1}
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError):
        gradsign_batch(4, 32, source=tmp_path / "empty")


def test_image_folder_as_a_training_set(tmp_path):
    from PIL import Image

    from explorer.supernet.datasets import load_dataset

    for c in ("a", "b", "c"):
        (tmp_path / c).mkdir()
        for i in range(4):
            Image.fromarray((np.random.rand(30, 36, 3) * 255).astype("uint8")).save(tmp_path / c / f"{i}.jpg")
    ds = load_dataset(tmp_path, "train", load_size=32)
    x, y = ds.batch(np.arange(3), 24)
    assert tuple(x.shape) == (3, 3, 24, 24) and y.dtype == torch.int64
