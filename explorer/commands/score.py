"""`nas-explorer score FILE` and `nas-explorer score --batch CSV`: zero-shot proxies of architectures.

Any registered proxy (`explorer.proxies.registry`: zen, gradsign, synflow, naswot, zico, meco,
az-nas, ensemble, params, macs). Defaults are each proxy's official search settings (Zen: batch
64, 1 repeat, running-var BN term; GradSign: the first 128 CIFAR-10 training images, no
augmentation; ...) at the architecture's own input resolution. The same seed gives the same numbers.
With `--batch`, population proxies (AZ-NAS, the ensemble) rank within the rows of the file.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..arch import ArchGraph, check, check_memory, count_complexity, load_arch
from ..errors import ExplorerError
from ..proxies.registry import compute_many
from ._output import human, print_json, print_table

PROXIES = ("zen", "gradsign", "params", "macs")  # the default set of `score FILE`


def register(sub) -> None:
    p = sub.add_parser(
        "score", help="zero-shot proxies (Zen-Score, GradSign), params and MACs of an architecture"
    )
    p.add_argument("file", nargs="?", help="architecture JSON file (or --batch CSV)")
    p.add_argument(
        "--proxies",
        default=None,
        help=f"comma-separated registered proxies (default {','.join(PROXIES)}; `--list` shows all)",
    )
    p.add_argument("--list", action="store_true", help="list the registered proxies and exit")
    p.add_argument(
        "--batch", metavar="CSV", help="score every row of a CSV with an arch_str, config or file column"
    )
    p.add_argument("--space", help="search space of the --batch rows (arch_str / config columns)")
    p.add_argument("-o", "--output", metavar="OUT.csv", help="--batch: the rows with one column per proxy")
    p.add_argument("--workers", type=int, default=1, help="--batch: scoring processes (1 torch thread each)")
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


def parse_proxies(text: str | None) -> list[str]:
    from ..proxies.registry import parse_proxies as parse

    return parse(",".join(PROXIES) if text is None else text)


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
    others = [n for n in proxies if n not in ("zen", "gradsign", "params", "macs")]
    if others:
        values = compute_many(graph, others, _settings(args), errors="raise")
        for n in others:
            out[n] = values[n].to_dict()
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


def _settings(args):
    """Registry settings from the command line: official batches unless --batch-size says otherwise."""
    from ..proxies.registry import ProxySettings

    settings = ProxySettings.official(resolution=args.resolution, seed=args.seed, data=args.data)
    if args.batch_size:
        from ..proxies.registry import list_proxies

        for p in list_proxies():
            if p.official_batch > 1:
                settings = settings.with_batch(p.name, args.batch_size)
    for name, flag in (("zen", args.zen_batch), ("gradsign", args.gradsign_batch)):
        if flag:
            settings = settings.with_batch(name, flag)
    options = {"zen": {"repeats": args.repeats, "bn_variance": args.bn_variance}}
    options["gradsign"] = {"method": args.gradsign_method}
    return replace(settings, options=options)


def cmd_list(args) -> int:
    from ..proxies.registry import list_proxies

    rows = [[p.name, p.label, p.data, p.official_batch, p.summary] for p in list_proxies()]
    if args.json:
        print_json([dict(zip(("name", "label", "data", "official_batch", "summary"), r)) for r in rows])
    else:
        print_table(["name", "label", "data", "batch", "method"], rows, align="lllrl")
    return 0


def cmd_batch(args) -> int:
    import sys

    from tqdm import tqdm

    from ..proxies.batch import columns, failures, graphs_of, read_table, score_graphs, write_table

    if not args.output:
        raise ExplorerError("--batch needs -o OUT.csv")
    if args.workers < 1:
        raise ExplorerError(f"--workers must be positive, got {args.workers}")
    names = parse_proxies(args.proxies)
    table = read_table(args.batch)
    graphs = [at_resolution(g, args.resolution) for g in graphs_of(table, args.space)]
    with tqdm(total=len(graphs), unit="net", file=sys.stderr, disable=args.json or None) as bar:
        values = score_graphs(
            graphs, names, _settings(args), workers=args.workers, progress=lambda d, _n: bar.update(d - bar.n)
        )
    cols = columns(names, values)
    write_table(args.output, table, cols)
    problems = failures(names, values)
    for line in problems[:20]:
        print(f"nas-explorer: warning: {line}", file=sys.stderr)
    if len(problems) > 20:
        print(f"nas-explorer: warning: ... and {len(problems) - 20} more", file=sys.stderr)
    if args.json:
        print_json({"rows": len(graphs), "proxies": names, "output": args.output, "failed": len(problems)})
    else:
        print(f"wrote {args.output} ({len(graphs)} rows, {', '.join(names)})")
    return 0


def cmd_score(args) -> int:
    if args.list:
        return cmd_list(args)
    if args.batch:
        if args.file:
            raise ExplorerError("give an architecture FILE or --batch CSV, not both")
        return cmd_batch(args)
    if not args.file:
        raise ExplorerError("score needs an architecture FILE (or --batch CSV)")
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
    for n in proxies:
        if n in ("zen", "gradsign", "params", "macs"):
            continue
        v = result[n]
        if v.get("score") is not None:
            rows.append([n, f"{v['score']:.6g}", _setting_text(v.get("detail", {}))])
        else:  # a population proxy: one network has parts, its score needs a population (--batch)
            parts = ", ".join(f"{k} {x:.4g}" for k, x in v.get("parts", {}).items() if x is not None)
            rows.append([n, "(population)", parts])
    print_table(["metric", "value", "setting"], rows, align="lrl")
    return 0


def _setting_text(detail: dict) -> str:
    keys = ("batch_size", "resolution", "variant", "batches", "bn")
    return ", ".join(f"{k.replace('_size', '')} {detail[k]}" for k in keys if k in detail)
