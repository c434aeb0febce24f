"""Few-shot adaptation to a new device from 10-20 whole-network measurements (HELP's idea).

Latency rankings transfer well between devices, so the other devices' predictors are the prior:
a new device is a small linear head over (a) the source devices' predicted latencies and (b) a few
cheap architecture statistics (the space's `LatencyFeatures.stat_columns`: op counts for NB201,
MACs and resolution for OFA-MBv3), which makes exactly additive estimators (Eyeriss, FPGA)
learnable from 20 points. The head's inputs and strength are chosen by leave-one-out error on the
measurements themselves (`adapt.adapt` fits and writes one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from explorer.errors import ExplorerError, FormatError
from explorer.spaces.latency_support import latency_features

from .device import ConfigDevice, finite
from .network import NetworkDevice, model_digest

LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
MODEL_KIND = "fewshot"


def stat_columns(space: str) -> list[int]:
    """Feature indices of the architecture statistics a head may use."""
    return list(latency_features(space).stat_columns)


def _ridge_loo(Z: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float, float]:
    """Ridge with intercept on standardised Z; returns (w, b, LOO mean squared relative error)."""
    mu = Z.mean(0)
    sd = Z.std(0)
    sd = np.where(sd < 1e-12, 1.0, sd)
    Zs = (Z - mu) / sd
    ym = y.mean()
    A = Zs.T @ Zs + lam * np.eye(Z.shape[1])
    Ainv = np.linalg.inv(A)
    w = Ainv @ Zs.T @ (y - ym)
    H = Zs @ Ainv @ Zs.T + 1.0 / len(y)
    resid = y - (Zs @ w + ym)
    loo = resid / np.clip(1 - np.diag(H), 1e-6, None)
    wf = w / sd
    return wf, float(ym - mu @ wf), float(np.mean((loo / y) ** 2))


def fit_head(X: np.ndarray, S: np.ndarray | None, y: np.ndarray, space: str) -> dict:
    """Choose and fit the head with the lowest leave-one-out relative error."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 4:
        raise ExplorerError(f"few-shot adaptation needs at least 4 measurements, got {len(y)}")
    stats = stat_columns(space)
    n_src = 0 if S is None else S.shape[1]
    candidates: list[tuple[str, list[int], list[int]]] = [("stats", stats, [])]
    if n_src:
        candidates.append(("sources", [], list(range(n_src))))
        candidates.append(("sources+stats", stats, list(range(n_src))))
        candidates += [(f"source:{j}", [], [j]) for j in range(n_src)]
    best = None
    for name, xs, ss in candidates:
        Z = np.hstack([X[:, xs], S[:, ss] if ss else np.zeros((len(y), 0))])
        for lam in LAMBDAS if len(xs) + len(ss) > 1 else (1e-6,):
            w, b, err = _ridge_loo(Z, y, lam)
            if best is None or err < best[0]:
                best = (err, name, xs, ss, w, b, lam)
    err, name, xs, ss, w, b, lam = best
    return {
        "choice": name.split(":")[0],
        "stat_idx": xs,
        "source_idx": ss,
        "w_stats": [float(f"{v:.8g}") for v in w[: len(xs)]],
        "w_sources": [float(f"{v:.8g}") for v in w[len(xs) :]],
        "b": float(f"{b:.8g}"),
        "lambda": lam,
        "loo_rel_rmse": round(float(np.sqrt(err)), 5),
        "k": int(len(y)),
    }


def head_predict(head: dict, X: np.ndarray, S: np.ndarray | None) -> np.ndarray:
    out = np.full(len(X), float(head["b"]))
    if head["stat_idx"]:
        out += X[:, head["stat_idx"]] @ np.asarray(head["w_stats"])
    if head["source_idx"]:
        if S is None:
            raise ExplorerError("few-shot head needs its source devices' predictions")
        out += S[:, head["source_idx"]] @ np.asarray(head["w_sources"])
    return np.maximum(out, 1e-6)  # a latency is positive even where a linear head extrapolates


def _int_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)


def check_model(model: Mapping) -> dict:
    """Types and lengths of a few-shot model (see `fit_head`), so predict cannot crash; returns
    the head with its weights as floats."""
    for k in ("sources", "head"):
        if k not in model:
            raise FormatError(f"few-shot model lacks {k!r}")
    sources, head = model["sources"], model["head"]
    if not isinstance(sources, list) or not all(isinstance(n, str) for n in sources):
        raise FormatError("model.sources must be a list of device names")
    if not isinstance(head, Mapping):
        raise FormatError("model.head must be an object")
    if not finite(head.get("b")):
        raise FormatError("model.head.b must be a finite number")
    for idx, w in (("stat_idx", "w_stats"), ("source_idx", "w_sources")):
        if not _int_list(head.get(idx)):
            raise FormatError(f"model.head.{idx} must be a list of feature indices")
        if head[idx] and (
            not isinstance(head.get(w), list)
            or len(head[w]) != len(head[idx])
            or not all(finite(x) for x in head[w])
        ):
            raise FormatError(f"model.head.{w} must hold one finite number per entry of {idx}")
    if any(i >= len(sources) for i in head["source_idx"]):
        raise FormatError("model.head.source_idx refers to a source the device does not list")
    digests = model.get("source_digests")
    if digests is not None and (
        not isinstance(digests, Mapping) or not all(isinstance(v, str) for v in digests.values())
    ):
        raise FormatError("model.source_digests must map device names to digests")
    return dict(
        head,
        b=float(head["b"]),
        w_stats=[float(x) for x in head["w_stats"]] if head["stat_idx"] else [],
        w_sources=[float(x) for x in head["w_sources"]] if head["source_idx"] else [],
    )


class FewShotDevice(ConfigDevice):
    """A linear head over source devices' predictions and architecture statistics
    (``"kind": "network"`` with ``"model": {"kind": "fewshot", ...}``). `resolve(name)` loads a
    source device (the registry's `load_device`, cached by file mtime)."""

    kind = "network"
    method = "few-shot"

    def __init__(self, name, spaces, provenance, model: dict, path=None, resolve: Callable | None = None):
        super().__init__(name, spaces, provenance, path)
        self.model = dict(model)
        self.model["head"] = check_model(self.model)
        self._resolve = resolve

    @classmethod
    def claims(cls, d: Mapping) -> bool:
        model = d.get("model")
        return d.get("kind") == cls.kind and isinstance(model, Mapping) and model.get("kind") == MODEL_KIND

    @classmethod
    def from_json(cls, d: Mapping, path: Path | None = None, resolve=None) -> FewShotDevice:
        return cls(d["name"], d.get("spaces", []), d["provenance"], dict(d["model"]), path, resolve)

    def to_json(self) -> dict:
        return {**self.envelope(), "model": self.model}

    def sources(self) -> list:
        if self._resolve is None:
            raise ExplorerError(f"device {self.name!r} has no registry to load its source devices from")
        return [self._resolve(n) for n in self.model["sources"]]

    def predict(self, space: str, configs: Iterable) -> np.ndarray:
        space = self.check_space(space)
        return self.predict_features(latency_features(space).features(list(configs)), space)

    def predict_features(self, X: np.ndarray, space: str) -> np.ndarray:
        head = self.model["head"]
        if head["stat_idx"] and max(head["stat_idx"]) >= X.shape[1]:
            where = self.path or f"device {self.name!r}"
            raise FormatError(
                f"{where}: model.head.stat_idx uses feature {max(head['stat_idx'])}; {space} has {X.shape[1]}"
            )
        sources = self.sources()
        S = np.column_stack([s.predict_features(X, space) for s in sources]) if sources else None
        return head_predict(head, X, S)

    def stale_sources(self) -> list[str]:
        """Source devices whose model changed (or vanished) since the head was fitted on their
        old predictions. Empty for files written before source digests were recorded."""
        stale = []
        for name, digest in (self.model.get("source_digests") or {}).items():
            try:
                src = self._resolve(name) if self._resolve is not None else None
            except ExplorerError:
                src = None
            if not isinstance(src, NetworkDevice) or model_digest(src.model) != digest:
                stale.append(name)
        return stale
