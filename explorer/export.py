"""Export a candidate for deployment: arch JSON + state_dict, TorchScript, or ONNX, each with a
short model card. TorchScript and ONNX exports are checked against the eager model on real
CIFAR-10 images (resized to the architecture's resolution); the max abs difference goes into the
card and the result. An architecture without weights is exported freshly initialised (seeded),
and the card says so. A state-dict export's weights.pt is a plain state_dict (load it with
`model.load_state_dict(torch.load(path, weights_only=True))`); its SHA-256 rides in the
state_dict's metadata, where NAS Explorer checks it and torch ignores it (`explorer.tensorfile`).

ONNX uses torch's TorchScript-based exporter (`dynamo=False`): it needs no extra package and
handles every op of the registry; the result is verified in onnxruntime either way.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .arch import ArchGraph, build_model, count_complexity, save_arch
from .errors import ExplorerError
from .fileio import atomic_write_bytes
from .tensorfile import load_tensors, save_tensors, state_dict_of

FORMATS = ("state-dict", "torchscript", "onnx")


class ExportError(ExplorerError):
    pass


@dataclass
class ExportResult:
    format: str
    paths: list[Path]
    max_abs_diff: float | None
    freshly_initialised: bool
    card: Path
    details: dict = field(default_factory=dict)


def load_weights(graph: ArchGraph, path: str | os.PathLike) -> dict:
    """A state_dict for `graph` from a file (weights_only: never unpickles code), verified against
    its SHA-256 when NAS Explorer wrote it; FormatError (one line) when unreadable or damaged."""
    return state_dict_of(load_tensors(path, "weights file"), path)


def model_with_weights(graph: ArchGraph, state: dict | None, seed: int = 0) -> torch.nn.Module:
    model = build_model(graph, seed=seed)
    if state is not None:
        own = model.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or unexpected or wrong:
            parts = []
            if missing:
                parts.append(f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}")
            if unexpected:
                parts.append(f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
            if wrong:
                k = wrong[0]
                parts.append(
                    f"shape of {k} is {tuple(state[k].shape)}, architecture needs {tuple(own[k].shape)}"
                )
            raise ExportError("weights do not fit the architecture: " + "; ".join(parts))
        model.load_state_dict(state)
    return model.eval()


def real_images(graph: ArchGraph, n: int = 8) -> torch.Tensor:
    """n real CIFAR-10 test images, normalised and resized to the graph's input."""
    from .data import load_builtin_cifar, normalize, resize

    c, r, _ = graph.input_shape
    x, _ = load_builtin_cifar("test")
    images = resize(normalize(x[:n]), r)
    if c != 3:
        images = images.mean(1, keepdim=True).repeat(1, c, 1, 1)
    return images


def _onnx_bytes(model, x) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            buf,
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            opset_version=17,
        )
    return buf.getvalue()


def onnx_parity(onnx_bytes: bytes, model, x) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.inference_mode():
        ref = model(x).numpy()
    return float(np.abs(got - ref).max())


def export(
    graph: ArchGraph,
    fmt: str,
    out: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    metrics: dict | None = None,
    seed: int = 0,
) -> ExportResult:
    """Export `graph` (with weights from a file, else freshly initialised with `seed`).

    state-dict: `out` is a directory receiving arch.json, weights.pt and MODEL_CARD.md.
    torchscript / onnx: `out` is the model file; the card is written beside it (.md).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    state = load_weights(graph, weights) if weights else None
    model = model_with_weights(graph, state, seed)
    out = Path(out)
    x = real_images(graph)
    diff = None
    paths: list[Path] = []
    details: dict = {}
    if fmt == "state-dict":
        out.mkdir(parents=True, exist_ok=True)
        paths.append(save_arch(graph, out / "arch.json"))
        # a plain state_dict (torch.load + load_state_dict), its SHA-256 in the state_dict's metadata
        paths.append(save_tensors(out / "weights.pt", model.state_dict()))
        card = out / "MODEL_CARD.md"
    elif fmt == "torchscript":
        with torch.inference_mode():
            ref = model(x)
        traced = torch.jit.trace(model, x[:1], check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        atomic_write_bytes(out, buf.getvalue())
        loaded = torch.jit.load(io.BytesIO(buf.getvalue()))
        with torch.inference_mode():
            diff = float((loaded(x) - ref).abs().max())
        paths.append(out)
        card = out.with_suffix(".md")
    else:
        data = _onnx_bytes(model, x[:1])
        diff = onnx_parity(data, model, x)
        atomic_write_bytes(out, data)
        paths.append(out)
        card = out.with_suffix(".md")
        import onnxruntime

        details["onnxruntime"] = onnxruntime.__version__
    details.update(checked_on=f"{len(x)} CIFAR-10 test images at {graph.resolution}x{graph.resolution}")
    text = model_card(graph, fmt, weights, state is None, seed, diff, metrics, details)
    atomic_write_bytes(card, text.encode())
    return ExportResult(fmt, paths, diff, state is None, card, details)


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def model_card(graph, fmt, weights, fresh, seed, diff, metrics, details) -> str:
    c = count_complexity(graph)
    lines = [f"# Model card: {graph.name or 'architecture'}", ""]
    lines.append(
        f"- Exported as **{fmt}** by NAS Explorer {__version__} (torch {torch.__version__}) "
        f"on {_dt.date.today().isoformat()}"
    )
    if graph.meta.get("space"):
        lines.append(f"- Search space: `{graph.meta['space']}`")
        lines.append(f"- Config: `{json.dumps(graph.meta.get('config'))}`")
    lines.append(
        f"- Input: {'x'.join(map(str, c.input_shape))}; output: {'x'.join(map(str, c.output_shape))}"
    )
    lines.append(f"- Params: {c.params:,}; MACs: {c.macs:,}")
    if fresh:
        lines.append(f"- **Weights: freshly initialised (seed {seed}); this model is untrained.**")
    else:
        lines.append(f"- Weights: `{weights}` (sha256 {_sha256(weights)})")
    if diff is not None:
        lines.append(f"- Check: max abs diff vs eager torch = {diff:.3g} ({details.get('checked_on')})")
    metrics = metrics or {}
    proxies = metrics.get("proxies") or {}
    if proxies:
        lines += ["", "## Zero-shot proxies", ""]
        for name, v in proxies.items():
            lines.append(f"- {name}: {v}")
    latency = metrics.get("latency") or {}
    if latency:
        lines += ["", "## Predicted latency", "", "| device | ms | method |", "|---|---|---|"]
        for dev, v in latency.items():
            if isinstance(v, dict):
                lines.append(f"| {dev} | {v.get('ms', 'n/a')} | {v.get('method', '')} |")
            else:
                lines.append(f"| {dev} | {v} | |")
    acc = metrics.get("accuracy") or {}
    if acc:
        lines += ["", "## Accuracy estimates", ""]
        for name, v in acc.items():
            lines.append(f"- {name}: {v}")
    lines += [
        "",
        "## Provenance",
        "",
        f"- Architecture: {graph.meta.get('provenance', 'created in NAS Explorer')}",
    ]
    return "\n".join(lines) + "\n"
