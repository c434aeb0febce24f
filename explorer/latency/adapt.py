"""`latency adapt`: a few-shot device from a CSV of whole-network measurements, and the CSV of
configs both `adapt` and `predict --batch` read (the public data's columns: ``arch_str`` for
NB201; ``ks``, ``e``, ``d``, ``r`` for OFA-MBv3; the space says which)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from explorer.errors import ExplorerError
from explorer.spaces.latency_support import family_for_columns, latency_features, matches, resolve

from .device import provenance
from .fewshot import MODEL_KIND, FewShotDevice, fit_head, head_predict
from .metrics import protocol_metrics
from .network import NetworkDevice, model_digest
from .registry import list_devices, load_device, save_device


def read_rows(path: str | Path, what: str = "measurements") -> tuple[list[dict], list[str]]:
    """The rows and columns of a CSV; ExplorerError (one line) when it cannot be read or is empty."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = list(reader.fieldnames or [])
    except OSError as e:
        raise ExplorerError(f"cannot read {path}: {e.strerror or e}") from None
    if not rows:
        raise ExplorerError(f"{path}: no {what}")
    return rows, fields


def configs_of_rows(
    rows: Sequence[dict], fields: Sequence[str], space: str | None, where
) -> tuple[str, list]:
    """(space, configs) of CSV rows: `space` as given (resolved), else the one its columns fit."""
    space = resolve(space) if space else family_for_columns(fields)
    feats = latency_features(space)
    configs = feats.configs_from_rows(rows, where)
    try:
        for c in configs:
            feats.normalise(c)
    except ExplorerError as e:
        raise ExplorerError(f"{where}: {e}") from None
    return space, configs


def read_measurements(path: str | Path, space: str | None = None) -> tuple[str, list, np.ndarray]:
    """(space, configs, latency_ms) from a CSV of the space's config columns plus `latency_ms`."""
    rows, fields = read_rows(path)
    if "latency_ms" not in fields:
        raise ExplorerError(f"{path}: needs a 'latency_ms' column (has {sorted(fields)})")
    space, configs = configs_of_rows(rows, fields, space, path)
    try:
        y = np.array([float(r["latency_ms"]) for r in rows])
    except (TypeError, ValueError) as e:
        raise ExplorerError(f"{path}: latency_ms is not a number ({e})") from None
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ExplorerError(f"{path}: latency_ms must be positive numbers")
    return space, configs, y


def adapt(
    measurements_csv: str | Path,
    name: str,
    space: str | None = None,
    out: str | Path | None = None,
    sources: Sequence[str] | None = None,
) -> Path:
    """Fit a few-shot device from measurements; write it (user dir by default) and return its path."""
    space, configs, y = read_measurements(measurements_csv, space)
    X = latency_features(space).features(configs)
    if sources is None:
        sources = [
            s["name"]
            for s in list_devices()
            if s["kind"] == "network"
            and s["source"] != "few-shot"
            and any(matches(space, c) for c in s["spaces"])
            and s["name"] != name
        ]
    devs = [d for d in (load_device(s) for s in sources) if isinstance(d, NetworkDevice)]
    S = np.column_stack([d.predict_features(X, space) for d in devs]) if devs else None
    head = fit_head(X, S, y, space)
    # keep only the sources the head uses, so the device does not depend on the rest
    used = [devs[j].name for j in head["source_idx"]]
    head["source_idx"] = list(range(len(used)))
    kept = [d for d in devs if d.name in used]
    fitted = head_predict(
        head, X, np.column_stack([d.predict_features(X, space) for d in kept]) if used else None
    )
    prov = provenance(
        source="few-shot",
        method=f"few-shot adaptation from {len(y)} whole-network measurements in "
        f"{Path(measurements_csv).name}: "
        f"linear head '{head['choice']}' over other devices' predictions and architecture statistics, "
        "chosen by leave-one-out error",
        covers=f"{space} (same as its source devices)",
        accuracy={"fit_on_measurements": protocol_metrics(fitted, y), "loo_rel_rmse": head["loo_rel_rmse"]},
        sources=used,
    )
    digests = {d.name: model_digest(d.model) for d in kept}
    model = {"kind": MODEL_KIND, "sources": used, "head": head, "source_digests": digests}
    return save_device(FewShotDevice(name, [space], prov, model, resolve=load_device), out)
