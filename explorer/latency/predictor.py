"""Network-wise latency predictors: trained with torch, stored as plain JSON, run with numpy.

Models (all on the features a space gives, `explorer.spaces.latency_support`):

- ``hat``: HAT's MLP (3 hidden layers of 400, ReLU) on standardised features and latency — the
  anchor baseline.
- ``additive-mlp``: a ridge regression on the features (an additive per-edge / per-block cost
  table, which is exact for estimated devices such as Eyeriss and FPGA) plus a small ensemble of
  MLPs fitted to its residual; the residual weight (0, 0.5 or 1) is chosen on validation nets.
  Fitted by least squares or for the median (robust to outlying measurements), on all features or
  on a view of them, whichever validates better (``loss="auto"``). It beats ``hat`` on the public
  devices compared and is 10x smaller.
- ``ridge``: the additive table alone (used by few-shot heads).

A model is a dict of lists of floats (no pickles); `Predictor` evaluates it in numpy so a batch
of 1000 architectures costs well under a millisecond each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import numpy as np

from explorer.errors import FormatError

MODEL_KINDS = ("additive-mlp", "hat", "ridge")


def _r(a, digits: int = 6) -> list:
    """Round to ~`digits` significant digits so device files stay small and readable."""
    arr = np.asarray(a, dtype=np.float64)
    out = np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(arr) if arr.size else arr
    return out.tolist()


# ----------------------------------------------------------------------------------------- fitting
def fit_ridge(X: np.ndarray, y: np.ndarray, lam: float = 0.1, loss: str = "l2", iters: int = 30) -> dict:
    """Ridge on standardised columns (constant columns are left out).

    ``loss="l1"`` fits the conditional *median* instead of the mean, by iteratively reweighted
    least squares: measured latency columns carry rare outliers (a phone that throttled, a run
    under foreign load) that pull a least-squares table off for every other net.
    """
    mu = X.mean(0)
    sd = X.std(0)
    sd = np.where(sd < 1e-9, 1.0, sd)
    Xs = (X - mu) / sd
    wts = np.ones(len(y))
    eps = 1e-4 * float(np.std(y) or 1.0)
    for _ in range(iters if loss == "l1" else 1):
        wn = wts / wts.sum()
        xm, ym = wn @ Xs, float(wn @ y)
        Xc = Xs - xm
        A = Xc.T @ (Xc * wts[:, None]) + lam * np.eye(X.shape[1])
        w = np.linalg.solve(A, Xc.T @ (wts * (y - ym)))
        wts = 1.0 / np.maximum(np.abs(y - ym - Xc @ w), eps)
    # fold the standardisation into the weights: y = X @ (w / sd) + (ym - (mu + xm * sd) @ (w / sd))
    wf = w / sd
    b = ym - float((mu + xm * sd) @ wf)
    return {"type": "linear", "w": _r(wf, 8), "b": float(f"{b:.8g}")}


@contextlib.contextmanager
def _one_thread(torch):
    """Small MLPs train fastest on one thread, and OpenMP spin-waits badly on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit_mlp(
    X: np.ndarray,
    y: np.ndarray,
    hidden: int = 400,
    layers: int = 3,
    steps: int = 1000,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch: int = 128,
    seed: int = 0,
) -> dict:
    """Train an MLP (Adam, cosine schedule, minibatches) on standardised inputs and target."""
    import torch  # training only; inference is numpy

    with _one_thread(torch):
        return _fit_mlp(torch, X, y, hidden, layers, steps, lr, weight_decay, batch, seed)


def _standardised(torch, X, y):
    """Feature and target standardisation shared by the MLP fits (constant features keep sd 1)."""
    mu = X.mean(0)
    sd = X.std(0)
    sd = np.where(sd < 1e-9, 1.0, sd)
    ym, ys = float(y.mean()), float(y.std() or 1.0)
    Xt = torch.tensor((X - mu) / sd, dtype=torch.float32)
    yt = torch.tensor((y - ym) / ys, dtype=torch.float32)
    return mu, sd, ym, ys, Xt, yt


def _fit_mlp(torch, X, y, hidden, layers, steps, lr, weight_decay, batch, seed) -> dict:

    gen = torch.Generator().manual_seed(seed)
    mu, sd, ym, ys, Xt, yt = _standardised(torch, X, y)
    dims = [X.shape[1]] + [hidden] * layers + [1]
    lins = []
    for a, b in zip(dims[:-1], dims[1:]):
        lin = torch.nn.Linear(a, b)
        bound = 1.0 / a**0.5
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.uniform_(-bound, bound, generator=gen)
        lins.append(lin)
    mods: list[torch.nn.Module] = []
    for lin in lins[:-1]:
        mods += [lin, torch.nn.ReLU()]
    net = torch.nn.Sequential(*mods, lins[-1])
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    n = len(X)
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch, n),), generator=gen)
        loss = ((net(Xt[idx]).squeeze(-1) - yt[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return {
        "type": "mlp",
        "x_mean": _r(mu),
        "x_std": _r(sd),
        "y_mean": ym,
        "y_std": ys,
        "layers": [
            {"W": _r(lin.weight.detach().numpy().T), "b": _r(lin.bias.detach().numpy())} for lin in lins
        ],
    }


def fit_mlp_ensemble(
    X: np.ndarray,
    y: np.ndarray,
    members: int = 3,
    hidden: int = 64,
    layers: int = 2,
    steps: int = 800,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch: int = 128,
    seed: int = 0,
    loss: str = "l2",
) -> list[dict]:
    """Train `members` MLPs at once as batched matmuls (one Python loop instead of `members`).

    ``loss="l1"`` regresses the median (robust to outlying measurements), ``"l2"`` the mean.
    """
    import torch

    with _one_thread(torch):
        return _fit_ensemble(torch, X, y, members, hidden, layers, steps, lr, weight_decay, batch, seed, loss)


def _fit_ensemble(
    torch, X, y, members, hidden, layers, steps, lr, weight_decay, batch, seed, loss
) -> list[dict]:

    gen = torch.Generator().manual_seed(seed)
    mu, sd, ym, ys, Xt, yt = _standardised(torch, X, y)
    dims = [X.shape[1]] + [hidden] * layers + [1]
    params = []
    for a, b in zip(dims[:-1], dims[1:]):
        bound = 1.0 / a**0.5
        W = (torch.rand(members, a, b, generator=gen) * 2 - 1) * bound
        B = (torch.rand(members, 1, b, generator=gen) * 2 - 1) * bound
        params += [W.requires_grad_(), B.requires_grad_()]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    n = len(X)
    m = min(batch, n)
    for _ in range(steps):
        idx = torch.randint(0, n, (members, m), generator=gen)
        h = Xt[idx]
        for i in range(0, len(params), 2):
            h = torch.baddbmm(params[i + 1], h, params[i])
            if i < len(params) - 2:
                h = torch.relu(h)
        err = h.squeeze(-1) - yt[idx]
        objective = err.abs().mean() if loss == "l1" else (err**2).mean()
        opt.zero_grad()
        objective.backward()
        opt.step()
        sched.step()
    out = []
    for k in range(members):
        lay = [
            {"W": _r(params[i][k].detach().numpy()), "b": _r(params[i + 1][k, 0].detach().numpy())}
            for i in range(0, len(params), 2)
        ]
        out.append(
            {"type": "mlp", "x_mean": _r(mu), "x_std": _r(sd), "y_mean": ym, "y_std": ys, "layers": lay}
        )
    return out


# -------------------------------------------------------------------------------------- inference
def _eval_part(part: Mapping, X: np.ndarray) -> np.ndarray:
    kind = part.get("type")
    if kind == "linear":
        return X @ np.asarray(part["w"], dtype=np.float64) + float(part["b"])
    if kind == "mlp":
        h = (X - np.asarray(part["x_mean"])) / np.asarray(part["x_std"])
        layers = part["layers"]
        for i, layer in enumerate(layers):
            h = h @ np.asarray(layer["W"], dtype=np.float64) + np.asarray(layer["b"], dtype=np.float64)
            if i < len(layers) - 1:
                np.maximum(h, 0.0, out=h)
        return h[:, 0] * float(part["y_std"]) + float(part["y_mean"])
    raise FormatError(f"unknown predictor part type {kind!r}")


def _array(v, field: str, ndim: int) -> np.ndarray:
    """`v` as a finite float array of `ndim` dimensions; FormatError naming `field` otherwise."""
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise FormatError(f"{field} is not an array of numbers") from None
    if a.ndim != ndim:
        raise FormatError(f"{field} must be a {ndim}-d array of numbers, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise FormatError(f"{field} holds non-finite numbers")
    return a


def _number(v, field: str) -> float:
    try:
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and bool(np.isfinite(float(v)))
    except OverflowError:  # an integer beyond float range
        ok = False
    if not ok:
        raise FormatError(f"{field} must be a finite number, got {str(v)[:40]!r}")
    return float(v)


def _shape_is(a: np.ndarray, shape: tuple, field: str) -> None:
    if a.shape != shape:
        raise FormatError(f"{field} has shape {a.shape}, expected {shape}")


class Predictor:
    """A network-wise model loaded from its JSON dict; `predict(X)` -> latency in ms.

    Every array is checked on load (shapes chain from `n_features` to one output, numbers are
    finite), so a damaged device file fails there, naming the field, not in a matmul later."""

    def __init__(self, model: Mapping):
        if not isinstance(model, Mapping) or model.get("kind") not in MODEL_KINDS:
            raise FormatError(f"predictor kind must be one of {list(MODEL_KINDS)}")
        try:
            self.kind = model["kind"]
            n = model["n_features"]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise FormatError(f"model.n_features must be a positive integer, got {str(n)[:40]!r}")
            self.n_features = n
            if not isinstance(model["parts"], list) or not isinstance(model["weights"], list):
                raise FormatError("model.parts and model.weights must be lists")
            self.parts = list(model["parts"])
            self.weights = [_number(w, f"model.weights[{i}]") for i, w in enumerate(model["weights"])]
            self.log_target = bool(model.get("log_target", False))
            # materialise the arrays once, so predict is only matmuls
            self._parts = [self._materialise(p, n, f"model.parts[{i}]") for i, p in enumerate(self.parts)]
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as e:
            raise FormatError(
                f"predictor model is incomplete or malformed ({type(e).__name__}: {str(e)[:120]})"
            ) from None
        if len(self.weights) != len(self.parts):
            raise FormatError("predictor model: 'weights' and 'parts' differ in length")
        self.model = dict(model)

    @staticmethod
    def _materialise(p: Mapping, n: int, where: str = "part") -> dict:
        if not isinstance(p, Mapping):
            raise FormatError(f"{where} is not an object")
        if p.get("type") == "linear":
            w = _array(p["w"], f"{where}.w", 1)
            _shape_is(w, (n,), f"{where}.w")
            return {"type": "linear", "w": w, "b": _number(p["b"], f"{where}.b")}
        if p.get("type") == "mlp":
            if not isinstance(p["layers"], list) or not p["layers"]:
                raise FormatError(f"{where}.layers must be a non-empty list")
            layers, width = [], n
            for i, layer in enumerate(p["layers"]):
                f = f"{where}.layers[{i}]"
                if not isinstance(layer, Mapping):
                    raise FormatError(f"{f} is not an object")
                W, b = _array(layer["W"], f"{f}.W", 2), _array(layer["b"], f"{f}.b", 1)
                if W.shape[0] != width:
                    raise FormatError(f"{f}.W has shape {W.shape}, expected ({width}, ...)")
                _shape_is(b, (W.shape[1],), f"{f}.b")
                layers.append({"W": W, "b": b})
                width = W.shape[1]
            if width != 1:
                raise FormatError(f"{where}.layers: the last layer has {width} outputs, expected 1")
            x_mean, x_std = _array(p["x_mean"], f"{where}.x_mean", 1), _array(p["x_std"], f"{where}.x_std", 1)
            _shape_is(x_mean, (n,), f"{where}.x_mean")
            _shape_is(x_std, (n,), f"{where}.x_std")
            if (x_std == 0).any():
                raise FormatError(f"{where}.x_std holds zeros")
            return {
                "type": "mlp",
                "x_mean": x_mean,
                "x_std": x_std,
                "y_mean": _number(p["y_mean"], f"{where}.y_mean"),
                "y_std": _number(p["y_std"], f"{where}.y_std"),
                "layers": layers,
            }
        raise FormatError(f"{where}: unknown part type {str(p.get('type'))[:40]!r}")

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.n_features:
            raise FormatError(f"predictor expects {self.n_features} features, got {X.shape[1]}")
        out = np.zeros(len(X))
        with np.errstate(over="ignore", invalid="ignore"):  # absurd weights: refused below
            for w, p in zip(self.weights, self._parts):
                if w:
                    out += w * _eval_part(p, X)
            out = np.exp(out) if self.log_target else out
            # 0.1 us resolution: float noise must not break the exact ties of estimated devices; a
            # latency is positive even where a fit extrapolates below zero (constant-folded cells)
            out = np.maximum(np.round(out, 4), 1e-4)
        if not np.isfinite(out).all():
            raise FormatError("predictor gives a non-finite latency: its model weights are damaged")
        return out

    def to_json(self) -> dict:
        return dict(self.model)


# ------------------------------------------------------------------------------------- training
def train(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    members: int = 3,
    hidden: int = 64,
    steps: int = 800,
    target: str = "ms",
    loss: str = "l2",
    views: Mapping[str, list[int]] | None = None,
) -> Predictor:
    """Fit one model kind on (X, y ms); `val` picks the residual weight of ``additive-mlp``.

    ``target="log"`` fits log-latency, so errors count relative to the net's own latency;
    ``loss="l1"`` fits medians, robust to outlying measurements (phones, throttling, runs under
    foreign load); ``loss="auto"`` fits both and keeps the one with the lower mean relative error
    on the validation nets (smoother than their share within +-10 %, which it tracks), also trying
    each of `views` (named subsets of the feature columns, e.g. what a pruning runtime executes).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if loss == "auto":
        return _train_auto(kind, X, y, val, seed, members, hidden, steps, target, views)
    if target not in ("ms", "log") or loss not in ("l2", "l1"):
        raise FormatError(f"unknown target {target!r} or loss {loss!r}")
    log = target == "log"
    t = np.log(y) if log else y
    if kind == "hat":
        part = fit_mlp(X, t, hidden=400, layers=3, steps=max(steps, 1000), seed=seed)
        parts, weights = [part], [1.0]
    elif kind == "ridge":
        parts, weights = [fit_ridge(X, t, 0.1, loss=loss)], [1.0]
    elif kind == "additive-mlp":
        lin = fit_ridge(X, t, 0.1, loss=loss)
        resid = t - _eval_part(lin, X)
        mlps = fit_mlp_ensemble(X, resid, members=members, hidden=hidden, steps=steps, seed=seed, loss=loss)
        alpha = 0.5
        if val is not None and len(val[1]):
            Xv, yv = np.asarray(val[0], dtype=np.float64), np.asarray(val[1], dtype=np.float64)
            tv = np.log(yv) if log else yv
            base = _eval_part(lin, Xv)
            res = np.mean([_eval_part(p, Xv) for p in mlps], 0)
            power = 1 if loss == "l1" else 2
            errs = {a: float(np.mean(np.abs(base + a * res - tv) ** power)) for a in (0.0, 0.5, 1.0)}
            alpha = min(errs, key=errs.get)
        if alpha == 0.0:
            mlps = []
        parts = [lin, *mlps]
        weights = [1.0] + [alpha / max(1, len(mlps))] * len(mlps)
    else:
        raise FormatError(f"unknown predictor kind {kind!r}; expected one of {list(MODEL_KINDS)}")
    model = {"kind": kind, "n_features": X.shape[1], "parts": parts, "weights": weights, "log_target": log}
    if loss != "l2":
        model["loss"] = loss
    return Predictor(model)


def _expand(part: dict, cols: list[int], n: int) -> dict:
    """A part fitted on X[:, cols] as a part on all n columns (zero weight on the others)."""
    out = dict(part)
    if part["type"] == "linear":
        w = np.zeros(n)
        w[cols] = part["w"]
        out["w"] = w.tolist()
        return out
    mean, std = np.zeros(n), np.ones(n)
    mean[cols], std[cols] = part["x_mean"], part["x_std"]
    first = dict(part["layers"][0])
    W = np.zeros((n, len(first["b"])))
    W[cols] = np.asarray(first["W"])
    first["W"] = W.tolist()
    out.update(x_mean=mean.tolist(), x_std=std.tolist(), layers=[first, *part["layers"][1:]])
    return out


def train_view(kind: str, X: np.ndarray, y: np.ndarray, cols: list[int], val=None, **kw) -> Predictor:
    """Fit on the feature columns `cols` only; the model still takes all of X's columns."""
    Xv = None if val is None else (np.asarray(val[0])[:, cols], val[1])
    p = train(kind, np.asarray(X)[:, cols], y, Xv, **kw)
    n = np.asarray(X).shape[1]
    model = dict(p.model, n_features=n, parts=[_expand(q, cols, n) for q in p.model["parts"]])
    return Predictor(model)


def _train_auto(kind, X, y, val, seed, members, hidden, steps, target, views=None) -> Predictor:
    """Fit with both losses (and on each feature view) and keep what validates best (needs `val`)."""
    kw = dict(seed=seed, members=members, hidden=hidden, steps=steps, target=target)
    fits = [train(kind, X, y, val, loss=loss, **kw) for loss in ("l2", "l1")]
    for cols in (views or {}).values():
        fits += [train_view(kind, X, y, cols, val, loss=loss, **kw) for loss in ("l2", "l1")]
    if val is None or not len(val[1]):
        return fits[0]
    Xv, yv = np.asarray(val[0], dtype=np.float64), np.asarray(val[1], dtype=np.float64)

    def relative_error(p: Predictor) -> float:
        return float(np.mean(np.abs(p.predict(Xv) - yv) / np.abs(yv)))

    return min(fits, key=relative_error)  # min keeps the first (least squares, all columns) on a tie


def as_predictor(model: Mapping | Predictor) -> Predictor:
    return model if isinstance(model, Predictor) else Predictor(model)


def stack_predictions(predictors: Sequence[Predictor], X: np.ndarray) -> np.ndarray:
    """Columns = each predictor's prediction for X (used as features by few-shot heads)."""
    return np.column_stack([p.predict(X) for p in predictors]) if predictors else np.zeros((len(X), 0))
