"""The machine the app runs on is always a device (several: torch-CPU at 1 and all threads,
onnxruntime-CPU, torch-CUDA when there is a GPU). Its LUT file is found or created on first use,
and the keys it lacks are measured when a prediction needs them, so a user's own CPU works on
first start without a profiling step.

Names: `local-<hardware-slug>-<torch|ort|cuda>-<T>t[-b<B>]`, e.g. `local-amd-epyc-torch-1t`;
the short aliases `local` and `local-cpu` (torch, 1 thread: the live view's row),
`local-cpu-<torch|ort>-<T|all>t[-b<B>]` and `local-cuda[-b<B>]` resolve to this machine's device of that kind.

Files: looked up where the device registry looks (`files.search_dirs`: the user directory, then
the checkout's `luts/`), written to `default_lut_dir()`.
"""

from __future__ import annotations

import re
from pathlib import Path

from explorer.errors import ExplorerError

from .files import find_device_file, user_dir
from .host import cpu_count, cpu_model, environment, gpu_model, slug, today
from .lut import LutDevice
from .measure import MeasureConfig

RUNTIME_TAGS = {"torch": "torch", "onnxruntime": "ort", "torch-cuda": "cuda"}
_TAG_RUNTIMES = {v: k for k, v in RUNTIME_TAGS.items()}
# \A..\Z and [0-9]: `$` matches before a trailing newline and \d any Unicode digit
_ALIAS = re.compile(r"\Alocal(?:-cpu(?:-(torch|ort)-([0-9]+|all)t)?|-(cuda))?(?:-b([0-9]+))?\Z")
_FULL = re.compile(r"\Alocal-[a-z0-9-]+?-(torch|ort|cuda)(?:-([0-9]+)t)?(?:-b([0-9]+))?\Z")


def default_lut_dir() -> Path:
    """Where a new local device file goes: the user directory ($NAS_EXPLORER_LUTS or
    ~/.local/share/nas-explorer/luts). Measurements of the user's own machine never go into the
    shipped luts/, which holds devices with published provenance."""
    return user_dir()


def _hardware(runtime: str) -> str:
    if runtime == "torch-cuda":
        gpu = gpu_model()
        if gpu is None:
            raise ExplorerError("runtime torch-cuda needs a CUDA GPU; none is available here")
        return gpu
    return cpu_model()


def local_device_name(runtime: str = "torch", threads: int = 1, batch: int = 1) -> str:
    cfg = MeasureConfig(runtime=runtime, threads=threads, batch=batch)
    name = f"local-{slug(_hardware(cfg.runtime))}-{RUNTIME_TAGS[cfg.runtime]}"
    if cfg.runtime != "torch-cuda":
        name += f"-{cfg.threads}t"
    return name + (f"-b{cfg.batch}" if cfg.batch != 1 else "")


def is_alias(name: str) -> bool:
    """`local`, `local-cpu-torch-1t`, `local-cuda`...: names that stand for this machine."""
    return _ALIAS.match(name) is not None


def parse_local_name(name: str) -> tuple[str, int, int] | None:
    """(runtime, threads, batch) when `name` names a local device (alias or full name), else None."""
    m = _ALIAS.match(name)
    if m:
        tag, threads, cuda, batch = m.groups()
        runtime = "torch-cuda" if cuda else _TAG_RUNTIMES[tag or "torch"]
        t = 1 if threads is None else (cpu_count() if threads == "all" else int(threads))
        return runtime, t, int(batch or 1)
    m = _FULL.match(name)
    if m:
        tag, threads, batch = m.groups()
        return _TAG_RUNTIMES[tag], int(threads or 1), int(batch or 1)
    return None


def new_local_device(config: MeasureConfig, name: str, path: Path) -> LutDevice:
    env = environment(config)
    provenance = {
        "method": "measured layer-wise on this machine (explorer.latency.measure protocol)",
        **env,
        "protocol": config.protocol(),
        "created": today(),
        "updated": today(),
        "keys": 0,
        "covers": {"spaces": []},
    }
    desc = f"This machine ({env['hardware']}), {config.runtime}, {config.threads} thread(s)"
    desc += f", batch {config.batch}"
    return LutDevice(name, {}, provenance, local=True, path=path, description=desc)


def local_device(
    runtime: str = "torch",
    threads: int = 1,
    batch: int = 1,
    *,
    name: str | None = None,
    directory: str | Path | None = None,
    restart: bool = False,
    protocol: dict | None = None,
) -> LutDevice:
    """This machine's LUT device for (runtime, threads, batch): its file if one exists (in
    `directory`, else the lookup dirs), else a new empty table that will be written to
    `directory` (default `default_lut_dir()`) as keys get measured.

    A file recorded with another CPU, runtime version, thread count or batch raises ExplorerError
    naming the difference; `restart=True` starts a fresh table instead (the old file is kept as
    `<file>.bak` when the new one is first written)."""
    config = MeasureConfig(runtime=runtime, threads=threads, batch=batch).with_protocol(protocol)
    name = name or local_device_name(config.runtime, config.threads, config.batch)
    if directory is not None:
        path = Path(directory) / f"{name}.json"
        existing = path if path.is_file() else None
    else:
        existing = find_device_file(name)
        path = existing or default_lut_dir() / f"{name}.json"
    if existing is not None and not restart:
        dev = LutDevice.load(existing)
        if not dev.local:
            raise ExplorerError(f"{existing}: device {name!r} is not a local device (no 'local': true)")
        bad = dev.env_mismatches(environment(config))
        if bad:
            raise ExplorerError(
                f"{existing}: local device {name!r} was measured with {'; '.join(bad)}; "
                "profile with --restart to measure it afresh (the old file is kept as .bak)"
            )
        return dev
    return new_local_device(config, name, path)


def resolve_local(name: str, directory: str | Path | None = None) -> LutDevice | None:
    """The local device `name` stands for (alias or full name), or None when it is not local."""
    parsed = parse_local_name(name)
    if parsed is None:
        return None
    runtime, threads, batch = parsed
    full = local_device_name(runtime, threads, batch)
    if _ALIAS.match(name) is None and name != full:
        return None  # a local device of another machine: the registry loads it as a remote table
    return local_device(runtime, threads, batch, directory=directory)


def available_runtimes() -> list[dict]:
    """The local devices this machine offers: (runtime, threads) pairs with their names."""
    out = [
        {"runtime": "torch", "threads": 1},
        {"runtime": "torch", "threads": cpu_count()},
    ]
    try:
        import onnxruntime  # noqa: F401

        out.append({"runtime": "onnxruntime", "threads": 1})
    except ImportError:
        pass
    if gpu_model() is not None:
        out.append({"runtime": "torch-cuda", "threads": 1})
    seen, uniq = set(), []
    for d in out:
        n = local_device_name(d["runtime"], d["threads"])
        if n not in seen:
            seen.add(n)
            uniq.append({**d, "name": n})
    return uniq
