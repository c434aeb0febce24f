"""`nas-explorer arch import SRC -o model.json`: an ONNX file, a torch.export program or a Python
factory into an architecture file (and its weights in the builder's naming)."""

from __future__ import annotations

import sys

from ..arch import count_complexity, save_arch
from ._output import human, print_json

PARITY_TOL = 1e-4


def register(asub) -> None:
    """Adds `import` to the `arch` subcommands."""
    p = asub.add_parser(
        "import",
        help="import an ONNX file, a torch.export .pt2 program or a Python factory as an architecture",
        description="SRC is model.onnx, program.pt2 (torch.export.save) or package.module:factory "
        "(called with no arguments, traced with torch.export at --input-shape).",
    )
    p.add_argument("src", metavar="SRC", help="model.onnx, program.pt2 or package.module:factory")
    p.add_argument("-o", "--output", required=True, help="architecture JSON file to write")
    p.add_argument("--weights", metavar="W.pt", help="also write the weights (a state_dict for this graph)")
    p.add_argument(
        "--input-shape",
        metavar="NxCxHxW",
        help="input to trace at (default: the file's own static shape, else 1x3x224x224)",
    )
    p.add_argument(
        "--no-check", action="store_true", help="skip running the built graph against the original"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(handler=cmd_import)


def cmd_import(args) -> int:
    from ..importers import import_model, parse_input_shape, save_weights

    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    result = import_model(args.src, shape)
    graph = result.graph
    c = count_complexity(graph)
    diff = None if args.no_check else result.parity()
    save_arch(graph, args.output)
    if args.weights:
        save_weights(result, args.weights)
    summary = {
        "file": args.output,
        "weights": args.weights,
        "source": result.source,
        "input_shape": list(result.input_shape),
        "nodes": len(graph),
        "params": c.params,
        "macs": c.macs,
        "source_params": result.source_params,
        "unused_params": result.unused_params,
        "opaque": result.opaque,
        "groups": sorted({d["group"] for _, d in graph.g.nodes(data=True) if d.get("group")}),
        "max_abs_diff": diff,
    }
    if args.json:
        print_json(summary)
    else:
        for line in describe(args.src, result, diff):
            print(line)
        print(f"wrote {args.output}" + (f" and {args.weights}" if args.weights else ""))
    warning = parity_warning(diff)
    if warning:
        print(f"nas-explorer: warning: {warning}", file=sys.stderr)
    return 0


def describe(src, result, diff: float | None) -> list[str]:
    """What the import saw, one line each (the CLI prints them, File > Import model shows them):
    the counts, each opaque node, parameters no layer uses, the parity check."""
    graph = result.graph
    c = count_complexity(graph)
    lines = [
        f"imported {src} ({result.source}, input {'x'.join(map(str, result.input_shape))}): "
        f"{len(graph)} nodes, params {c.params:,} ({human(c.params)}), MACs {c.macs:,} ({human(c.macs)})"
    ]
    lines += [f"opaque: {o['node']} runs {o['target']} (from {o['origin']})" for o in result.opaque]
    if result.unused_params:
        lines.append(
            f"note: {result.unused_params:,} parameters of the source are used by no layer (not counted)"
        )
    if diff is not None:
        lines.append(f"check: built graph vs original, max abs diff {diff:.3g}")
    return lines


def parity_warning(diff: float | None) -> str:
    """The warning for a built graph that does not compute what the original does ("" if it does)."""
    if diff is None or diff <= PARITY_TOL:
        return ""
    return f"the built graph differs from the original (max abs diff {diff:.3g})"
