"""Fuzzed architecture files and an in-process CLI runner, shared by tests/arch/test_fuzz.py
(hypothesis drives the `random.Random`) and benchmarks/fuzz_arch.py (10,000 seeded inputs).

Inputs are real valid files (an OFA subnet, an NB201 network, a hand-drawn chain with a skip and
a concat) with a few mutations each (values swapped for hostile ones, keys dropped or added, nodes
duplicated, ops exchanged, text truncated or made invalid UTF-8), plus arbitrary JSON.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
from functools import lru_cache

from explorer.arch import OPS, ArchGraph, to_dict

# values that broke (or could break) the loader, the validator or the printers
HOSTILE = [
    None,
    True,
    False,
    0,
    -1,
    1,
    3,
    2**31,
    2**63,
    10**400,
    -(10**30),
    1.5,
    -0.0,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "x" * 5000,
    "\ud800",
    "a\udc80b",
    "stem\n",
    "a\x00b",
    "input",
    "conv",
    "relu",
    "\u00e9\u6f22\U0001f600",
    [],
    {},
    ["conv"],
    {"a": 1},
    [1, 2],
    [0, 0],
    [10**400, 0],
    [float("nan"), 1],
]

TEXT_ENDINGS = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, '"\\ud800"', "[" * 3000)


def chain_graph() -> ArchGraph:
    """A hand-drawn net: conv, an MBConv with a skip through add, a concat, pooling, classifier."""
    g = ArchGraph("hand drawn", {"notes": "fuzz seed"})
    inp = g.add_node("input", {"channels": 3, "resolution": 32}, id="input", pos=(0, 0))
    c1 = g.add_node("conv", {"out_channels": 16, "kernel": 3, "stride": 2}, id="conv_1", pos=(160, 0))
    mb = g.add_node("mbconv", {"out_channels": 16, "kernel": 5, "expand_ratio": 3.0}, id="mb_1")
    add = g.add_node("add", id="add_1")
    cat = g.add_node("concat", id="cat_1", group="merge")
    pool = g.add_node("global_avgpool", id="pool")
    fc = g.add_node("linear", {"out_features": 10}, id="fc")
    out = g.add_node("output", id="output")
    g.chain(inp, c1, mb)
    g.connect(mb, add, 0)
    g.connect(c1, add, 1)
    g.connect(add, cat, 0)
    g.connect(c1, cat, 1)
    g.chain(cat, pool, fc, out)
    return g


@lru_cache(maxsize=1)
def seed_docs() -> tuple[dict, ...]:
    from explorer.spaces import get_space

    ofa, nb = get_space("ofa-mbv3-w1.0"), get_space("nb201")
    return (
        to_dict(ofa.encode(ofa.sample(3))),
        to_dict(nb.encode(nb.sample(1))),
        to_dict(chain_graph()),
    )


def random_json(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 3 or r < 0.5:
        return rng.choice(HOSTILE) if rng.random() < 0.6 else rng.choice([rng.randint(-5, 300), rng.random()])
    if r < 0.75:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["id", "op", "params", "pos", "src", "dst", "port", "format", "version", "nodes", "x"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _containers(doc):
    """Every (container, key) pair in the document, iteratively."""
    out, stack = [], [doc]
    while stack:
        c = stack.pop()
        keys = list(c) if isinstance(c, dict) else range(len(c))
        for k in keys:
            out.append((c, k))
            if isinstance(c[k], (dict, list)):
                stack.append(c[k])
    return out


MUTATIONS = ("hostile", "random", "drop", "add", "duplicate", "op", "boundary", "edge", "field", "top")
# plausible edits and hostile values in the fields the loader reads weigh most
WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 2, 4, 1)


def mutate(doc: dict, rng: random.Random) -> None:
    """One mutation in place."""
    spots = _containers(doc)
    kind = rng.choices(MUTATIONS, WEIGHTS)[0]
    nodes = doc.get("nodes") if isinstance(doc.get("nodes"), list) else []
    nodes = [n for n in nodes if isinstance(n, dict)]
    edges = doc.get("edges") if isinstance(doc.get("edges"), list) else []
    if kind in ("hostile", "random") and spots:  # a value replaced by a hostile one
        c, k = rng.choice(spots)
        c[k] = random_json(rng) if kind == "random" else copy.deepcopy(rng.choice(HOSTILE))
    elif kind == "drop" and spots:  # a key or element dropped
        c, k = rng.choice(spots)
        del c[k]
    elif kind == "add":  # a key added somewhere
        dicts = [doc] + [c[k] for c, k in spots if isinstance(c[k], dict)]
        rng.choice(dicts)[rng.choice(["params", "pos", "group", "port", "extra", "op", "id"])] = random_json(
            rng
        )
    elif kind == "duplicate":  # a node or edge duplicated (or an edge reversed)
        items = rng.choice([nodes, edges])
        if items:
            item = copy.deepcopy(rng.choice(items))
            if isinstance(item, dict) and "src" in item and rng.random() < 0.5:
                item["src"], item["dst"] = item.get("dst"), item.get("src")
            items.insert(rng.randrange(len(items) + 1), item)
            doc["nodes" if items is nodes else "edges"] = items
    elif kind == "field" and nodes:  # a hostile value in a field of a node or an edge
        item = rng.choice(nodes + [e for e in edges if isinstance(e, dict)])
        fields = ["id", "op", "params", "pos", "group"] if "src" not in item else ["src", "dst", "port"]
        if isinstance(item.get("params"), dict) and item["params"]:
            fields += [("params", k) for k in item["params"]]
        f = rng.choice(fields)
        target, key = (item["params"], f[1]) if isinstance(f, tuple) else (item, f)
        target[key] = copy.deepcopy(rng.choice(HOSTILE))
    elif kind == "top":  # a hostile value in a top-level field
        doc[rng.choice(["format", "version", "name", "meta", "nodes", "edges"])] = copy.deepcopy(
            rng.choice(HOSTILE)
        )
    elif kind == "op" and nodes:  # a node's op exchanged for another registered op
        node = rng.choice(nodes)
        node["op"] = rng.choice(sorted(OPS))
        if rng.random() < 0.6:
            node["params"] = {}
    elif kind == "edge" and edges and nodes:  # an edge rewired to another node or port
        e = rng.choice(edges)
        if isinstance(e, dict):
            field = rng.choice(["src", "dst", "port"])
            e[field] = rng.randrange(3) if field == "port" else rng.choice(nodes).get("id")
    else:  # a numeric parameter pushed to a boundary (or past it)
        numeric = [
            (n["params"], k)
            for n in nodes
            if isinstance(n.get("params"), dict)
            for k, v in n["params"].items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        if numeric:
            p, k = rng.choice(numeric)
            p[k] = rng.choice(
                [0, -1, 1, 2, 3, 7, 15, 16, 17, 64, 4096, 4097, 65536, 65537, 10**12, 0.5, 16.0]
            )


def make_input(rng: random.Random) -> bytes:
    """One fuzzed file's bytes."""
    if rng.random() < 0.15:
        doc = random_json(rng)
        if isinstance(doc, dict) and rng.random() < 0.7:
            doc.update(format="nas-explorer/arch", version=1)
    else:
        doc = copy.deepcopy(rng.choice(seed_docs()))
        for _ in range(rng.choice((1, 1, 2, 3))):
            mutate(doc, rng)
    text = json.dumps(doc, indent=rng.choice([None, 1]))
    r = rng.random()
    if r < 0.05:  # truncated
        text = text[: rng.randrange(len(text) + 1)]
    elif r < 0.10:  # a non-strict or absurd literal spliced in for a value
        at = text.find(": ", rng.randrange(len(text) + 1))
        if at >= 0:
            end = min((i for i in (text.find(",", at), text.find("}", at)) if i >= 0), default=len(text))
            text = text[: at + 2] + rng.choice(TEXT_ENDINGS) + text[end:]
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.04:  # invalid UTF-8 bytes
        at = rng.randrange(len(data) + 1)
        data = data[:at] + bytes([0xFF, 0xC3]) + data[at:]
    return data


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`nas-explorer ARGV` in-process: (exit code, stdout, stderr). The streams encode strictly
    to UTF-8 as a terminal's do, so text that cannot be printed shows up as it would for a user."""
    from explorer.cli import main

    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", errors="strict", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse usage errors
            rc = e.code if isinstance(e.code, int) else 2
        except Exception as e:  # escaped main(): a crash, reported as exit -1
            print(f"uncaught {type(e).__name__}: {e}", file=err)
            rc = -1
    out.flush()
    err.flush()
    return rc, out_b.getvalue().decode("utf-8", "replace"), err_b.getvalue().decode("utf-8", "replace")


def _no_constants(name):
    raise ValueError(f"{name} in output")


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity (which Python's own parser accepts)."""
    return json.loads(text, parse_constant=_no_constants)


def check_file(path: str) -> tuple[list[str], str]:
    """Run the loader, the validator and `arch info|validate [--json]` on one file: (the problems
    found, empty when every path answered with a result or a clean one-line error; the outcome:
    "accepted", "invalid graph" or "rejected")."""
    from explorer.arch import load_arch, validate
    from explorer.errors import ExplorerError

    problems = []
    graph, outcome = None, "rejected"
    try:
        graph = load_arch(path)
    except ExplorerError:
        pass
    except Exception as e:
        problems.append(f"load_arch: {type(e).__name__}: {e}"[:300])
    if graph is not None:
        try:
            validate(graph)
        except Exception as e:
            problems.append(f"validate: {type(e).__name__}: {e}"[:300])
    for argv, codes in (
        (["arch", "info", path, "--json"], (0, 2)),
        (["arch", "info", path], (0, 2)),
        (["arch", "validate", path, "--json"], (0, 1, 2)),
    ):
        rc, out, err = run_cli(argv)
        name = " ".join(a for a in argv if a != path)
        if rc not in codes:
            problems.append(f"{name}: exit {rc}: {err.strip()[:300]}")
            continue
        if rc == 2 and (len(err.strip().splitlines()) != 1 or not err.startswith("nas-explorer: error: ")):
            problems.append(f"{name}: exit 2 without one error line: {err[:300]!r}")
        if argv[1] == "validate" and rc in (0, 1):
            outcome = "accepted" if rc == 0 else "invalid graph"
        if rc in (0, 1) and "--json" in argv:
            try:
                strict_json(out)
            except ValueError as e:
                problems.append(f"{name}: output is not strict JSON ({e})"[:300])
    return problems, outcome
