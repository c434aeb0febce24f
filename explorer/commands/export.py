"""`nas-explorer export FILE --format state-dict|torchscript|onnx [--weights W] -o PATH`."""

from __future__ import annotations

import json

from ..arch import load_arch
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


def cmd_export(args) -> int:
    graph = load_arch(args.file)
    metrics = None
    if args.metrics:
        with open(args.metrics) as f:
            metrics = json.load(f)
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
