"""`nas-explorer score FILE`: Zen-Score, GradSign, params and MACs of an architecture file.

Defaults are the official search settings (Zen: batch 64, 1 repeat, running-var BN term;
GradSign: the first 128 CIFAR-10 training images, no augmentation) at the architecture's own
input resolution. The same seed gives the same numbers.
"""

from __future__ import annotations

import math

from ..arch import ArchGraph, check, check_memory, count_complexity, load_arch
from ..errors import ExplorerError
from ._output import human, print_json, print_table

PROXIES = ("zen", "gradsign", "params", "macs")


def register(sub) -> None:
    p = sub.add_parser(
        "score", help="zero-shot proxies (Zen-Score, GradSign), params and MACs of an architecture"
    )
    p.add_argument("file", help="architecture JSON file")
    p.add_argument(
        "--proxies", default=",".join(PROXIES), help=f"comma-separated subset of {','.join(PROXIES)}"
    )
    p.add_argument("--resolution", type=int, help="input resolution (default: the architecture's own)")
    p.add_argument(
        "--batch-size", type=int, help="batch size of both proxies (default: Zen 64, GradSign 128)"
    )
    p.add_argument("--zen-batch", type=int, help="Zen-Score batch size (overrides --batch-size)")
    p.add_argument("--gradsign-batch", type=int, help="GradSign batch size (overrides --batch-size)")
    p.add_argument("--repeats", type=int, default=1, help="Zen-Score repeats (mean and std reported)")
    p.add_argument("--seed", type=int, default=0, help="Zen-Score noise/init seed and GradSign build seed")
    p.add_argument(
        "--bn-variance",
        choices=("running", "batch"),
        default="running",
        help="Zen BN term: running (official code, default) or batch (paper formula)",
    )
    p.add_argument("--gradsign-method", choices=("fast", "exact"), default="fast")
    p.add_argument("--data", help="GradSign batch: a CIFAR-style .npz or an image folder (default: CIFAR-10)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_score)


def parse_proxies(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in PROXIES]
    if bad or not names:
        raise ExplorerError(
            f"unknown proxy {', '.join(bad) or repr(text)} (choose from {', '.join(PROXIES)})"
        )
    return names


def at_resolution(graph: ArchGraph, resolution: int | None) -> ArchGraph:
    """The graph with its input resolution set (validated), so shapes, MACs and builds all agree."""
    if resolution is None or resolution == graph.input_shape[1]:
        return graph
    if resolution < 1:
        raise ExplorerError(f"--resolution must be positive, got {resolution}")
    g = graph.copy()
    g.set_params(g.input_node, resolution=resolution)
    check(g)
    return g


def score_graph(graph: ArchGraph, proxies: list[str], args) -> dict:
    from ..data import gradsign_batch
    from ..proxies import gradsign, zen_score

    out: dict = {}
    if "params" in proxies or "macs" in proxies:
        c = count_complexity(graph)
        if "params" in proxies:
            out["params"] = c.params
        if "macs" in proxies:
            out["macs"] = c.macs
    res = graph.input_shape[1]
    for flag in ("batch_size", "zen_batch", "gradsign_batch", "repeats"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise ExplorerError(f"--{flag.replace('_', '-')} must be positive, got {v}")
    if "zen" in proxies:
        batch = args.zen_batch or args.batch_size or 64
        check_memory(graph, batch, what=f"Zen-Score (batch {batch})")
        z = zen_score(
            graph, batch_size=batch, repeats=args.repeats, seed=args.seed, bn_variance=args.bn_variance
        )
        out["zen"] = {
            "score": z.score if math.isfinite(z.score) else None,
            "std": z.std if math.isfinite(z.std) else None,
            "repeats": z.repeats,
            "batch_size": z.batch_size,
            "resolution": z.resolution,
            "bn_variance": z.bn_variance,
            "overflow": z.overflow,
        }
        if z.message:
            out["zen"]["message"] = z.message
    if "gradsign" in proxies:
        batch = args.gradsign_batch or args.batch_size or 128
        if graph.input_shape[0] != 3:
            raise ExplorerError(
                f"GradSign's image batch has 3 channels, the architecture takes {graph.input_shape[0]}"
            )
        # GradSign runs samples in chunks (one at the least), with weight-sized sign counts
        check_memory(graph, 1, training=True, what="GradSign")
        images, labels = gradsign_batch(batch, res, source=args.data)
        g = gradsign(graph, images, labels, method=args.gradsign_method, seed=args.seed)
        out["gradsign"] = {
            "score": g.score,
            "batch_size": g.batch_size,
            "resolution": g.resolution,
            "method": g.method,
        }
    return out


def cmd_score(args) -> int:
    proxies = parse_proxies(args.proxies)
    graph = at_resolution(load_arch(args.file), args.resolution)
    check(graph)
    result = score_graph(graph, proxies, args)
    if args.json:
        print_json(result)
        return 0
    rows = []
    if "params" in result:
        rows.append(["params", human(result["params"]), ""])
    if "macs" in result:
        rows.append(["MACs", human(result["macs"]), ""])
    if "zen" in result:
        z = result["zen"]
        value = "overflow" if z["overflow"] else f"{z['score']:.4f}" if z["score"] is not None else "-inf"
        rows.append(
            [
                "Zen-Score",
                value,
                f"batch {z['batch_size']}, r{z['resolution']}, {z['repeats']} repeat(s), "
                f"std {z['std'] or 0:.3g}, BN term: {z['bn_variance']}",
            ]
        )
    if "gradsign" in result:
        gs = result["gradsign"]
        rows.append(
            ["GradSign", f"{gs['score']:,}", f"batch {gs['batch_size']}, r{gs['resolution']}, {gs['method']}"]
        )
    print_table(["metric", "value", "setting"], rows, align="lrl")
    return 0
