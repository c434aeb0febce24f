"""The architecture file format: JSON, versioned, exact round trip (positions included).

{"format": "nas-explorer/arch", "version": 1, "name": str, "meta": {...},
 "nodes": [{"id", "op", "params", "pos"?: [x, y], "group"?: str}, ...],
 "edges": [{"src", "dst", "port"}, ...]}

Loading checks structure, version, ops and parameters and raises FormatError with one line;
it never lets a malformed file through as a traceback.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..errors import FormatError
from .graph import NODE_ID, ArchGraph
from .registry import OPS

FORMAT = "nas-explorer/arch"
VERSION = 1
MAX_NODES = 100_000


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
    return json.dumps(to_dict(graph), indent=indent)


def _fail(msg: str):
    raise FormatError(msg)


def from_dict(data: object) -> ArchGraph:
    if not isinstance(data, dict):
        _fail("not an architecture file: the top level must be a JSON object")
    if data.get("format") != FORMAT:
        _fail(f"not an architecture file: format is {data.get('format')!r}, expected {FORMAT!r}")
    version = data.get("version")
    if version != VERSION or isinstance(version, bool):
        _fail(f"unsupported architecture file version {version!r} (this app reads version {VERSION})")
    name, meta = data.get("name", ""), data.get("meta", {})
    if not isinstance(name, str):
        _fail("'name' must be a string")
    if not isinstance(meta, dict):
        _fail("'meta' must be an object")
    nodes, edges = data.get("nodes"), data.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        _fail("'nodes' and 'edges' must be lists")
    if len(nodes) > MAX_NODES:
        _fail(f"too many nodes ({len(nodes)} > {MAX_NODES})")
    graph = ArchGraph(name, meta)
    for k, item in enumerate(nodes):
        if not isinstance(item, dict):
            _fail(f"node #{k} must be an object")
        nid, op = item.get("id"), item.get("op")
        if not isinstance(nid, str) or not NODE_ID.match(nid):
            _fail(f"node #{k}: invalid id {nid!r} (letters, digits, _; not starting with a digit)")
        if nid in graph:
            _fail(f"node {nid}: duplicate id")
        if op not in OPS:
            _fail(f"node {nid}: unknown op {op!r}")
        spec = OPS[op]
        params = item.get("params", {})
        if not isinstance(params, dict):
            _fail(f"node {nid}: 'params' must be an object")
        errors = spec.param_errors(params)
        if errors:
            _fail(f"node {nid} ({op}): {errors[0]}")
        pos = item.get("pos")
        if pos is not None:
            ok = (
                isinstance(pos, list)
                and len(pos) == 2
                and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pos
                )
            )
            if not ok:
                _fail(f"node {nid}: 'pos' must be [x, y] numbers")
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
            _fail(f"edge #{k}: unknown node {src!r} -> {dst!r}")
        if (src, dst) in seen:
            _fail(f"edge {src} -> {dst}: duplicate")
        if port is not None and (not isinstance(port, int) or isinstance(port, bool) or port < 0):
            _fail(f"edge {src} -> {dst}: port must be a non-negative integer")
        seen.add((src, dst))
        graph.connect(src, dst, port)
    counters = [int(n.rsplit("_", 1)[1]) for n in graph.nodes if n.rsplit("_", 1)[-1].isdigit()]
    graph._counter = max(counters, default=0)
    return graph


def from_json(text: str) -> ArchGraph:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise FormatError(f"not valid JSON: {e}") from None
    except (TypeError, ValueError) as e:
        raise FormatError(f"not valid JSON: {e}") from None
    return from_dict(data)


def load_arch(path: str | os.PathLike) -> ArchGraph:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{p}: cannot read ({e.__class__.__name__}: {e})") from None
    try:
        return from_json(text)
    except FormatError as e:
        raise FormatError(f"{p}: {e}") from None


def save_arch(graph: ArchGraph, path: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    from ..fileio import atomic_write_text

    return atomic_write_text(path, to_json(graph) + "\n")
