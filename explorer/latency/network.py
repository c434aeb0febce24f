"""Network-wise devices: a predictor (`predictor.Predictor`) on the features of whole configs.

The features are the space's (`explorer.spaces.latency_support.latency_features`); a model saved
when its space had fewer feature columns reads the leading ones (features only grow by appending).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from explorer.errors import FormatError
from explorer.spaces.latency_support import latency_features

from .device import ConfigDevice
from .predictor import Predictor


def columns_for(X: np.ndarray, space: str, width: int) -> np.ndarray:
    """X cut to the columns an older model of `space` was trained on (unchanged otherwise)."""
    if X.ndim == 2 and width < X.shape[1] and width in latency_features(space).legacy_widths:
        return X[:, :width]
    return X


def model_digest(model: Mapping) -> str:
    """A short fingerprint of a network model, to notice when a device's predictor was replaced."""
    text = json.dumps(model, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class NetworkDevice(ConfigDevice):
    """A network-wise model on config features (``"kind": "network"``, any model but a few-shot head)."""

    kind = "network"
    method = "network"

    def __init__(self, name, spaces, provenance, model: dict, path=None):
        super().__init__(name, spaces, provenance, path)
        self.model = dict(model)
        self.predictor = Predictor(self.model)  # validates the weights now, not at first use

    @classmethod
    def claims(cls, d: Mapping) -> bool:
        model = d.get("model")
        return d.get("kind") == cls.kind and not (
            isinstance(model, Mapping) and model.get("kind") == "fewshot"
        )

    @classmethod
    def from_json(cls, d: Mapping, path: Path | None = None, resolve=None) -> NetworkDevice:
        model = d["model"]
        if not isinstance(model, Mapping):
            raise FormatError("'model' must be an object")
        return cls(d["name"], d.get("spaces", []), d["provenance"], dict(model), path)

    def to_json(self) -> dict:
        return {**self.envelope(), "model": self.model}

    def predict(self, space: str, configs: Iterable) -> np.ndarray:
        space = self.check_space(space)
        return self.predict_features(latency_features(space).features(list(configs)), space)

    def predict_features(self, X: np.ndarray, space: str) -> np.ndarray:
        return self.predictor.predict(columns_for(X, space, self.predictor.n_features))
