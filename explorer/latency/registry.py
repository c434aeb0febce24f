"""The device registry: the kinds, finding device files (luts/ and the user directory), loading
them by name or path (parsed once per file modification), listing and saving them.

This machine is always a device: a `local...` name that no file answers resolves to its table
(`local.resolve_local`), created on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from explorer.errors import ExplorerError, FormatError

from .device import Device, DeviceError, build, check_envelope
from .fewshot import FewShotDevice
from .files import read_device_json, search_dirs, user_dir, write_device_json
from .local import resolve_local
from .lut import LutDevice
from .network import NetworkDevice

# every kind of device file, in the order they are asked whether a file is theirs
KINDS: tuple[type[Device], ...] = (LutDevice, FewShotDevice, NetworkDevice)


def device_from_json(d, path: Path | None = None) -> Device:
    """Validate the envelope and build the device; every problem is one FormatError line."""
    where = f"{path}" if path else "device"
    check_envelope(d, where)
    cls = next((k for k in KINDS if k.claims(d)), None)
    if cls is None:
        known = sorted({k.kind for k in KINDS})
        raise FormatError(f"{where}: unknown device kind {d['kind']!r} (known: {known})")
    return build(cls, d, path, resolve=load_device)


def read_device_file(path: str | Path) -> Device:
    return device_from_json(read_device_json(path), Path(path))


def _files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in reversed(search_dirs()):  # later (user) entries overwrite shipped ones
        if d.is_dir():
            for p in sorted(d.glob("*.json")):
                found[p.stem] = p
    return found


def list_devices(with_errors: bool = False) -> list[dict]:
    """Summaries of all devices found; unreadable files appear with an 'error' when asked."""
    out = []
    for name, path in sorted(_files().items()):
        try:
            out.append(_cached(path).summary())
        except ExplorerError as e:
            if with_errors:
                out.append({"name": name, "path": str(path), "error": str(e)})
    return out


def devices_covering(space: str | None) -> list[dict]:
    """Summaries of the devices that predict graphs of `space` (`Device.covers`); none for a graph
    outside every space (only this machine's own table, which measures what it lacks, sums one)."""
    if not space:
        return []
    out = []
    for s in list_devices():
        try:
            if load_device(s["path"] or s["name"]).covers(space):
                out.append(s)
        except ExplorerError:
            continue
    return out


_CACHE: dict[tuple[str, int, int], Device] = {}


def load_device(name_or_path: str | Path) -> Device:
    """A device by name (file stem in the search dirs), by path to a .json file, or this machine
    (`local`, `local-cpu-torch-1t`, ... and its full local names)."""
    p = Path(name_or_path)
    if p.suffix == ".json" and p.exists():
        return _cached(p)
    path = _files().get(str(name_or_path))
    if path is not None:
        return _cached(path)
    if str(name_or_path).startswith("local"):
        dev = resolve_local(str(name_or_path))
        if dev is not None:
            return dev
    known = sorted(_files())
    hint = f"; known: {', '.join(known[:8])}{' ...' if len(known) > 8 else ''}" if known else ""
    raise DeviceError(f"unknown device {str(name_or_path)!r}{hint}")


def _cached(path: Path) -> Device:
    """Parse a device file once per modification (predictor files are a few hundred KB)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        _CACHE[key] = read_device_file(path)
    return _CACHE[key]


def save_device(device: Device | Mapping, path: str | Path | None = None) -> Path:
    """Write atomically (temp file + os.replace); an existing file is kept as `<name>.json.bak`."""
    d = device.to_json() if isinstance(device, Device) else dict(device)
    device_from_json(d)  # never write what we could not read back
    return write_device_json(Path(path) if path is not None else user_dir() / f"{d['name']}.json", d)
