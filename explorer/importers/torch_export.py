"""`.pt2` programs (`torch.export.save`) and Python factories (`package.module:factory`).

A `.pt2` archive is user input, and `torch.export.load` falls back to unpickling for some payloads
(pickled weights or constants, script objects, legacy layouts) and loads compiled AOTInductor code.
So the archive is inspected first: only the graph (JSON), raw weight and constant payloads, sample
inputs that load with `weights_only=True`, and the version markers are accepted; anything else is
refused with a one-line error. The load itself then runs with `torch.load` forced to weights_only.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import sys
import threading
import zipfile
from pathlib import Path

import torch

from ..errors import FormatError
from .aten import check_target, trace_program
from .base import Traced

DEFAULT_INPUT = (1, 3, 224, 224)
_MEMBERS = [
    re.compile(p)
    for p in (
        r"archive_format",
        r"archive_version",
        r"byteorder",
        r"\.data/version",
        r"\.data/serialization_id",
        r"models/[\w.-]+\.json",
        r"data/weights/weight_\d+",
        r"data/weights/[\w.-]+_weights_config\.json",
        r"data/constants/tensor_\d+",
        r"data/constants/[\w.-]+_constants_config\.json",
        r"data/sample_inputs/[\w.-]+\.pt",
        r"extra/[\w./-]+\.(json|txt)",
    )
]
SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_LOAD_LOCK = threading.Lock()


def _fail(path, msg: str):
    raise FormatError(f"{path}: {msg}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0][:200]}" if text else e.__class__.__name__


def inspect_archive(path: Path) -> None:
    """Refuse a `.pt2` file that is not a plain torch.export archive (see the module docstring)."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        _fail(path, "not a .pt2 archive (not a zip file, or truncated)")
    with z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        if not names:
            _fail(path, "empty .pt2 archive")
        root = names[0].split("/", 1)[0]
        rel = []
        for n in names:
            if not n.startswith(root + "/"):
                _fail(path, f"unexpected archive layout ({n})")
            rel.append(n[len(root) + 1 :])
        for r in rel:
            if not any(m.fullmatch(r) for m in _MEMBERS):
                _fail(
                    path,
                    f"holds {r}, which is not loaded (only graphs and raw weights are; no pickles or code)",
                )
        if "archive_version" not in rel or not any(r.startswith("models/") for r in rel):
            _fail(
                path, "not a torch.export archive (no models/*.json), or an old format this importer refuses"
            )
        try:
            bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            _fail(path, f"corrupt archive ({_first_line(e)})")
        if bad:
            _fail(path, f"corrupt archive (bad checksum in {bad})")
        for r in rel:
            data = z.read(f"{root}/{r}")
            if r.endswith("_config.json"):
                try:
                    config = json.loads(data).get("config", {})
                except (ValueError, AttributeError):
                    _fail(path, f"{r} is not valid JSON")
                for fqn, entry in config.items():
                    if not isinstance(entry, dict) or entry.get("use_pickle"):
                        _fail(path, f"{fqn} is stored as a pickle, which is never loaded")
                    if "constants" in r and not str(entry.get("path_name", "")).startswith("tensor_"):
                        _fail(path, f"{fqn} is a script or opaque object, which is never loaded")
            elif r.startswith("data/sample_inputs/"):
                try:
                    torch.load(io.BytesIO(data), weights_only=True)
                except Exception:
                    _fail(path, f"{r} does not load as plain tensors")


@contextlib.contextmanager
def _weights_only_load():
    """torch.load forced to weights_only while torch.export.load runs (belt and braces)."""
    real = torch.load

    def safe(f, *args, **kwargs):
        kwargs["weights_only"] = True
        return real(f, *args, **kwargs)

    with _LOAD_LOCK:
        torch.load = safe
        try:
            yield
        finally:
            torch.load = real


def _program_input_shape(ep) -> tuple | None:
    """The user input's shape, or None when some dimension is symbolic (dynamic)."""
    users = set(ep.graph_signature.user_inputs)
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in users:
            dims = getattr(node.meta.get("val"), "shape", None)
            if dims is not None and all(isinstance(d, int) for d in dims):
                return tuple(dims)
            return None
    return None


def load_pt2(path, input_shape: tuple | None = None) -> Traced:
    path = Path(path)
    if not path.is_file():
        _fail(path, "no such file")
    inspect_archive(path)
    try:
        with _weights_only_load():
            ep = torch.export.load(os.fspath(path))
    except FormatError:
        raise
    except Exception as e:
        _fail(path, f"cannot load the program ({_first_line(e)})")
    for node in ep.graph.nodes:  # nothing of the program runs before this check
        if node.op == "call_function":
            check_target(node)
    own = _program_input_shape(ep)
    if own is None:  # dynamic dims: specialise to the requested input
        shape = tuple(input_shape or DEFAULT_INPUT)
        try:
            ep = torch.export.export(ep.module(), (torch.randn(shape),))
        except Exception as e:
            _fail(path, f"cannot specialise the program to {'x'.join(map(str, shape))} ({_first_line(e)})")
    elif input_shape is not None and tuple(input_shape) != own:
        _fail(
            path,
            f"the program was exported for input {'x'.join(map(str, own))}, not "
            f"{'x'.join(map(str, input_shape))} (export it with dynamic shapes to import at another size)",
        )
    return trace_program(ep, "pt2", path.stem)


def load_python(spec: str, input_shape: tuple | None = None) -> Traced:
    """`package.module:factory`: the factory is called with no arguments and traced at the shape."""
    if not SPEC.match(spec):
        raise FormatError(f"{spec!r} is not a Python spec (package.module:factory)")
    modname, attr = spec.split(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # as `python -m` would: a factory in the working tree is importable
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise FormatError(f"cannot import {modname} ({_first_line(e)})") from None
    except Exception as e:
        raise FormatError(f"importing {modname} failed ({_first_line(e)})") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise FormatError(f"{modname} has no callable {attr!r}")
    try:
        model = factory()
    except Exception as e:
        raise FormatError(f"{spec}() failed ({_first_line(e)})") from None
    if not isinstance(model, torch.nn.Module):
        raise FormatError(f"{spec}() returned a {type(model).__name__}, not a torch.nn.Module")
    model.eval()
    shape = tuple(input_shape or DEFAULT_INPUT)
    try:
        with torch.no_grad():
            ep = torch.export.export(model, (torch.randn(shape),))
    except Exception as e:
        raise FormatError(
            f"torch.export could not trace {spec} at {'x'.join(map(str, shape))} ({_first_line(e)})"
        ) from None
    return trace_program(ep, "python", spec.split(":")[1], reference=model)
