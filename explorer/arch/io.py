"""The architecture file format: JSON, versioned, exact round trip (positions included).

{"format": "nas-explorer/arch", "version": 1, "name": str, "meta": {...},
 "nodes": [{"id", "op", "params", "pos"?: [x, y], "group"?: str}, ...],
 "edges": [{"src", "dst", "port"}, ...]}

Loading checks structure, version, ops and parameters and raises FormatError with one line;
it never lets a malformed file through as a traceback. Files must be strict JSON: `NaN`,
`Infinity` and numbers that overflow a double are refused (so every `--json` output that echoes a
file's `meta` stays strict JSON), as is text that is not valid Unicode (a lone surrogate escape).
Sizes are checked before anything is built: the file's bytes first (parsing a huge file is itself
the cost), then node and edge counts and nesting depth on the parsed data.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..errors import FormatError, clip, one_line
from .graph import NODE_ID, ArchGraph
from .registry import OPS

FORMAT = "nas-explorer/arch"
VERSION = 1
MAX_NODES = 100_000
MAX_EDGES = 400_000
MAX_FILE_BYTES = 32 * 2**20  # ~100,000 nodes as `save_arch` writes them
MAX_DEPTH = 32  # nesting of objects/lists (the format itself needs 4; meta may hold a little more)
MAX_COORD = 1e9  # editor positions


def to_dict(graph: ArchGraph) -> dict:
    nodes = []
    for nid, d in graph.g.nodes(data=True):
        item = {"id": nid, "op": d["op"], "params": dict(d["params"])}
        if "pos" in d:
            item["pos"] = [d["pos"][0], d["pos"][1]]
        if d.get("group"):
            item["group"] = d["group"]
        nodes.append(item)
    edges = [{"src": u, "dst": v, "port": p} for u, v, p in graph.g.edges(data="port")]
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": graph.name,
        "meta": graph.meta,
        "nodes": nodes,
        "edges": edges,
    }


def to_json(graph: ArchGraph, indent: int | None = 1) -> str:
    """Strict JSON that `from_json` reads back; a graph holding NaN or invalid text (in `meta`, say)
    raises FormatError here rather than writing a file or project row that cannot be loaded."""
    doc = to_dict(graph)
    try:
        _check_data(doc)
    except FormatError as e:
        raise FormatError(f"cannot write the architecture: {e}") from None
    return json.dumps(doc, indent=indent, allow_nan=False)


def _fail(msg: str):
    raise FormatError(msg)


def _check_data(data: object) -> None:
    """Strict JSON data, walked without recursion: nesting depth, finite numbers, valid Unicode.
    Raises FormatError naming where (e.g. `nodes[3].params.act`)."""
    stack = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, float):
            if not math.isfinite(value):
                _fail(f"{_at(where)}: {value!r} is not allowed (NaN and Infinity are not strict JSON)")
        elif isinstance(value, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                _fail(f"{_at(where)}: nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                for k, v in value.items():
                    if not isinstance(k, str):
                        _fail(f"{_at(where)}: key {clip(k)} is not a string")
                    path = f"{where}.{k}" if where else k
                    _check_text(k, path, key=True)
                    stack.append((v, path, depth + 1))
            else:
                stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))
        elif value is not None and not isinstance(value, (bool, int)):
            _fail(f"{_at(where)}: {type(value).__name__} is not JSON data")


def _at(where: str) -> str:
    """A path into the document for a message (user keys escaped and capped)."""
    return one_line(where or "top level", 80)


def _check_text(text: str, where: str, key: bool = False) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = one_line(text[e.start : e.end], 20)
        _fail(f"{_at(where)}: {'key' if key else 'text'} holds {bad}, a lone surrogate (not valid Unicode)")


def _is_coord(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and -MAX_COORD <= v <= MAX_COORD


def from_dict(data: object) -> ArchGraph:
    if not isinstance(data, dict):
        _fail("not an architecture file: the top level must be a JSON object")
    fmt = data.get("format")
    if not isinstance(fmt, str) or fmt != FORMAT:
        _fail(f"not an architecture file: format is {clip(fmt)}, expected {FORMAT!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        _fail(f"'version' must be the integer {VERSION}, got {clip(version)}")
    if version != VERSION:
        _fail(f"unsupported architecture file version {clip(version)} (this app reads version {VERSION})")
    nodes, edges = data.get("nodes"), data.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        _fail("'nodes' and 'edges' must be lists")
    if len(nodes) > MAX_NODES:
        _fail(f"too many nodes ({len(nodes):,} > {MAX_NODES:,})")
    if len(edges) > MAX_EDGES:
        _fail(f"too many edges ({len(edges):,} > {MAX_EDGES:,})")
    _check_data(data)
    name, meta = data.get("name", ""), data.get("meta", {})
    if not isinstance(name, str):
        _fail("'name' must be a string")
    if not isinstance(meta, dict):
        _fail("'meta' must be an object")
    graph = ArchGraph(name, meta)
    for k, item in enumerate(nodes):
        if not isinstance(item, dict):
            _fail(f"node #{k} must be an object")
        nid, op = item.get("id"), item.get("op")
        if not isinstance(nid, str) or not NODE_ID.fullmatch(nid):
            _fail(
                f"node #{k}: invalid id {clip(nid)} (up to 64 letters, digits, _; not starting with a digit)"
            )
        if nid in graph:
            _fail(f"node {nid}: duplicate id")
        if not isinstance(op, str) or op not in OPS:
            _fail(f"node {nid}: unknown op {clip(op)}")
        spec = OPS[op]
        params = item.get("params", {})
        if not isinstance(params, dict):
            _fail(f"node {nid}: 'params' must be an object")
        errors = spec.param_errors(params)
        if errors:
            _fail(f"node {nid} ({op}): {errors[0]}")
        pos = item.get("pos")
        if pos is not None and not (isinstance(pos, list) and len(pos) == 2 and all(map(_is_coord, pos))):
            _fail(f"node {nid}: 'pos' must be [x, y] numbers within +/-{MAX_COORD:g}")
        group = item.get("group")
        if group is not None and not isinstance(group, str):
            _fail(f"node {nid}: 'group' must be a string")
        graph.add_node(op, params, id=nid, pos=pos, group=group)
    seen = set()
    for k, e in enumerate(edges):
        if not isinstance(e, dict):
            _fail(f"edge #{k} must be an object")
        src, dst, port = e.get("src"), e.get("dst"), e.get("port", None)
        if not isinstance(src, str) or src not in graph or not isinstance(dst, str) or dst not in graph:
            _fail(f"edge #{k}: unknown node {clip(src)} -> {clip(dst)}")
        if (src, dst) in seen:
            _fail(f"edge {src} -> {dst}: duplicate")
        if port is not None and (not isinstance(port, int) or isinstance(port, bool) or port < 0):
            _fail(f"edge {src} -> {dst}: port must be a non-negative integer")
        seen.add((src, dst))
        graph.connect(src, dst, port)
    counters = [int(n.rsplit("_", 1)[1]) for n in graph.nodes if n.rsplit("_", 1)[-1].isdigit()]
    graph._counter = max(counters, default=0)
    return graph


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed (not strict JSON)")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text[:40]} overflows a double")
    return v


def parse_strict_json(text: str):
    """json.loads that refuses NaN/Infinity and numbers overflowing a double (ValueError)."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def from_json(text: str) -> ArchGraph:
    if len(text) > MAX_FILE_BYTES:
        raise FormatError(f"file too large ({len(text):,} characters > {MAX_FILE_BYTES:,})")
    # every node needs an "op" key and every edge a "src" (quotes inside JSON strings are escaped,
    # so these count keys): a count far over the limit is refused before json.loads spends seconds
    for key, limit, what in (('"op"', MAX_NODES, "nodes"), ('"src"', MAX_EDGES, "edges")):
        n = text.count(key)
        if n > limit:
            raise FormatError(f"too many {what} (about {n:,} > {limit:,})")
    try:
        data = parse_strict_json(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise FormatError("not valid JSON: nested too deeply") from None
    except (TypeError, ValueError) as e:  # int digit limit, refused constants
        raise FormatError(f"not valid JSON: {one_line(str(e), 120)}") from None
    return from_dict(data)


def load_arch(path: str | os.PathLike) -> ArchGraph:
    p = Path(path)
    where = one_line(str(p), 120)  # a long path must not push the reason out of a capped line
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FormatError(f"{where}: file too large ({size:,} bytes > {MAX_FILE_BYTES:,})")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{where}: cannot read ({e.__class__.__name__}: {one_line(str(e), 120)})") from None
    try:
        return from_json(text)
    except FormatError as e:
        raise FormatError(f"{where}: {e}") from None


def save_arch(graph: ArchGraph, path: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    from ..fileio import atomic_write_text

    return atomic_write_text(path, to_json(graph) + "\n")
