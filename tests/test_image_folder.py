"""An ImageFolder directory (class per sub-folder) feeds GradSign batches."""

from __future__ import annotations

import numpy as np
import pytest

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
