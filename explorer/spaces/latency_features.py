"""The base of a space family's latency features (see `latency_support` for how they are found)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..errors import ExplorerError


class LatencyFeatures:
    """A space family's side of network-wise latency prediction (one instance per family)."""

    family: str = ""
    n_features: int = 0
    config_columns: tuple[str, ...] = ()  # the columns a CSV of configs of this family holds
    stat_columns: tuple[int, ...] = ()  # cheap architecture statistics a few-shot head may use
    views: Mapping[str, Sequence[int]] = {}  # named column subsets a predictor may be fitted on
    # features only ever grow by appending: widths older models were trained on read the leading ones
    legacy_widths: tuple[int, ...] = ()

    def normalise(self, config) -> dict:
        """The config in the space's own form (CSV strings parsed); ExplorerError when it is not one."""
        raise NotImplementedError

    def row_features(self, config) -> np.ndarray:
        raise NotImplementedError

    def features(self, configs: Iterable) -> np.ndarray:
        """One row of `n_features` per config."""
        rows = [self.row_features(c) for c in configs]
        return np.vstack(rows) if rows else np.zeros((0, self.n_features))

    def configs_from_rows(self, rows: Sequence[Mapping], where) -> list:
        """Configs from CSV rows holding `config_columns`."""
        missing = [c for c in self.config_columns if rows and c not in rows[0]]
        if missing:
            need = ", ".join(self.config_columns)
            raise ExplorerError(f"{where}: {self.family} rows need columns {need} (missing {missing})")
        return [self.config_of_row(r) for r in rows]

    def config_of_row(self, row: Mapping):
        return {c: row[c] for c in self.config_columns}

    def coverage_configs(self, space, resolutions: Sequence[int] | None = None) -> list[dict]:
        """Configs whose graphs together hold every LUT key of `space`."""
        raise ExplorerError(f"no coverage rule for space {space.name!r}; profile sampled nets instead")
