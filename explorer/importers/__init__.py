"""Bring your own model: ONNX files, torch.export programs and Python factories -> ArchGraph.

`import_model(src)` picks the importer by the source's form (a registry by file suffix, plus the
`package.module:factory` spec) and returns an `ImportResult`: the validated graph (meta names the
source; no search space), its weights in the builder's naming, and the layers kept opaque.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import FormatError
from .base import ImportResult, Traced, run_passes

Loader = Callable[[str | os.PathLike, tuple | None], Traced]


def _onnx(path, shape):
    from .onnx_model import load_onnx

    return load_onnx(path, shape)


def _pt2(path, shape):
    from .torch_export import load_pt2

    return load_pt2(path, shape)


IMPORTERS: dict[str, Loader] = {".onnx": _onnx, ".pt2": _pt2}


def register_importer(suffix: str, loader: Loader) -> None:
    if suffix in IMPORTERS:
        raise ValueError(f"importer for {suffix!r} registered twice")
    IMPORTERS[suffix] = loader


def parse_input_shape(text: str) -> tuple[int, int, int, int]:
    """'1x3x224x224' -> (1, 3, 224, 224)."""
    try:
        dims = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise FormatError(f"input shape {text!r} is not NxCxHxW (e.g. 1x3x224x224)") from None
    if len(dims) != 4 or any(d < 1 for d in dims):
        raise FormatError(f"input shape {text!r} is not NxCxHxW with positive sizes (e.g. 1x3x224x224)")
    return dims  # type: ignore[return-value]


def import_model(src: str | os.PathLike, input_shape: tuple | None = None) -> ImportResult:
    """Import `src` (.onnx, .pt2, or package.module:factory) at `input_shape` (NxCxHxW; default:
    the file's own static shape, else 1x3x224x224)."""
    from .torch_export import SPEC, load_python

    text = os.fspath(src)
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in IMPORTERS:
        traced = IMPORTERS[suffix](path, input_shape)
    elif SPEC.match(text) and not path.exists():
        traced = load_python(text, input_shape)
    else:
        known = ", ".join(sorted(IMPORTERS))
        raise FormatError(
            f"{text}: cannot import this kind of file (known: {known}, or package.module:factory)"
        )
    result = run_passes(traced)
    result.graph.meta["source_file"] = path.name if suffix in IMPORTERS else text
    return result


def save_weights(result: ImportResult, path: str | os.PathLike) -> Path:
    """The state_dict in the builder's naming, as a plain tensor dict (loads with weights_only),
    written atomically with its SHA-256 like every weights file the app writes."""
    from ..tensorfile import save_tensors

    return save_tensors(Path(path), {k: v.detach().clone() for k, v in result.state_dict.items()})


__all__ = [
    "IMPORTERS",
    "ImportResult",
    "import_model",
    "parse_input_shape",
    "register_importer",
    "save_weights",
]
