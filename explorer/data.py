"""Small real image batches for zero-shot proxies and demos (CIFAR-10 by default).

GradSign needs one real labelled batch. By default that is the first 128 images of the shared
CIFAR-10 training sample (`../shared/data/cifar10/cifar10_train_first1000.npz`), the setting the
published rank correlations were measured with, normalised with the official CIFAR-10 mean/std,
**without augmentation** (the GradSign repo crops and flips; an optional seeded crop+flip is
offered). When shared/ is absent the same images come from the copy shipped in
`explorer/_data/cifar10_sample.npz` (first 256 train and first 256 test images of that sample;
CIFAR-10, decoded from the ConvNetJS demo sprites, see ../shared/data/README.md).

Arrays on disk are uint8 NHWC RGB; everything returned as tensors is float32 NCHW.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import ExplorerError

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
DEFAULT_GRADSIGN_BATCH = 128

_BUILTIN = Path(__file__).resolve().parent / "_data" / "cifar10_sample.npz"
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"  # the product side's data
_SHARED_CIFAR = SHARED_DATA / "cifar10"
NB201_CSV = SHARED_DATA / "nb201/nb201_cifar10_200ep.csv"  # accuracies of all 15,625 cells
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


class DataError(ExplorerError):
    """A dataset could not be read or does not fit the request."""


def load_builtin_cifar(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The shipped CIFAR-10 sample: (images uint8 [256, 32, 32, 3] RGB HWC, labels int64 [256]).

    Always present (package data), so demos and tests run without ../shared.
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown CIFAR split {split!r} (expected 'train' or 'test')")
    with np.load(_BUILTIN) as d:
        return d[f"x_{split}"].copy(), d[f"y_{split}"].astype(np.int64)


def shared_cifar_path(split: str = "train") -> Path | None:
    """Path of the 1000-image shared CIFAR-10 sample, or None when ../shared is not there."""
    p = _SHARED_CIFAR / f"cifar10_{split}_first1000.npz"
    return p if p.is_file() else None


def normalize(images: np.ndarray | torch.Tensor, mean=CIFAR_MEAN, std=CIFAR_STD) -> torch.Tensor:
    """uint8 NHWC RGB -> float32 NCHW, scaled to [0, 1] then standardised per channel."""
    x = torch.as_tensor(np.asarray(images))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise DataError(f"expected images of shape [N, H, W, 3], got {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


def resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bilinear resize of an NCHW batch to resolution x resolution (antialias off, as torchvision on tensors).

    Bilinear interpolation commutes with per-channel standardisation, so resizing after
    normalising equals resizing first.
    """
    if resolution < 1:
        raise DataError(f"resolution must be positive, got {resolution}")
    if x.shape[-2:] == (resolution, resolution):
        return x
    return F.interpolate(
        x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=False
    )


def crop_flip(x: torch.Tensor, seed: int, padding: int = 4) -> torch.Tensor:
    """CIFAR training augmentation: RandomCrop(size, padding) + RandomHorizontalFlip, seeded.

    Zero padding is applied in pixel space (before normalisation in torchvision), which after
    normalisation is the value -mean/std; we pad with that value to match.
    """
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = x.shape
    m = torch.tensor(CIFAR_MEAN).view(1, c, 1, 1)
    s = torch.tensor(CIFAR_STD).view(1, c, 1, 1)
    padded = (-m / s).expand(n, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding : padding + h, padding : padding + w] = x
    ij = torch.randint(0, 2 * padding + 1, (n, 2), generator=g)
    flip = torch.rand(n, generator=g) < 0.5
    return crop_from(padded, ij, flip, h, w)


def crop_from(padded: torch.Tensor, ij: torch.Tensor, flip: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Sample k's (h, w) window of `padded` at offset ij[k], mirrored where flip[k]."""
    out = torch.empty(padded.shape[0], padded.shape[1], h, w, dtype=padded.dtype)
    for k in range(padded.shape[0]):
        i, j = int(ij[k, 0]), int(ij[k, 1])
        crop = padded[k, :, i : i + h, j : j + w]
        out[k] = crop.flip(-1) if flip[k] else crop
    return out


def load_npz_batch(path: str | Path, batch_size: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """First `batch_size` images (from `start`) of a CIFAR-style npz: `x` uint8 [N, H, W, 3] and `y`."""
    path = Path(path)
    try:
        with np.load(path) as d:
            keys = set(d.files)
            xk = "x" if "x" in keys else "x_train" if "x_train" in keys else None
            yk = "y" if "y" in keys else "y_train" if "y_train" in keys else None
            if xk is None or yk is None:
                raise DataError(f"{path}: expected arrays 'x' and 'y' in the npz, found {sorted(keys)}")
            x, y = d[xk], d[yk]
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable npz file ({e})") from None
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise DataError(f"{path}: 'x' must be uint8 [N, H, W, 3], got {x.dtype} {x.shape}")
    if len(y) != len(x):
        raise DataError(f"{path}: {len(x)} images but {len(y)} labels")
    if start + batch_size > len(x):
        raise DataError(f"{path}: asked for {batch_size} images from {start}, file holds {len(x)}")
    return x[start : start + batch_size], np.asarray(y[start : start + batch_size], dtype=np.int64)


def read_image(path: str | Path, size: int) -> np.ndarray:
    """One image file as uint8 [size, size, 3] RGB: shorter side resized to `size` (bilinear),
    then centre-cropped, as a standard evaluation transform does. Needs Pillow."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading image files needs Pillow: pip install pillow (or give a .npz)") from None
    try:
        im = Image.open(path).convert("RGB")
    except OSError as e:
        raise DataError(f"{path}: cannot read image ({e})") from None
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)


def load_image_folder(
    root: str | Path, batch_size: int, resolution: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random batch from an ImageFolder-style directory (one subdirectory per class).

    Each image is resized (shorter side to `resolution`, bilinear) and centre-cropped, as a
    standard evaluation transform would. Needs Pillow.
    """
    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root}: no class subdirectories (expected ROOT/CLASS/IMAGE files)")
    files = [
        (f, ci)
        for ci, c in enumerate(classes)
        for f in sorted((root / c).rglob("*"))
        if f.suffix.lower() in _IMAGE_SUFFIXES
    ]
    if len(files) < batch_size:
        raise DataError(f"{root}: {len(files)} images found, batch size {batch_size} asked")
    order = np.random.default_rng(seed).permutation(len(files))[:batch_size]
    xs, ys = [], []
    for k in order:
        f, ci = files[k]
        xs.append(read_image(f, resolution))
        ys.append(ci)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def gradsign_batch(
    batch_size: int = DEFAULT_GRADSIGN_BATCH,
    resolution: int = 32,
    *,
    source: str | Path | None = None,
    augment: bool = False,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The labelled batch GradSign is scored on: (images float32 [B, 3, R, R], labels int64 [B]).

    `source` None: the first `batch_size` CIFAR-10 training images (shared sample, else the shipped
    copy). A `.npz` path: a CIFAR-style file (`x` uint8 NHWC, `y`). A directory: ImageFolder layout.
    No augmentation unless `augment` (seeded RandomCrop(32, 4) + flip, applied before resizing).
    """
    if batch_size < 1:
        raise DataError(f"batch size must be positive, got {batch_size}")
    if source is None:
        shared = shared_cifar_path("train")
        if shared is not None:
            x, y = load_npz_batch(shared, batch_size)
        else:
            x, y = load_builtin_cifar("train")
            if batch_size > len(x):
                raise DataError(
                    f"the built-in CIFAR-10 sample holds {len(x)} images, batch size {batch_size} asked"
                )
            x, y = x[:batch_size], y[:batch_size]
    else:
        p = Path(source)
        if p.is_dir():
            x, y = load_image_folder(p, batch_size, resolution, seed=seed)
        elif p.is_file():
            x, y = load_npz_batch(p, batch_size)
        else:
            raise DataError(f"{p}: no such dataset file or directory")
    images = normalize(x)
    if augment:
        images = crop_flip(images, seed)
    return resize(images, resolution), torch.as_tensor(y, dtype=torch.int64)
