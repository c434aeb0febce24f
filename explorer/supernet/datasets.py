"""Training data for supernets: the built-in CIFAR sample, CIFAR-style npz files and ImageFolder dirs.

Images are kept as uint8 NHWC (npz, built-in) or read per batch (ImageFolder, stored at a fixed
`load_size`); `batch(indices, ...)` returns normalised float NCHW tensors at the step's resolution,
with seeded crop + flip augmentation when training. Augmentation parameters are drawn for the
whole global batch from the step's seed, so data-parallel ranks (which see shards) and a single
process (which sees the whole batch) transform every image identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer import data as core_data
from explorer.data import CIFAR_MEAN, CIFAR_STD, DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


@dataclass
class ImageSet:
    """A labelled image set: uint8 NHWC array, or a list of files decoded on demand."""

    labels: np.ndarray
    images: np.ndarray | None = None
    files: list[Path] | None = None
    load_size: int = 32
    mean: tuple = CIFAR_MEAN
    std: tuple = CIFAR_STD
    n_classes: int = 10

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None) -> ImageSet:
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise DataError(f"subset must hold at least one image, got {n}")
        return ImageSet(
            self.labels[:n],
            None if self.images is None else self.images[:n],
            None if self.files is None else self.files[:n],
            self.load_size,
            self.mean,
            self.std,
            self.n_classes,
        )

    def _uint8(self, idx: np.ndarray) -> np.ndarray:
        if self.images is not None:
            return self.images[idx]
        out = np.empty((len(idx), self.load_size, self.load_size, 3), dtype=np.uint8)
        for k, i in enumerate(idx):
            out[k] = core_data.read_image(self.files[i], self.load_size)
        return out

    def batch(
        self,
        indices: np.ndarray,
        resolution: int,
        aug_seed: int | None = None,
        aug_offset: int = 0,
        aug_total: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B,3,r,r] float and labels [B] for `indices`; augmented when `aug_seed` is given.

        With augmentation, `aug_offset`/`aug_total` place this shard inside the global batch whose
        random crop offsets and flips are drawn from `aug_seed`.
        """
        x = core_data.normalize(self._uint8(indices), self.mean, self.std)
        if aug_seed is not None:
            x = _crop_flip(x, aug_seed, aug_offset, aug_total or len(indices))
        x = (
            F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
            if (x.shape[-1] != resolution or x.shape[-2] != resolution)
            else x
        )
        return x.contiguous(), torch.as_tensor(self.labels[indices], dtype=torch.int64)


def _crop_flip(x: torch.Tensor, seed: int, offset: int, total: int) -> torch.Tensor:
    """Pad by size/8 (with the normalised zero), random crop back, random horizontal flip."""
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = x.shape
    pad = max(1, h // 8)
    ij = torch.randint(0, 2 * pad + 1, (total, 2), generator=g)[offset : offset + n]
    flip = (torch.rand(total, generator=g) < 0.5)[offset : offset + n]
    return core_data.crop_from(F.pad(x, (pad, pad, pad, pad), value=0.0), ij, flip, h, w)


def _npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as d:
            return {k: d[k] for k in d.files}
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable npz file ({e})") from None


def _from_arrays(x: np.ndarray, y: np.ndarray, where: str) -> ImageSet:
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise DataError(f"{where}: images must be uint8 [N, H, W, 3], got {x.dtype} {x.shape}")
    if len(x) != len(y):
        raise DataError(f"{where}: {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"{where}: the dataset holds no images")
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    return ImageSet(y, images=x, load_size=x.shape[1], n_classes=int(y.max()) + 1)


def _folder(root: Path, load_size: int) -> ImageSet:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root}: no class subdirectories (expected ROOT/CLASS/IMAGE files)")
    files, labels = [], []
    for ci, c in enumerate(classes):
        for f in sorted((root / c).rglob("*")):
            if f.suffix.lower() in _SUFFIXES:
                files.append(f)
                labels.append(ci)
    if not files:
        raise DataError(f"{root}: no images found in its class folders")
    order = np.random.default_rng(0).permutation(len(files))  # mixed classes for --subset
    return ImageSet(
        np.asarray(labels, dtype=np.int64)[order],
        files=[files[i] for i in order],
        load_size=load_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        n_classes=len(classes),
    )


def load_dataset(spec: str | Path, split: str = "train", load_size: int = 32) -> ImageSet:
    """`builtin` (shipped CIFAR-10 sample), `cifar-sample` (shared 1000-image sample), an `.npz` path
    (`x`/`y`, or `x_train`/`y_train` + `x_test`/`y_test`) or an ImageFolder directory (uses
    `train/` and `val/` subfolders when present, else the last 10 % as validation)."""
    if split not in ("train", "val"):
        raise DataError(f"unknown split {split!r}")
    spec = str(spec)
    if spec == "builtin":
        x, y = core_data.load_builtin_cifar("train" if split == "train" else "test")
        return _from_arrays(x, y, "built-in CIFAR-10 sample")
    if spec == "cifar-sample":
        p = core_data.shared_cifar_path("train" if split == "train" else "test")
        if p is None:
            raise DataError(
                "the shared CIFAR-10 sample (../shared/data/cifar10) is not present; use 'builtin'"
            )
        d = _npz(p)
        return _from_arrays(d["x"], d["y"], str(p))
    path = Path(spec)
    if path.is_dir():
        sub = path / ("train" if split == "train" else "val")
        if (path / "train").is_dir() and sub.is_dir():
            return _folder(sub, load_size)
        full = _folder(path, load_size)
        return _holdout(full, split)
    if path.is_file():
        d = _npz(path)
        if "x_train" in d and "x_test" in d:
            k = "train" if split == "train" else "test"
            return _from_arrays(d[f"x_{k}"], d[f"y_{k}"], str(path))
        if "x" not in d or "y" not in d:
            raise DataError(f"{path}: expected arrays 'x' and 'y' in the npz, found {sorted(d)}")
        sibling = path.with_name(path.name.replace("train", "test")) if "train" in path.name else None
        if sibling is not None and sibling.is_file():
            if split == "val":
                d2 = _npz(sibling)
                return _from_arrays(d2["x"], d2["y"], str(sibling))
            return _from_arrays(d["x"], d["y"], str(path))
        return _holdout(_from_arrays(d["x"], d["y"], str(path)), split)
    raise DataError(f"{spec}: no such dataset (use 'builtin', a .npz file or an image folder)")


def _holdout(full: ImageSet, split: str) -> ImageSet:
    n_val = max(1, len(full) // 10)
    if len(full) < 2:
        raise DataError("the dataset needs at least two images to hold one out for validation")
    sl = slice(len(full) - n_val, None) if split == "val" else slice(0, len(full) - n_val)
    return ImageSet(
        full.labels[sl],
        None if full.images is None else full.images[sl],
        None if full.files is None else full.files[sl],
        full.load_size,
        full.mean,
        full.std,
        full.n_classes,
    )
