"""Ways files get damaged, shared by the corrupt-file tests."""

from __future__ import annotations

import random
import struct
import zipfile
from pathlib import Path

import numpy as np


def damage_tensor_bytes(path: Path, finite: bool = False, n: int = 4096) -> None:
    """Overwrite up to `n` bytes in the middle of the largest tensor record of a torch file, where
    torch checks nothing (plain `torch.load` still loads it): random bytes (the reported case), or
    finite float32 values (so only the digest can tell)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    n = min(n, info.file_size // 2 // 4 * 4)
    assert n >= 64, "the file needs a larger tensor to damage"
    data = bytearray(path.read_bytes())
    off = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[off + 26 : off + 30])
    start = off + 30 + name_len + extra_len + info.file_size // 2 - n // 2
    junk = np.full(n // 4, 0.25, np.float32).tobytes() if finite else random.Random(0).randbytes(n)
    data[start : start + n] = junk
    path.write_bytes(bytes(data))


def random_bytes_in_the_middle(path: Path, n: int = 4096) -> None:
    """The reported damage: `n` random bytes over the middle of the file."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2 - n // 2
    data[mid : mid + n] = random.Random(2).randbytes(n)
    path.write_bytes(bytes(data))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def garbage(path: Path, n: int = 20_000) -> None:
    path.write_bytes(random.Random(3).randbytes(n))
