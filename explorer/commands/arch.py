"""`nas-explorer arch sample|info|validate|import`."""

from __future__ import annotations

import json
import sys

from ..arch import count_complexity, load_arch, save_arch, validate
from ..arch.io import parse_strict_json
from ..errors import ConfigError, one_line
from ..spaces import get_space, list_spaces
from . import import_
from ._output import human, print_json, print_table


def register(sub) -> None:
    p = sub.add_parser("arch", help="sample, inspect and validate architecture files")
    asub = p.add_subparsers(dest="arch_command", metavar="SUBCOMMAND", required=True)

    s = asub.add_parser("sample", help="sample (or encode) an architecture from a search space")
    s.add_argument("--space", required=True, help="search space name (see `nas-explorer spaces`)")
    s.add_argument("--seed", type=int, default=None, help="random seed (same seed, same architecture)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--config", help="native config as JSON instead of sampling")
    g.add_argument("--arch-str", help="NAS-Bench-201 arch string (nb201 only)")
    s.add_argument("-o", "--output", required=True, help="architecture JSON file to write")
    s.add_argument("--json", action="store_true", help="print the written config as JSON")
    s.set_defaults(handler=cmd_sample)

    i = asub.add_parser("info", help="params, MACs, shapes and a per-layer table")
    i.add_argument("file")
    i.add_argument("--json", action="store_true")
    i.add_argument(
        "--per-layer",
        action="store_true",
        help="where the cost goes: params, MACs, latency per node",
    )
    i.add_argument(
        "--device", help="with --per-layer: latency per node on this device (e.g. local-cpu, measured here)"
    )
    i.add_argument("--sort", choices=("order", "latency", "macs", "params"), default="order")
    i.set_defaults(handler=cmd_info)

    v = asub.add_parser("validate", help="check a file; exit 0 when valid, 1 when the graph is invalid")
    v.add_argument("file")
    v.add_argument("--json", action="store_true")
    v.set_defaults(handler=cmd_validate)

    import_.register(asub)  # `arch import` (explorer/commands/import_.py)


def cmd_sample(args) -> int:
    space = get_space(args.space)
    if args.config:
        try:
            config = parse_strict_json(args.config)
        except RecursionError:
            raise ConfigError("--config is not valid JSON: nested too deeply") from None
        except ValueError as e:
            raise ConfigError(f"--config is not valid JSON: {one_line(str(e), 120)}") from None
    elif args.arch_str:
        if "arch_str" not in space.config_keys:  # a cell space whose config is one arch string
            names = [s.name for s in list_spaces() if "arch_str" in s.config_keys]
            raise ConfigError(f"--arch-str is for the {', '.join(names)} space")
        config = {"arch_str": args.arch_str}
    else:
        config = space.sample(args.seed)
    graph = space.encode(config)
    save_arch(graph, args.output)
    if args.json:
        print_json({"space": space.name, "config": graph.meta["config"], "file": args.output})
    else:
        print(f"wrote {args.output} ({space.name}: {json.dumps(graph.meta['config'])})")
    return 0


def space_config(graph) -> tuple[dict | None, str]:
    """(the config the graph is in its meta.space, verified by the space; or None and why)."""
    name = graph.meta.get("space")
    if not name:
        return None, ""
    try:
        return get_space(name).decode(graph), ""
    except ConfigError as e:
        return None, str(e)


def cmd_info(args) -> int:
    graph = load_arch(args.file)
    c = count_complexity(graph)
    config, why = space_config(graph)
    if args.device and not args.per_layer:
        raise ConfigError("--device goes with --per-layer")
    report = None
    if args.per_layer:
        from ..layer_costs import layer_report

        report = layer_report(graph, args.device)
    if args.json:
        out = c.as_dict()
        out.update(name=graph.name, meta=graph.meta, config=config)
        if why:
            out["config_error"] = why
        if report is not None:
            out.update(report.as_dict())
        print_json(out)
        return 0
    if report is not None:
        return _print_per_layer(graph, args, c, report)
    print(f"{graph.name or args.file}")
    if graph.meta.get("space"):
        space = graph.meta["space"]
        print(f"space: {space}  config: {json.dumps(config)}" if config else f"space: {space}  ({why})")
    print(f"input {tuple(c.input_shape)} -> output {tuple(c.output_shape)}")
    print(f"params {c.params:,} ({human(c.params)})   MACs {c.macs:,} ({human(c.macs)})")
    print()
    rows = [[lc.node, lc.op, "x".join(map(str, lc.out_shape)), lc.params, lc.macs] for lc in c.layers]
    print_table(["node", "op", "output", "params", "MACs"], rows, align="lllrr")
    return 0


def _print_per_layer(graph, args, c, report) -> int:
    key = {"latency": "latency_ms", "macs": "macs", "params": "params"}.get(args.sort)
    nodes = report.sorted_by(key) if key else report.nodes
    print(f"{graph.name or args.file}: params {human(c.params)}, MACs {human(c.macs)}", end="")
    if report.device:
        ms = (report.latency or {}).get("latency_ms")
        total = f"{ms:.3f} ms" if ms is not None else (report.latency or {}).get("reason") or "n/a"
        print(f", latency on {report.device}: {total}", end="")
    print("\n")

    def pct(n, metric):
        s = n.share(report, metric)
        return "" if s is None else f"{100 * s:.1f}%"

    headers = ["node", "op", "group", "output", "params", "params %", "MACs", "MACs %"]
    if report.device:
        headers += ["ms", "ms %"]
    rows = []
    for n in nodes:
        row = [n.node, n.op, n.group, "x".join(map(str, n.out_shape)), n.params, pct(n, "params"), n.macs]
        row.append(pct(n, "macs"))
        if report.device:
            row += ["" if n.latency_ms is None else f"{n.latency_ms:.4f}", pct(n, "latency_ms")]
        rows.append(row)
    print_table(headers, rows, align="llllrrrrrr")
    if report.missing:
        print(
            f"\n{len(report.missing)} layer(s) not in {report.device}'s table: measure them with "
            f"`nas-explorer latency profile --graph {args.file} --device {report.device}`"
        )
    return 0


def cmd_validate(args) -> int:
    graph = load_arch(args.file)
    report = validate(graph)
    if args.json:
        print_json(
            {
                "valid": report.ok,
                "issues": [
                    {"nodes": list(i.nodes), "edge": i.edge, "message": i.message} for i in report.issues
                ],
            }
        )
    elif report.ok:
        print(f"{args.file}: valid ({len(graph)} nodes)")
    else:
        for issue in report.issues:
            print(one_line(f"{args.file}: {issue}"), file=sys.stderr)
    return 0 if report.ok else 1
