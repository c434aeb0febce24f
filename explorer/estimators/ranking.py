"""How well each estimator ranks architectures: Spearman rho against benchmark accuracies, and the
stored table the app shows next to the estimator choice (written by benchmarks/estimator_ranking.py)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from ..data import NB201_CSV
from ..spaces.nb201 import NB201
from ._common import EstimatorError

REPO = Path(__file__).resolve().parents[2]
# the space whose cells the one-shot and SMASH estimators score, and the only one ranked so far
CELL_SPACE = NB201.name
RANKING_FILES = {CELL_SPACE: REPO / "resources" / "estimator_ranking_nb201.json"}

# what the metrics panel offers; "needs" says what must exist before the estimator can score
ESTIMATORS = (
    {"key": "params", "label": "#params", "kind": "count", "spaces": "any", "needs": "nothing"},
    {"key": "zen", "label": "Zen-Score", "kind": "zero-shot", "spaces": "any", "needs": "nothing"},
    {
        "key": "gradsign",
        "label": "GradSign",
        "kind": "zero-shot",
        "spaces": "any",
        "needs": "a labelled batch",
    },
    {
        "key": "oneshot",
        "label": "One-shot (weight sharing)",
        "kind": "inherited weights",
        "spaces": CELL_SPACE,
        "needs": "a trained one-shot supernet checkpoint",
    },
    {
        "key": "smash",
        "label": "SMASH (hypernetwork)",
        "kind": "generated weights",
        "spaces": CELL_SPACE,
        "needs": "a trained SMASH checkpoint",
    },
    {
        "key": "eas",
        "label": "EAS / Net2Net (grow + fine-tune)",
        "kind": "inherited weights + fine-tuning",
        "spaces": "any graph with a conv or linear layer to grow",
        "needs": "a parent (trained briefly on the CIFAR sample when it has no weights)",
    },
)


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""
    from ..rankcorr import spearman as rho_of

    if len(x) != len(y) or len(x) < 3:
        raise EstimatorError(f"Spearman needs two lists of equal length >= 3, got {len(x)} and {len(y)}")
    if len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    rho = rho_of(x, y)
    return float(rho) if rho is not None and math.isfinite(rho) else math.nan


def nb201_accuracies(
    path: str | Path | None = None, column: str = "cifar10_test_trainval"
) -> dict[str, float]:
    """arch_str -> accuracy (percent) for all 15,625 NB201 cells, from ../shared/data/nb201."""
    p = Path(path) if path else NB201_CSV
    if not p.is_file():
        raise EstimatorError(f"{p}: NAS-Bench-201 accuracy table not found")
    with open(p, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        if column not in (rows.fieldnames or []):
            raise EstimatorError(f"{p}: no column {column!r}")
        return {r["arch_str"]: float(r[column]) for r in rows}


def load_ranking(space: str = CELL_SPACE, path: str | Path | None = None) -> dict | None:
    """The stored ranking table for a space ({"rows": [{"estimator", "spearman", ...}], "budget", ...}),
    or None when none has been measured."""
    p = Path(path) if path else RANKING_FILES.get(space)
    if p is None or not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise EstimatorError(f"{p}: unreadable ranking table ({e})") from None
