"""`nas-explorer estimate ...`: estimators that inherit weights instead of training from scratch.

net2net widen|deepen|actions  function-preserving growth of an architecture file with its weights
eas                           grow a briefly trained parent into children, fine-tune, score
smash train|score             SMASH hypernetwork for NB201
oneshot train|score|extract   one-shot weight-sharing supernet for NB201
ranking                       the stored Spearman table (how far to trust each estimator)
trust                         zero-shot proxies: Spearman / Kendall with bootstrap intervals, cost
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from ..arch import count_complexity, load_arch, save_arch
from ..errors import ExplorerError
from ..progress import Progress, ProgressWriter, tee
from ._output import print_json, print_table


def register(sub) -> None:
    p = sub.add_parser("estimate", help="Net2Net/EAS, SMASH and one-shot estimators (inherited weights)")
    esub = p.add_subparsers(dest="estimate_command", metavar="ESTIMATOR", required=True)

    n2n = esub.add_parser("net2net", help="grow an architecture keeping its function (Net2Net)")
    nsub = n2n.add_subparsers(dest="net2net_command", metavar="ACTION", required=True)
    w = nsub.add_parser("widen", help="widen a conv/linear node to --width units")
    w.add_argument("--width", type=int, required=True)
    w.add_argument("--noise", type=float, default=0.0, help="symmetry-breaking noise (0: exact function)")
    d = nsub.add_parser("deepen", help="insert an identity conv+BN(+ReLU) or linear after --node")
    d.add_argument("--kernel", type=int, default=3)
    d.add_argument("--act", choices=("auto", "relu", "none"), default="auto")
    for q in (w, d):
        q.add_argument("file", help="architecture JSON file")
        q.add_argument("--node", required=True, help="node id")
        q.add_argument("--weights", help="state_dict .pt of build_model(arch) (default: seeded init)")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("-o", "--output", required=True, help="directory for the child's .json and .pt")
        q.add_argument("--name", help="file stem of the child (default: FILE_widen_NODE / FILE_deepen_NODE)")
        q.add_argument("--json", action="store_true")
        q.set_defaults(handler=cmd_net2net)
    a = nsub.add_parser("actions", help="list which nodes can be widened or deepened, and why not")
    a.add_argument("file")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=cmd_actions)

    e = esub.add_parser("eas", help="EAS-style: train parent briefly, grow children, fine-tune, score")
    e.add_argument("file")
    e.add_argument("--weights", help="parent state_dict .pt (default: seeded init)")
    e.add_argument("--parent-steps", type=int, default=100)
    e.add_argument("--child-steps", type=int, default=20)
    e.add_argument("--max-children", type=int, default=6)
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("-o", "--output", help="directory to write each child's .json and .pt")
    e.add_argument("--json", action="store_true")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(handler=cmd_eas)

    for name, helptext in (("smash", "SMASH hypernetwork (NB201)"), ("oneshot", "one-shot supernet (NB201)")):
        sp = esub.add_parser(name, help=helptext)
        ssub = sp.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)
        t = ssub.add_parser("train", help="train on the CIFAR-10 sample (a background job with progress)")
        t.add_argument("-o", "--output", required=True, help="checkpoint .pt to write")
        t.add_argument("--C", type=int, default=16, help="channels of the first stage")
        t.add_argument("--N", type=int, default=5, help="cells per stage")
        t.add_argument("--steps", type=int, default=300)
        t.add_argument("--batch-size", type=int, default=64)
        t.add_argument("--lr", type=float, default=1e-3 if name == "smash" else 0.05)
        t.add_argument("--seed", type=int, default=0)
        if name == "smash":
            t.add_argument("--hidden", type=int, default=64, help="hypernetwork width")
        t.add_argument("--progress-jsonl", help="append progress records (JSON lines) to this file")
        t.add_argument("--json", action="store_true")
        t.add_argument("--quiet", action="store_true")
        t.set_defaults(handler=cmd_train, estimator=name)
        s = ssub.add_parser("score", help="score NB201 cells with the checkpoint's weights")
        s.add_argument("checkpoint")
        s.add_argument("--arch", action="append", default=[], help="arch string (repeatable)")
        s.add_argument("--sample", type=int, default=0, help="also score K random cells")
        s.add_argument("--seed", type=int, default=0, help="seed of --sample")
        s.add_argument("--val", type=int, default=None, help="held-out images (default: all)")
        s.add_argument("--json", action="store_true")
        s.set_defaults(handler=cmd_score, estimator=name)
        if name == "oneshot":
            x = ssub.add_parser(
                "extract", help="write a cell's standalone architecture with inherited weights"
            )
            x.add_argument("checkpoint")
            x.add_argument("--arch", required=True)
            x.add_argument("-o", "--output", required=True, help="directory for arch .json and weights .pt")
            x.add_argument("--name", default="oneshot_child")
            x.add_argument("--json", action="store_true")
            x.set_defaults(handler=cmd_extract)

    r = esub.add_parser("ranking", help="Spearman rho of each estimator against NB201 accuracies")
    from ..estimators.ranking import CELL_SPACE

    r.add_argument("--space", default=CELL_SPACE)
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=cmd_ranking)

    tr = esub.add_parser(
        "trust", help="zero-shot proxies vs NB201 accuracy: Spearman, Kendall (95 %% intervals), cost per net"
    )
    tr.add_argument("--members", help="ensemble members, comma-separated (default: az-nas,meco,zico,synflow)")
    tr.add_argument("--target", choices=("test", "valid"), default="test", help="NB201 CIFAR-10 accuracy")
    tr.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    tr.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    tr.add_argument("--sample", help="a proxy trust sample file (default: the shipped NB201 one)")
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(handler=cmd_trust)


def _graph_and_state(file: str, weights: str | None, seed: int):
    from ..arch import build_model
    from ..estimators._common import read_state

    graph = load_arch(file)
    if weights:
        return graph, read_state(weights)
    return graph, {k: v.clone() for k, v in build_model(graph, seed=seed).state_dict().items()}


def function_diff(g1, s1, g2, s2) -> float:
    """Max |output difference| of two (graph, weights) on 8 real CIFAR images, eval mode."""
    import torch

    from ..data import load_builtin_cifar, normalize, resize
    from ..estimators.net2net import load_weights

    c, r, _ = g1.input_shape
    x = resize(normalize(load_builtin_cifar("test")[0][:8]), r)
    if c != 3:
        x = torch.randn(8, c, r, r, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = load_weights(g1, s1).eval()(x)
        b = load_weights(g2, s2).eval()(x)
    return float((a - b).abs().max())


def _write_child(graph, state, out_dir: str, stem: str) -> tuple[Path, Path]:
    from ..estimators._common import write_state

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    arch, weights = d / f"{stem}.json", d / f"{stem}.pt"
    save_arch(graph, arch)
    write_state(state, weights)
    return arch, weights


def cmd_net2net(args) -> int:
    from ..estimators.net2net import net2deeper, net2wider

    graph, state = _graph_and_state(args.file, args.weights, args.seed)
    if args.net2net_command == "widen":
        g2, s2 = net2wider(graph, state, args.node, args.width, noise=args.noise, seed=args.seed)
        new_node = args.node
    else:
        g2, s2, new_node = net2deeper(graph, state, args.node, kernel=args.kernel, act=args.act)
    g2.name = (graph.name or "arch") + f" ({args.net2net_command} {args.node})"
    stem = args.name or f"{Path(args.file).stem}_{args.net2net_command}_{args.node}"
    arch, weights = _write_child(g2, s2, args.output, stem)
    diff = function_diff(graph, state, g2, s2)
    out = {
        "action": args.net2net_command,
        "node": args.node,
        "new_node": new_node,
        "arch": str(arch),
        "weights": str(weights),
        "params_before": count_complexity(graph).params,
        "params_after": count_complexity(g2).params,
        "max_abs_output_diff": diff,
    }
    if args.json:
        print_json(out)
    else:
        print(f"wrote {arch} and {weights}")
        print(
            f"params {out['params_before']:,} -> {out['params_after']:,};"
            f" max |output diff| {diff:.2e} (eval mode)"
        )
    return 0


def cmd_actions(args) -> int:
    from ..estimators.net2net import deepen_problem, widen_problem

    graph = load_arch(args.file)
    rows = []
    for n in graph.topological():
        op = graph.op(n)
        if op in ("input", "output"):
            continue
        widen = widen_problem(graph, n) if op in ("conv", "linear") else f"{n}: a {op!r} node has no width"
        rows.append(
            {
                "node": n,
                "op": op,
                "widen": widen is None,
                "widen_reason": widen,
                "deepen": deepen_problem(graph, n) is None,
                "deepen_reason": deepen_problem(graph, n),
            }
        )
    if args.json:
        print_json(rows)
    else:
        print_table(
            ["node", "op", "widen", "deepen", "why not widen"],
            [
                [
                    r["node"],
                    r["op"],
                    "yes" if r["widen"] else "no",
                    "yes" if r["deepen"] else "no",
                    r["widen_reason"] or "",
                ]
                for r in rows
            ],
            align="lllll",
        )
    return 0


def _console(quiet: bool):
    import time

    last = {"t": 0.0}

    def fn(p: Progress) -> None:
        now = time.monotonic()
        if quiet or (now - last["t"] < 2.0 and not (p.total and p.step >= p.total)):
            return
        last["t"] = now
        loss = f" loss {p.loss:.4f}" if p.loss is not None else ""
        print(f"[{p.phase}] {p.step}/{p.total}{loss} {p.message}".rstrip(), file=sys.stderr, flush=True)

    return fn


def cmd_eas(args) -> int:
    from ..estimators._common import cifar_split
    from ..estimators.eas import EASConfig, eas_estimate

    graph, state = _graph_and_state(args.file, args.weights, args.seed)
    cfg = EASConfig(
        parent_steps=args.parent_steps,
        child_steps=args.child_steps,
        batch_size=args.batch_size,
        max_children=args.max_children,
        seed=args.seed,
    )
    res = eas_estimate(
        graph,
        cifar_split(),
        cfg,
        state=state if args.weights else None,
        progress=_console(args.quiet or args.json),
    )
    out = res.to_dict()
    if args.output:
        for i, c in enumerate(res.children):
            arch, weights = _write_child(c["graph"], c["state"], args.output, f"child{i}")
            out["children"][i].update(arch=str(arch), weights=str(weights))
    if args.json:
        print_json(out)
    else:
        rows = [
            [r["label"], r["params"], r["val_acc"], r["val_loss"]] for r in (res.parent, res.parent_finetuned)
        ]
        rows += [[c["label"], c["params"], c["val_acc"], c["val_loss"]] for c in res.children]
        print_table(["network", "params", "val acc", "val loss"], rows)
    return 0


def _positive(**values) -> None:
    for k, v in values.items():
        if v is not None and v < 1:
            raise ExplorerError(f"--{k.replace('_', '-')} must be positive, got {v}")


def cmd_train(args) -> int:
    from ..estimators._common import cifar_split

    _positive(C=args.C, N=args.N, steps=args.steps, batch_size=args.batch_size)
    split = cifar_split()
    if args.estimator == "smash":
        from ..estimators.smash import SmashConfig, SmashJob

        job = SmashJob(
            SmashConfig(
                C=args.C,
                N=args.N,
                hidden=args.hidden,
                steps=args.steps,
                batch_size=args.batch_size,
                lr=args.lr,
                seed=args.seed,
            ),
            split,
            checkpoint=args.output,
        )
    else:
        from ..estimators.oneshot_nb201 import OneShotConfig, OneShotJob

        job = OneShotJob(
            OneShotConfig(
                C=args.C, N=args.N, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed
            ),
            split,
            checkpoint=args.output,
        )
    writer = ProgressWriter(args.progress_jsonl) if args.progress_jsonl else None
    try:
        result = job.run(tee(_console(args.quiet or args.json), writer), lambda: False)
    finally:
        if writer:
            writer.close()
    losses = result["losses"]
    summary = {
        "checkpoint": result["checkpoint"],
        "config": result["config"],
        "data": result["data"],
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"wrote {summary['checkpoint']} (loss {summary['first_loss']:.3f} -> {summary['last_loss']:.3f})"
        )
    return 0


def _archs(args) -> list[str]:
    from ..estimators.oneshot_nb201 import as_ops, random_ops
    from ..spaces.nb201 import arch_str_of

    archs = [arch_str_of(as_ops(a)) for a in args.arch]
    _positive(val=args.val)
    if args.sample < 0:
        raise ExplorerError(f"--sample must be >= 0, got {args.sample}")
    rng = random.Random(args.seed)
    archs += [arch_str_of(random_ops(rng)) for _ in range(args.sample)]
    if not archs:
        raise ExplorerError("give cells to score with --arch STR (repeatable) or --sample K")
    return archs


def cmd_score(args) -> int:
    from ..estimators._common import cifar_split

    archs = _archs(args)
    split = cifar_split(n_val=args.val)
    if args.estimator == "smash":
        from ..estimators.smash import load_smash, score_archs

        net, _ = load_smash(args.checkpoint)
        rows = score_archs(net, archs, split)
    else:
        from ..estimators.oneshot_nb201 import load_supernet, score_archs

        net, cfg = load_supernet(args.checkpoint)
        rows = score_archs(net, archs, split, cfg.calib_images)
    if args.json:
        print_json(rows)
    else:
        print_table(
            ["arch", "val acc", "val loss"], [[r["arch_str"], r["val_acc"], r["val_loss"]] for r in rows]
        )
    return 0


def cmd_extract(args) -> int:
    from ..estimators.oneshot_nb201 import load_supernet

    net, _ = load_supernet(args.checkpoint)
    graph, state = net.extract(args.arch)
    arch, weights = _write_child(graph, state, args.output, args.name)
    if args.json:
        print_json({"arch": str(arch), "weights": str(weights)})
    else:
        print(f"wrote {arch} and {weights} (BN statistics as trained; recalibrate before evaluating)")
    return 0


def cmd_ranking(args) -> int:
    from ..estimators.ranking import load_ranking

    table = load_ranking(args.space)
    if table is None:
        raise ExplorerError(
            f"no ranking table measured for space {args.space!r} (run benchmarks/estimator_ranking.py)"
        )
    if args.json:
        print_json(table)
        return 0
    print(f"{table['target']}; {table['n_cells']} cells; {table['machine']}; {table['date']}")
    print_table(
        ["estimator", "Spearman rho", "seconds", "budget"],
        [[r["label"], r["spearman"], r["seconds"] or 0.0, r["budget"]] for r in table["rows"]],
        align="lrrl",
    )
    return 0


def cmd_trust(args) -> int:
    from ..proxies import trust
    from ..proxies.ensemble import DEFAULT_MEMBERS

    data = trust.require(args.sample)
    members = trust.parse_members(args.members if args.members is not None else DEFAULT_MEMBERS)
    table = trust.trust_table(data, members, target=args.target, resamples=args.resamples, seed=args.seed)
    if args.json:
        print_json(table)
        return 0
    print(trust.source_text(data, args.resamples, args.target))
    rows = []
    for r in trust.by_spearman(table["rows"]):
        label = f"Ensemble ({', '.join(table['members'])})" if r["key"] == trust.ENSEMBLE else r["label"]
        rows.append(
            [
                label,
                trust.fmt_ci(r["spearman"], r["spearman_ci"]),
                trust.fmt_ci(r["kendall"], r["kendall_ci"]),
                trust.fmt_seconds(r["seconds"]),
            ]
        )
    print_table(["proxy", "Spearman rho [95 % CI]", "Kendall tau [95 % CI]", "s / net"], rows, align="lrrr")
    print(trust.versus_text(table))
    return 0
