"""`nas-explorer export FILE --format state-dict|torchscript|onnx [--weights W] -o PATH`."""

from __future__ import annotations

import json

from ..arch import load_arch
from ..errors import FormatError
from ..export import FORMATS, export
from ._output import print_json


def register(sub) -> None:
    p = sub.add_parser("export", help="export an architecture (with weights) for deployment")
    p.add_argument("file", help="architecture JSON")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--weights", help="state_dict file (.pt); without it the model is freshly initialised")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed when there are no weights")
    p.add_argument("--metrics", help="JSON file with proxies/latency/accuracy to put into the model card")
    p.add_argument("-o", "--output", required=True, help="directory (state-dict) or model file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_export)


def _read_metrics(path: str) -> dict:
    """The --metrics JSON object; FormatError (one line) for a missing, broken or non-object file."""
    try:
        with open(path, encoding="utf-8") as f:
            metrics = json.load(f)
    except OSError as e:
        raise FormatError(f"{path}: cannot read metrics ({e.strerror or type(e).__name__})") from None
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise FormatError(f"{path}: metrics file is not valid JSON ({str(e)[:120]})") from None
    if not isinstance(metrics, dict) or not all(
        isinstance(metrics.get(k, {}), dict) for k in ("proxies", "latency", "accuracy")
    ):
        raise FormatError(f"{path}: metrics must be a JSON object of proxies/latency/accuracy objects")
    return metrics


def cmd_export(args) -> int:
    graph = load_arch(args.file)
    metrics = _read_metrics(args.metrics) if args.metrics else None
    res = export(graph, args.format, args.output, weights=args.weights, metrics=metrics, seed=args.seed)
    info = {
        "format": res.format,
        "paths": [str(p) for p in res.paths],
        "card": str(res.card),
        "max_abs_diff": res.max_abs_diff,
        "freshly_initialised": res.freshly_initialised,
    }
    if args.json:
        print_json(info)
    else:
        for p in res.paths:
            print(f"wrote {p}")
        print(f"model card {res.card}")
        if res.max_abs_diff is not None:
            print(f"max abs diff vs torch on real images: {res.max_abs_diff:.3g}")
        if res.freshly_initialised:
            print("note: no weights given; the exported model is freshly initialised (untrained)")
    return 0
